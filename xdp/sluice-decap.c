/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-decap - command line over decap_loader.h for backend hosts (and
 * the netns lab): attaches decap.bpf.c to an interface and pins it so it
 * stays after the command exits.
 *
 *   sluice-decap attach IF --addr A [A...] [--generic] [--pin-dir DIR]
 *   sluice-decap detach IF [--pin-dir DIR]
 *   sluice-decap stats IF [--pin-dir DIR]
 *   sluice-decap pass-attach IF     trivial XDP_PASS program (native mode)
 *   sluice-decap pass-detach IF
 *
 * The pins live in DIR (default /sys/fs/bpf/sluice-decap/IF): "prog",
 * "link", decap_addrs and decap_stats. The link pin keeps the attachment;
 * detach removes the pins, which releases it. attach on an interface
 * that is already attached (pins present) only adds the addresses:
 * running it twice is harmless.
 *
 * pass-attach exists for veth labs: a frame sent with XDP_TX or a redirect
 * out of a veth only reaches the peer if the peer runs an XDP program
 * (docs/architecture.md, "The lab"). It is attached through netlink (no
 * pin needed) and goes away with the interface or pass-detach.
 *
 *   sluice-decap --help | --version
 *
 * Exit status: 0 done, 1 failed, 2 bad command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "decap_loader.h"
#include "fwd.h"

#define DEFAULT_PIN_ROOT "/sys/fs/bpf/sluice-decap"

static const char *const reason_names[LB_DECAP_R_MAX] = LB_DECAP_REASON_NAMES;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-decap attach IF --addr A [A...] [--generic] [--pin-dir DIR]\n"
		"       sluice-decap detach IF [--pin-dir DIR]\n"
		"       sluice-decap stats IF [--pin-dir DIR]\n"
		"       sluice-decap pass-attach IF | pass-detach IF\n"
		"       sluice-decap --help | --version\n"
		"\n"
		"attach       load decap.bpf.c, decapsulate IP-in-IP sent to the addresses A\n"
		"             (IPv4 or IPv6; --addr may repeat), attach it to IF in native\n"
		"             mode (--generic: skb mode) and pin it under DIR, default\n"
		"             " DEFAULT_PIN_ROOT "/IF. Already attached: adds the addresses.\n"
		"detach       remove the pins under DIR, which detaches the program.\n"
		"stats        print the program's counters by reason and its addresses.\n"
		"pass-attach  attach a trivial XDP_PASS program to IF (the peer of a veth\n"
		"             that sends with XDP_TX or redirect needs one).\n"
		"pass-detach  remove the XDP program attached through netlink from IF.\n"
		"\n"
		"Exit status: 0 done, 1 failed, 2 bad command line.\n");
}

static int parse_addr(const char *s, __u8 *family, struct lb_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->w[0]) == 1) {
		*family = LB_FAMILY_V4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->w) == 1) {
		*family = LB_FAMILY_V6;
		return 0;
	}
	return -EINVAL;
}

static void pin_dir(char *buf, size_t len, const char *dir, const char *ifname)
{
	if (dir)
		snprintf(buf, len, "%s", dir);
	else
		snprintf(buf, len, "%s/%s", DEFAULT_PIN_ROOT, ifname);
}

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	return snprintf(buf, len, "%s/%s", dir, name) >= (int)len ? -ENAMETOOLONG : 0;
}

/* Adds the addresses to an already pinned decap_addrs map. */
static int add_to_pinned(const char *dir, int naddrs, __u8 *fam, struct lb_addr *addrs)
{
	char path[PATH_MAX];
	__u32 one = 1;
	int fd, i;

	if (pin_path(path, sizeof(path), dir, LB_MAP_DECAP_ADDRS))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fprintf(stderr, "sluice-decap: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (i = 0; i < naddrs; i++) {
		struct lb_decap_key k = { .addr = addrs[i], .family = fam[i] };

		if (bpf_map_update_elem(fd, &k, &one, BPF_ANY)) {
			int err = -errno;

			fprintf(stderr, "sluice-decap: adding an address: %s\n", strerror(-err));
			close(fd);
			return err;
		}
	}
	close(fd);
	return 0;
}

