/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpffs.h - the directories pins live in, on a bpf filesystem.
 *
 * Threads: any; the functions keep no state.
 */
#ifndef SLUICE_XDP_BPFFS_H
#define SLUICE_XDP_BPFFS_H

/* Where systemd mounts the bpf filesystem at boot, and where Sluice's
 * default pin roots live. */
#define LB_BPFFS_DEFAULT "/sys/fs/bpf"

/*
 * mkdir -p DIR (mode 0700) on a bpf filesystem; an existing directory is
 * fine. When DIR lies under LB_BPFFS_DEFAULT and nothing is mounted there
 * (a host or container without systemd's mount), mounts bpffs there first,
 * as systemd would at boot. Logs once and returns:
 *   0              DIR exists on bpffs
 *   -ENOTSUP       DIR's nearest existing ancestor is on another file
 *                  system: a pin there would not outlive the process
 *   -ENAMETOOLONG  DIR empty or longer than PATH_MAX
 *   -errno         of mount(2) or mkdir(2)
 */
int lb_bpffs_mkdir(const char *dir);

#endif /* SLUICE_XDP_BPFFS_H */
