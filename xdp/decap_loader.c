/* SPDX-License-Identifier: Apache-2.0 */
/*
 * decap_loader.c - see decap_loader.h.
 */
#define LB_LOG_PREFIX "decap: "

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpffs.h"
#include "decap_loader.h"
#include "log.h"
#include "decap.skel.h"

struct lb_decap {
	struct decap *skel;		/* bpftool skeleton, "name decap" */
	int link_fd;		/* bpf_link of the attachment; -1: none */
	int ifindex;		/* where link_fd attaches */
};

struct lb_decap *lb_decap_open(void)
{
	struct lb_decap *d;
	int err;

	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->link_fd = -1;
	d->skel = decap__open_and_load();
	if (!d->skel) {
		err = -errno;
		pr_warn("open: cannot load decap.bpf.o: %s\n", strerror(-err));
		goto out;
	}
	return d;
out:
	free(d);
	errno = -err;
	return NULL;
}

void lb_decap_close(struct lb_decap *d)
{
	if (!d)
		return;
	if (d->link_fd >= 0)
		close(d->link_fd);
	decap__destroy(d->skel);
	free(d);
}

int lb_decap_prog_fd(const struct lb_decap *d)
{
	return bpf_program__fd(d->skel->progs.sluice_decap);
}

static int decap_key(struct lb_decap_key *k, __u8 family, const struct lb_addr *addr)
{
	memset(k, 0, sizeof(*k));
	if (family != LB_FAMILY_V4 && family != LB_FAMILY_V6)
		return -EINVAL;
	/* The program looks v4 up with w[1..3] zero: anything else never matches. */
	if (family == LB_FAMILY_V4 && (addr->w[1] || addr->w[2] || addr->w[3]))
		return -EINVAL;
	k->addr = *addr;
	k->family = family;
	return 0;
}

int lb_decap_add_addr(struct lb_decap *d, __u8 family, const struct lb_addr *addr)
{
	struct lb_decap_key k;
	__u32 one = 1;
	int err;

	err = decap_key(&k, family, addr);
	if (err) {
		pr_warn("add_addr: family %u: not v4/v6, or v4 with words 1-3 set\n",
			family);
		return err;
	}
	if (bpf_map__update_elem(d->skel->maps.decap_addrs, &k, sizeof(k), &one, sizeof(one),
				 BPF_ANY)) {
		err = -errno;
		pr_warn("add_addr: %s\n", strerror(-err));
	}
	return err;
}

int lb_decap_del_addr(struct lb_decap *d, __u8 family, const struct lb_addr *addr)
{
	struct lb_decap_key k;
	int err;

	err = decap_key(&k, family, addr);
	if (err) {
		pr_warn("del_addr: family %u: not v4/v6, or v4 with words 1-3 set\n",
			family);
		return err;
	}
	if (bpf_map__delete_elem(d->skel->maps.decap_addrs, &k, sizeof(k), 0)) {
		err = -errno;
		pr_warn("del_addr: %s\n", strerror(-err));
	}
	return err;
}

/* libbpf's bpf_program__attach_xdp() creates the link without a mode flag,
 * and the kernel then quietly picks generic mode for a driver without
 * native XDP; libbpf 1.1 has no variant taking flags. So the link is made
 * here, with the mode spelt out, and its fd kept in the handle. */
int lb_decap_attach(struct lb_decap *d, int ifindex, unsigned int flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	char name[IF_NAMESIZE] = "";
	int fd, err;

	if (!if_indextoname(ifindex, name))
		snprintf(name, sizeof(name), "ifindex %d", ifindex);
	if (flags & ~LB_DECAP_ATTACH_GENERIC) {
		pr_warn("attach: %s: unknown flags %#x\n", name, flags);
		return -EINVAL;
	}
	if (d->link_fd >= 0) {
		pr_warn("attach: %s: handle already attached to ifindex %d\n", name,
			d->ifindex);
		return -EALREADY;
	}
	opts.flags = flags & LB_DECAP_ATTACH_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(lb_decap_prog_fd(d), ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		err = -errno;
		if (err == -EOPNOTSUPP && !(flags & LB_DECAP_ATTACH_GENERIC))
			pr_warn("attach: %s: the driver has no native XDP; "
				"LB_DECAP_ATTACH_GENERIC attaches in generic (skb) mode\n", name);
		else
			pr_warn("attach: %s: cannot attach in %s mode: %s\n", name,
				flags & LB_DECAP_ATTACH_GENERIC ? "generic" : "native",
				strerror(-err));
		return err;
	}
	d->link_fd = fd;
	d->ifindex = ifindex;
	return 0;
}

int lb_decap_pin(struct lb_decap *d, const char *dir)
{
	const struct {
		const char *name;
		int fd;
	} obj[] = {
		{ LB_MAP_DECAP_ADDRS, bpf_map__fd(d->skel->maps.decap_addrs) },
		{ LB_MAP_DECAP_STATS, bpf_map__fd(d->skel->maps.decap_stats) },
		{ "prog", lb_decap_prog_fd(d) },
		{ "link", d->link_fd },	/* -1 when not attached: skipped */
	};
	char path[PATH_MAX];
	int i, n, err;

	err = lb_bpffs_mkdir(dir);
	if (err)
		return err;
	for (n = 0; n < (int)(sizeof(obj) / sizeof(obj[0])); n++) {
		if (obj[n].fd < 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, obj[n].name) >= (int)sizeof(path)) {
			err = -ENAMETOOLONG;
			pr_warn("pin: path too long under %s\n", dir);
			goto out;
		}
		if (bpf_obj_pin(obj[n].fd, path)) {
			err = -errno;
			pr_warn("pin: %s: %s\n", path, strerror(-err));
			goto out;
		}
	}
	return 0;
out:
	for (i = 0; i < n; i++) {
		if (obj[i].fd < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, obj[i].name);
		unlink(path);
	}
	return err;
}

int lb_decap_stats(struct lb_decap *d, struct lb_reason_stats out[LB_DECAP_R_MAX])
{
	struct lb_reason_stats *v = NULL;
	int ncpu, cpu, err = 0;
	__u32 r;

	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0) {
		err = ncpu;
		pr_warn("stats: cannot count CPUs: %s\n", strerror(-err));
		goto out;
	}
	v = calloc(ncpu, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		pr_warn("stats: out of memory\n");
		goto out;
	}
	for (r = 0; r < LB_DECAP_R_MAX; r++) {
		if (bpf_map__lookup_elem(d->skel->maps.decap_stats, &r, sizeof(r), v,
					 ncpu * sizeof(*v), 0)) {
			err = -errno;
			pr_warn("stats: reason %u: %s\n", r, strerror(-err));
			goto out;
		}
		out[r].packets = 0;
		out[r].bytes = 0;
		for (cpu = 0; cpu < ncpu; cpu++) {
			out[r].packets += v[cpu].packets;
			out[r].bytes += v[cpu].bytes;
		}
	}
out:
	free(v);
	return err;
}