static int cmd_attach(const char *ifname, const char *dir, int generic, int naddrs,
		      __u8 *fam, struct lb_addr *addrs)
{
	char path[PATH_MAX];
	struct lb_decap *d;
	struct stat st;
	int ifindex, i, err;

	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "sluice-decap: %s: no such interface\n", ifname);
		return 1;
	}
	if (pin_path(path, sizeof(path), dir, "link"))
		return 1;
	if (stat(path, &st) == 0) {
		if (add_to_pinned(dir, naddrs, fam, addrs))
			return 1;
		printf("%s: already attached (pins in %s); addresses added\n", ifname, dir);
		return 0;
	}
	d = lb_decap_open();
	if (!d)
		return 1;
	for (i = 0; i < naddrs; i++) {
		err = lb_decap_add_addr(d, fam[i], &addrs[i]);
		if (err)
			goto fail;
	}
	err = lb_decap_attach(d, ifindex, generic ? LB_DECAP_ATTACH_GENERIC : 0);
	if (err)
		goto fail;
	err = lb_decap_pin(d, dir);
	if (err)
		goto fail;
	lb_decap_close(d);	/* the pinned link keeps the attachment */
	printf("%s: decap attached (%s mode), pinned in %s\n", ifname,
	       generic ? "generic" : "native", dir);
	return 0;
fail:
	lb_decap_close(d);
	return 1;
}

static int cmd_detach(const char *ifname, const char *dir)
{
	static const char *const names[] = { "link", "prog", LB_MAP_DECAP_ADDRS,
					     LB_MAP_DECAP_STATS };
	char path[PATH_MAX];
	int i, removed = 0, rc = 0;

	for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (pin_path(path, sizeof(path), dir, names[i]))
			return 1;
		if (unlink(path) == 0)
			removed++;
		else if (errno != ENOENT) {
			fprintf(stderr, "sluice-decap: %s: %s\n", path, strerror(errno));
			rc = 1;
		}
	}
	if (rmdir(dir) && errno != ENOENT && errno != ENOTEMPTY) {
		fprintf(stderr, "sluice-decap: %s: %s\n", dir, strerror(errno));
		rc = 1;
	}
	if (!strncmp(dir, DEFAULT_PIN_ROOT "/", sizeof(DEFAULT_PIN_ROOT)))
		rmdir(DEFAULT_PIN_ROOT);	/* only if it is empty now */
	if (!rc)
		printf("%s: %s\n", ifname, removed ? "decap detached" : "was not attached");
	return rc;
}

static int cmd_stats(const char *ifname, const char *dir)
{
	struct lb_decap_key k, next, *prev = NULL;
	struct lb_reason_stats *v;
	char path[PATH_MAX], buf[INET6_ADDRSTRLEN];
	int fd, ncpu, cpu;
	__u32 r;

	if (pin_path(path, sizeof(path), dir, LB_MAP_DECAP_STATS))
		return 1;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fprintf(stderr, "sluice-decap: %s: %s (not attached?)\n", path, strerror(errno));
		return 1;
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0) {
		close(fd);
		return 1;
	}
	v = calloc(ncpu, sizeof(*v));
	if (!v) {
		close(fd);
		return 1;
	}
	printf("%s (%s)\n", ifname, dir);
	for (r = 0; r < LB_DECAP_R_MAX; r++) {
		__u64 pk = 0, by = 0;

		if (bpf_map_lookup_elem(fd, &r, v)) {
			fprintf(stderr, "sluice-decap: reason %u: %s\n", r, strerror(errno));
			free(v);
			close(fd);
			return 1;
		}
		for (cpu = 0; cpu < ncpu; cpu++) {
			pk += v[cpu].packets;
			by += v[cpu].bytes;
		}
		printf("  %-16s %12llu packets %14llu bytes\n", reason_names[r],
		       (unsigned long long)pk, (unsigned long long)by);
	}
	free(v);
	close(fd);

	if (pin_path(path, sizeof(path), dir, LB_MAP_DECAP_ADDRS))
		return 1;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 1;
	printf("  addresses:");
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		inet_ntop(k.family == LB_FAMILY_V4 ? AF_INET : AF_INET6, k.addr.w, buf,
			  sizeof(buf));
		printf(" %s", buf);
	}
	printf("\n");
	close(fd);
	return 0;
}

