/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpffs.c - pin directories on a bpf filesystem (bpffs.h).
 *
 * A pin made anywhere else fails with a bare ENOENT or EPERM from sysfs,
 * which says nothing to an operator; systemd mounts bpffs at boot, but a
 * minimal host or a container may not, and a load balancer that cannot pin
 * loses hitless restarts. So the default location is mounted when empty
 * (cilium-agent does the same) and any other location is checked first.
 */
#define LB_LOG_PREFIX "bpffs: "

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <linux/magic.h>

#include "bpffs.h"
#include "log.h"

static int on_bpffs(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
}

static int under_default(const char *dir)
{
	size_t n = strlen(LB_BPFFS_DEFAULT);

	return strncmp(dir, LB_BPFFS_DEFAULT, n) == 0 && (dir[n] == '/' || dir[n] == '\0');
}

static int mount_default(void)
{
	if (on_bpffs(LB_BPFFS_DEFAULT))
		return 0;
	if (mount("bpf", LB_BPFFS_DEFAULT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700")) {
		int err = -errno;

		pr_warn("no bpf filesystem at %s and mounting one failed: %s "
			"(mount -t bpf bpf %s)\n", LB_BPFFS_DEFAULT, strerror(-err),
			LB_BPFFS_DEFAULT);
		return err;
	}
	pr_info("mounted a bpf filesystem at %s\n", LB_BPFFS_DEFAULT);
	return 0;
}

/* The file system that would hold DIR: that of its nearest existing
 * ancestor. path is DIR's copy and is cut in place. */
static int ancestor_on_bpffs(char *path)
{
	struct stat st;
	char *slash;

	while (stat(path, &st) != 0) {
		slash = strrchr(path, '/');
		if (!slash)
			return on_bpffs(".");
		if (slash == path)
			return on_bpffs("/");
		*slash = '\0';
	}
	return on_bpffs(path);
}

static int mkdir_p(char *path)
{
	char *s;

	for (s = path + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		*s = c;
		if (c == '\0')
			return 0;
	}
}

int lb_bpffs_mkdir(const char *dir)
{
	char path[PATH_MAX];
	size_t len = dir ? strlen(dir) : 0;
	int err;

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	if (under_default(dir)) {
		err = mount_default();
		if (err)
			return err;
	}
	memcpy(path, dir, len + 1);
	if (!ancestor_on_bpffs(path)) {
		pr_warn("%s is not on a bpf filesystem, so nothing can be pinned there "
			"(mount -t bpf bpf DIR, or a directory under %s)\n", dir,
			LB_BPFFS_DEFAULT);
		return -ENOTSUP;
	}
	memcpy(path, dir, len + 1);
	err = mkdir_p(path);
	if (err)
		pr_warn("creating %s: %s\n", dir, strerror(-err));
	return err;
}