static int cmd_pass(const char *ifname, int attach)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int ifindex, fd;

	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "sluice-decap: %s: no such interface\n", ifname);
		return 1;
	}
	if (!attach) {
		if (bpf_xdp_detach(ifindex, 0, NULL)) {
			fprintf(stderr, "sluice-decap: %s: detach: %s\n", ifname, strerror(errno));
			return 1;
		}
		printf("%s: XDP program detached\n", ifname);
		return 0;
	}
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdp_pass", "GPL", insns, 2, NULL);
	if (fd < 0) {
		fprintf(stderr, "sluice-decap: loading xdp_pass: %s\n", strerror(errno));
		return 1;
	}
	/* Replaces a program attached through netlink (idempotent), fails
	 * with EBUSY if a bpf_link holds the interface. */
	if (bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL)) {
		fprintf(stderr, "sluice-decap: %s: attach xdp_pass (native): %s\n", ifname,
			strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	printf("%s: xdp_pass attached (native mode)\n", ifname);
	return 0;
}

#define COMMANDS "attach, detach, stats, pass-attach, pass-detach"

static int known_command(const char *w)
{
	static const char *const names[] = { "attach", "detach", "stats", "pass-attach",
					     "pass-detach" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(w, names[i]))
			return 1;
	return 0;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd, *ifname, *dir_opt = NULL;
	struct lb_addr addrs[64];
	__u8 fam[64];
	char dir[PATH_MAX];
	int naddrs = 0, generic = 0, i;

	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("sluice-decap %s\n", SLUICE_VERSION);
		return 0;
	}
	if (argc >= 2 && argv[1][0] != '-' && !known_command(argv[1])) {
		fprintf(stderr, "sluice-decap: unknown command '%s'; commands: %s\n", argv[1],
			COMMANDS);
		return 2;
	}
	if (wants_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && argv[1][0] == '-') {
		fprintf(stderr, "sluice-decap: unknown option '%s'; a command comes first: %s\n",
			argv[1], COMMANDS);
		return 2;
	}
	if (argc < 3) {
		if (argc == 2)
			fprintf(stderr, "sluice-decap: %s needs an interface\n", argv[1]);
		else
			usage(stderr);
		return 2;
	}
	cmd = argv[1];
	ifname = argv[2];
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--addr")) {
			if (i + 1 >= argc || argv[i + 1][0] == '-') {
				fprintf(stderr, "sluice-decap: --addr needs an address\n");
				return 2;
			}
			/* --addr A [B ...]: every following non-option word */
			while (i + 1 < argc && argv[i + 1][0] != '-') {
				if (naddrs == (int)(sizeof(addrs) / sizeof(addrs[0]))) {
					fprintf(stderr, "sluice-decap: too many addresses\n");
					return 2;
				}
				if (parse_addr(argv[++i], &fam[naddrs], &addrs[naddrs])) {
					fprintf(stderr, "sluice-decap: %s: not an IPv4/IPv6 address\n",
						argv[i]);
					return 2;
				}
				naddrs++;
			}
		} else if (!strcmp(argv[i], "--generic")) {
			generic = 1;
		} else if (!strcmp(argv[i], "--pin-dir") && i + 1 < argc) {
			dir_opt = argv[++i];
		} else {
			fprintf(stderr, "sluice-decap: unexpected argument %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	pin_dir(dir, sizeof(dir), dir_opt, ifname);

	if (!strcmp(cmd, "attach")) {
		if (!naddrs) {
			fprintf(stderr, "sluice-decap: attach needs --addr\n");
			return 2;
		}
		return cmd_attach(ifname, dir, generic, naddrs, fam, addrs);
	}
	if (naddrs || generic) {
		fprintf(stderr, "sluice-decap: --addr/--generic only go with attach\n");
		return 2;
	}
	if (!strcmp(cmd, "detach"))
		return cmd_detach(ifname, dir);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(ifname, dir);
	if (!strcmp(cmd, "pass-attach"))
		return cmd_pass(ifname, 1);
	if (!strcmp(cmd, "pass-detach"))
		return cmd_pass(ifname, 0);
	return 2;	/* known_command() knows every command above */
}
