/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader.c - loads sluice.bpf.c and programs its maps (loader.h).
 *
 * The arrays the fast path reads (lb_config, vip_table, vip_meta, rings,
 * backends) and the connection table are BPF_F_MMAPABLE: the loader maps
 * them once after load and writes them directly. Changes the fast path
 * must see atomically are written into an idle copy and published with one
 * aligned 32-bit store (fwd.h); the loader then waits for an RCU grace
 * period before it returns, so the next change can reuse the copy that was
 * just retired.
 *
 * The grace period comes from the kernel: updating an element of an
 * ARRAY_OF_MAPS makes the bpf() syscall call synchronize_rcu() before it
 * returns (maybe_wait_bpf_programs(), kernel/bpf/syscall.c), and XDP
 * programs run inside an RCU read-side section (softirq, or rcu_read_lock
 * in generic mode and BPF_PROG_TEST_RUN). So once that update returns, no
 * program that could have seen the old flip word is still running.
 * tests/bpf/test_loader.c checks exactly that against a program that is
 * running. Cost: ~20 us here (this kernel runs with rcu_expedited=1);
 * a normal synchronize_rcu() takes milliseconds, once per published
 * change.
 *
 * Native attach uses a bpf_link created with XDP_FLAGS_DRV_MODE: without
 * a mode flag the kernel falls back to generic XDP on a driver without
 * native support (bpf_program__attach_xdp passes none), and generic mode
 * must be asked for explicitly.
 *
 * Logging: lb_xdp_open() routes libbpf's output through lib/log, demoted
 * one level (libbpf_set_print is process-wide).
 *
 * Threads: one handle is used by one thread at a time (loader.h).
 */
#define LB_LOG_PREFIX "loader: "

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd.h"
#include "hash.h"
#include "log.h"
#include "viptable.h"
#include "tables.h"
#include "bpffs.h"
#include "loader.h"
#include "sluice.skel.h"

/* Name of the forwarder's entry point; if the program is renamed the
 * loader falls back to the object's only XDP program. */
#define LB_XDP_PROG_NAME "sluice_xdp"

#define LB_XDP_MAX_IFACES 16

/* Pin names beside the maps' (which are their LB_MAP_* names). */
#define LB_XDP_PROG_PIN "prog"
#define LB_XDP_LINK_PIN_PREFIX "link_"
/* The ABI stamp of a pin dir: an ARRAY of one __u32 holding the
 * LB_ABI_VERSION (lib/fwd.h) the pinned maps are laid out for. Only
 * userspace reads it; the program never sees it. */
#define LB_XDP_ABI_PIN "abi"
#define LB_XDP_ABI_MAP_NAME "lb_abi"

/* One interface we attached to. */
struct xdp_iface {
	int ifindex;			/* 0: record unused */
	int link_fd;			/* native mode: bpf_link fd; -1 in generic mode */
	int pinned;			/* link pinned as <pin_dir>/link_<ifname> */
	char ifname[IF_NAMESIZE];
};

/* One mmap()ed map. */
struct xdp_mmap {
	void *addr;
	size_t len;
};

struct lb_xdp {
	struct sluice *skel;
	struct bpf_program *prog;
	struct lb_params params;	/* as loaded, nr_cpus included */

	/* Views of the mmapable maps. */
	struct lb_config *cfg;
	struct lb_vip_slot *vip_table;	/* 2 * vip_slots */
	struct lb_vip_meta *vip_meta;	/* max_vips */
	__u32 *rings;			/* max_vips * 2 rows of ring_stride ids */
	struct lb_backend *backends;	/* max_backends */
	struct lb_flow_bucket *flows;	/* nr_cpus * flow_buckets */
	struct xdp_mmap maps[6];
	__u32 ring_stride;

	/* Grace periods: ARRAY_OF_MAPS of one inner ARRAY. */
	int sync_fd;
	int sync_inner_fd;
	struct lb_tables tables;	/* the views above, for lib/tables.c */

	void *pcpu;			/* nr_cpus values of the largest counter struct */

	char *pin_dir;			/* set by lb_xdp_pin: later links pin there too */
	struct xdp_iface ifaces[LB_XDP_MAX_IFACES];

	/* Hitless restart (lb_xdp_adopt). */
	int abi_fd;			/* "abi" map; -1 in handles of lb_xdp_open */
	__u32 replaced_prog_id;		/* pinned program adoption replaced, or 0: a
					 * generic attachment may still run it */
};

/* The maps of the program, as pinned and as lb_xdp_map_fd() knows them. */
static const char *const map_names[] = {
	LB_MAP_CONFIG,
	LB_MAP_VIP_TABLE,
	LB_MAP_VIP_META,
	LB_MAP_RINGS,
	LB_MAP_BACKENDS,
	LB_MAP_FLOWS,
	LB_MAP_VIP_STATS,
	LB_MAP_BACKEND_STATS,
	LB_MAP_REASON_STATS,
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging ------------------------------------------------------- */

/* libbpf's callback type has an enum first argument, so the adapter lives
 * here (lib/ does not link libbpf); lib/log.c does the demotion. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return lb_log_libbpf_print((int)level, fmt, ap);
}

/* ---- parameters ---------------------------------------------------- */

static struct bpf_program *find_prog(struct bpf_object *obj)
{
	struct bpf_program *p, *found = NULL;
	int n = 0;

	p = bpf_object__find_program_by_name(obj, LB_XDP_PROG_NAME);
	if (p)
		return p;
	bpf_object__for_each_program(p, obj) {
		if (bpf_program__type(p) == BPF_PROG_TYPE_XDP) {
			found = p;
			n++;
		}
	}
	if (n != 1) {
		pr_warn("open: expected one XDP program in sluice.bpf.o, found %d\n", n);
		return NULL;
	}
	return found;
}

static int map_mmap(struct lb_xdp *x, int i, struct bpf_map *map, void **view)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (size_t)bpf_map__max_entries(map) *
		     ((bpf_map__value_size(map) + 7) & ~7u);
	void *p;
	int err;

	len = (len + page - 1) & ~(page - 1);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
	if (p == MAP_FAILED) {
		err = -errno;
		pr_warn("open: mmap of map %s (%zu bytes): %s\n",
			bpf_map__name(map), len, strerror(-err));
		return err;
	}
	x->maps[i].addr = p;
	x->maps[i].len = len;
	*view = p;
	return 0;
}

static int sync_create(struct lb_xdp *x)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int err;

	x->sync_inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb_sync_inner",
					  sizeof(__u32), sizeof(__u32), 1, NULL);
	if (x->sync_inner_fd < 0) {
		err = -errno;
		pr_warn("open: creating the grace-period inner map: %s\n", strerror(-err));
		return err;
	}
	opts.inner_map_fd = x->sync_inner_fd;
	x->sync_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "lb_sync",
				    sizeof(__u32), sizeof(__u32), 1, &opts);
	if (x->sync_fd < 0) {
		err = -errno;
		pr_warn("open: creating the grace-period map: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

/* Waits until every XDP program that started before the call has
 * finished: the kernel calls synchronize_rcu() when an ARRAY_OF_MAPS
 * element is updated (see the top of this file). The tables' grace
 * callback (lib/tables.h). */
static int grace_period(void *arg)
{
	struct lb_xdp *x = arg;
	__u32 key = 0;
	int err;

	if (bpf_map_update_elem(x->sync_fd, &key, &x->sync_inner_fd, BPF_ANY)) {
		err = -errno;
		pr_warn("lb_xdp: grace period (ARRAY_OF_MAPS update): %s\n", strerror(-err));
		return err;
	}
	return 0;
}

int lb_xdp_sync(struct lb_xdp *x)
{
	if (!x)
		return -EINVAL;
	return lb_tables_sync(&x->tables);
}

/* max_entries of every map whose size depends on the parameters. */
static int set_sizes(struct sluice *skel, const struct lb_params *p)
{
	const struct {
		struct bpf_map *map;
		__u64 entries;
	} sizes[] = {
		{ skel->maps.vip_table, 2ull * p->vip_slots },
		{ skel->maps.vip_meta, p->max_vips },
		{ skel->maps.vip_stats, p->max_vips },
		/* rows of LB_RING_STRIDE ids, stored as pairs */
		{ skel->maps.rings, (__u64)p->max_vips * 2 * LB_RING_STRIDE(p->max_ring) / 2 },
		{ skel->maps.backends, p->max_backends },
		{ skel->maps.backend_stats, p->max_backends },
		{ skel->maps.flows, (__u64)p->nr_cpus * p->flow_buckets },
	};
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		err = bpf_map__set_max_entries(sizes[i].map, (__u32)sizes[i].entries);
		if (err) {
			pr_warn("open: sizing map %s to %llu entries: %s\n",
				bpf_map__name(sizes[i].map), (unsigned long long)sizes[i].entries,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The first half of lb_xdp_open and lb_xdp_adopt: checks the sizes,
 * allocates the handle and opens the object, sized, not loaded. NULL and
 * *errp on failure (logged). */
static struct lb_xdp *handle_new(const struct lb_params *params, const char *who, int *errp)
{
	struct lb_params p = {0};
	struct lb_xdp *x;
	struct sluice *skel;
	__u32 i;
	int err, ncpu;

	libbpf_set_print(libbpf_print);

	if (params)
		p = *params;
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0) {
		err = ncpu < 0 ? ncpu : -EINVAL;
		pr_warn("%s: cannot count possible CPUs: %s\n", who, strerror(-err));
		*errp = err;
		return NULL;
	}
	p.nr_cpus = (__u32)ncpu;
	err = lb_tables_params(&p);
	if (err) {
		*errp = err;
		return NULL;
	}

	x = calloc(1, sizeof(*x));
	if (!x) {
		*errp = -ENOMEM;
		return NULL;
	}
	x->params = p;
	x->ring_stride = LB_RING_STRIDE(p.max_ring);
	x->sync_fd = -1;
	x->sync_inner_fd = -1;
	x->abi_fd = -1;
	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		x->ifaces[i].link_fd = -1;

	x->pcpu = calloc(p.nr_cpus, sizeof(struct lb_vip_stats));
	if (!x->pcpu) {
		err = -ENOMEM;
		goto err;
	}

	skel = sluice__open();
	if (!skel) {
		err = -errno;
		pr_warn("%s: opening sluice.bpf.o: %s\n", who, strerror(-err));
		goto err;
	}
	x->skel = skel;
	skel->rodata->lb_params = p;

	err = set_sizes(skel, &p);
	if (err)
		goto err;

	x->prog = find_prog(skel->obj);
	if (!x->prog) {
		err = -ENOENT;
		goto err;
	}
	return x;

err:
	lb_xdp_close(x);
	*errp = err;
	return NULL;
}

/* The second half: loads the object, maps the arrays and creates the
 * grace-period map. fresh: the maps were just created, so the rings are
 * set to "no ring" (adopted maps keep their contents). Logged. */
static int handle_load(struct lb_xdp *x, int fresh, const char *who)
{
	const struct lb_params *p = &x->params;
	struct sluice *skel = x->skel;
	int err;

	err = sluice__load(skel);
	if (err) {
		pr_warn("%s: loading sluice.bpf.o: %s\n", who, strerror(-err));
		return err;
	}

	if ((err = map_mmap(x, 0, skel->maps.lb_config, (void **)&x->cfg)) ||
	    (err = map_mmap(x, 1, skel->maps.vip_table, (void **)&x->vip_table)) ||
	    (err = map_mmap(x, 2, skel->maps.vip_meta, (void **)&x->vip_meta)) ||
	    (err = map_mmap(x, 3, skel->maps.rings, (void **)&x->rings)) ||
	    (err = map_mmap(x, 4, skel->maps.backends, (void **)&x->backends)) ||
	    (err = map_mmap(x, 5, skel->maps.flows, (void **)&x->flows)))
		return err;

	x->tables.cfg = x->cfg;
	x->tables.vip_table = x->vip_table;
	x->tables.vip_meta = x->vip_meta;
	x->tables.rings = x->rings;
	x->tables.backends = x->backends;
	x->tables.grace = grace_period;
	x->tables.grace_arg = x;
	lb_tables_init(&x->tables, p, fresh);
	return sync_create(x);
}

struct lb_xdp *lb_xdp_open(const struct lb_params *params)
{
	const struct lb_params *p;
	struct lb_xdp *x;
	int err;

	x = handle_new(params, "lb_xdp_open", &err);
	if (!x) {
		errno = -err;
		return NULL;
	}
	err = handle_load(x, 1, "lb_xdp_open");
	if (err) {
		lb_xdp_close(x);
		errno = -err;
		return NULL;
	}
	p = &x->params;
	pr_debug("open: loaded: vip_slots %u max_vips %u max_ring %u max_backends %u flow_buckets %u nr_cpus %u\n",
		 p->vip_slots, p->max_vips, p->max_ring, p->max_backends, p->flow_buckets,
		 p->nr_cpus);
	return x;
}

void lb_xdp_close(struct lb_xdp *x)
{
	size_t i;

	if (!x)
		return;
	/* A native link stays only if pinned; closing its fd otherwise
	 * detaches it. Generic attachments stay in any case. */
	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		if (x->ifaces[i].link_fd >= 0)
			close(x->ifaces[i].link_fd);
	for (i = 0; i < ARRAY_SIZE(x->maps); i++)
		if (x->maps[i].addr)
			munmap(x->maps[i].addr, x->maps[i].len);
	if (x->sync_fd >= 0)
		close(x->sync_fd);
	if (x->sync_inner_fd >= 0)
		close(x->sync_inner_fd);
	if (x->abi_fd >= 0)
		close(x->abi_fd);
	sluice__destroy(x->skel);
	free(x->pin_dir);
	free(x->pcpu);
	free(x);
}

const struct lb_params *lb_xdp_params(const struct lb_xdp *x)
{
	return &x->params;
}

int lb_xdp_prog_fd(const struct lb_xdp *x)
{
	return bpf_program__fd(x->prog);
}

int lb_xdp_map_fd(const struct lb_xdp *x, const char *name)
{
	struct bpf_map *map;
	size_t i;

	if (!name)
		return -ENOENT;
	for (i = 0; i < ARRAY_SIZE(map_names); i++) {
		if (strcmp(name, map_names[i]))
			continue;
		map = bpf_object__find_map_by_name(x->skel->obj, name);
		return map ? bpf_map__fd(map) : -ENOENT;
	}
	return -ENOENT;
}

/* ---- pinning ------------------------------------------------------- */

/* Pins fd as dir/name. An existing pin of the same object is fine (pin is
 * idempotent); any other file there is -EEXIST. */
static int pin_fd(int fd, const char *dir, const char *name, const char *what)
{
	char path[PATH_MAX];
	int err, old;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		pr_warn("pin: path %s/%s too long\n", dir, name);
		return -ENAMETOOLONG;
	}
	if (!bpf_obj_pin(fd, path))
		return 0;
	err = -errno;
	if (err == -EEXIST) {
		old = bpf_obj_get(path);
		if (old >= 0) {
			/* prog, map and link infos all begin with type, id */
			struct { __u32 type, id; } a = {0}, b = {0};
			__u32 la = sizeof(a), lb = sizeof(b);
			int same = !bpf_obj_get_info_by_fd(fd, &a, &la) &&
				   !bpf_obj_get_info_by_fd(old, &b, &lb) &&
				   a.type == b.type && a.id == b.id;

			close(old);
			if (same)
				return 0;
		}
	}
	pr_warn("pin: pinning %s at %s: %s\n", what, path, strerror(-err));
	return err;
}

/* lb_xdp_attach in generic mode found program cur on ifindex. If it is
 * ours (adoption kept the pinned program, which a generic attachment of
 * the earlier process runs), there is nothing to do; if it is the pinned
 * program adoption replaced, swap it for ours in one netlink call
 * (XDP_FLAGS_REPLACE: the interface is never without a program). Anything
 * else is someone else's: -EBUSY, left alone. */
static int generic_adopt(struct lb_xdp *x, int ifindex, int prog_fd, __u32 cur)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, xopts);
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int old_fd, err;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	if (cur == info.id)
		return 0;
	if (!x->replaced_prog_id || cur != x->replaced_prog_id)
		return -EBUSY;
	old_fd = bpf_prog_get_fd_by_id(cur);
	if (old_fd < 0)
		return -errno;
	xopts.old_prog_fd = old_fd;
	err = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_SKB_MODE | XDP_FLAGS_REPLACE, &xopts) ?
		      -errno : 0;
	close(old_fd);
	return err;
}

static int pin_link(struct lb_xdp *x, struct xdp_iface *f)
{
	char name[IF_NAMESIZE + 8];
	int err;

	snprintf(name, sizeof(name), "link_%s", f->ifname);
	err = pin_fd(f->link_fd, x->pin_dir, name, "XDP link");
	if (!err)
		f->pinned = 1;
	return err;
}

static void unpin_link(struct lb_xdp *x, struct xdp_iface *f)
{
	char path[PATH_MAX];

	if (!f->pinned || !x->pin_dir)
		return;
	snprintf(path, sizeof(path), "%s/link_%s", x->pin_dir, f->ifname);
	if (unlink(path) && errno != ENOENT)
		pr_warn("detach: unpinning %s: %s\n", path, strerror(errno));
	f->pinned = 0;
}

int lb_xdp_pin(struct lb_xdp *x, const char *dir)
{
	struct bpf_map *map;
	char *copy;
	size_t i;
	int err;

	if (!x || !dir || !*dir)
		return -EINVAL;
	err = lb_bpffs_mkdir(dir);
	if (err)
		return err;
	err = pin_fd(bpf_program__fd(x->prog), dir, "prog", "program");
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(map_names); i++) {
		map = bpf_object__find_map_by_name(x->skel->obj, map_names[i]);
		if (!map) {
			pr_warn("pin: map %s missing from the object\n", map_names[i]);
			return -ENOENT;
		}
		err = pin_fd(bpf_map__fd(map), dir, map_names[i], "map");
		if (err)
			return err;
	}
	/* Handles of lb_xdp_adopt also pin the ABI stamp a later
	 * lb_xdp_adopt checks; those of lb_xdp_open pin what they always
	 * did (and cannot be adopted later). */
	if (x->abi_fd >= 0) {
		err = pin_fd(x->abi_fd, dir, LB_XDP_ABI_PIN, "ABI map");
		if (err)
			return err;
	}
	copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	free(x->pin_dir);
	x->pin_dir = copy;
	for (i = 0; i < LB_XDP_MAX_IFACES; i++) {
		struct xdp_iface *f = &x->ifaces[i];

		if (f->ifindex && f->link_fd >= 0 && !f->pinned) {
			err = pin_link(x, f);
			if (err)
				return err;
		}
	}
	return 0;
}

/* ---- attach / detach ----------------------------------------------- */

static struct xdp_iface *iface_find(struct lb_xdp *x, int ifindex)
{
	size_t i;

	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		if (x->ifaces[i].ifindex == ifindex)
			return &x->ifaces[i];
	return NULL;
}

int lb_xdp_attach(struct lb_xdp *x, int ifindex, unsigned int flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = XDP_FLAGS_DRV_MODE);
	int prog_fd = bpf_program__fd(x->prog);
	struct xdp_iface *f;
	char ifname[IF_NAMESIZE];
	int err, fd;

	if (ifindex <= 0 || (flags & ~LB_XDP_ATTACH_GENERIC))
		return -EINVAL;
	if (!if_indextoname((unsigned int)ifindex, ifname)) {
		err = -errno;
		pr_warn("attach: ifindex %d: %s\n", ifindex, strerror(-err));
		return err;
	}
	if (iface_find(x, ifindex)) {
		pr_warn("attach: already attached to %s\n", ifname);
		return -EEXIST;
	}
	f = iface_find(x, 0);
	if (!f) {
		pr_warn("attach: %s: more than %d interfaces\n", ifname, LB_XDP_MAX_IFACES);
		return -ENOSPC;
	}

	if (flags & LB_XDP_ATTACH_GENERIC) {
		/* Netlink attach: there is no bpf_link for skb mode on
		 * every kernel we support. Never replace someone else's
		 * program. */
		__u32 cur = 0;

		/* A program there already: after lb_xdp_adopt it may be ours
		 * (kept) or the one adoption replaced; anything else is
		 * -EBUSY, as the attach below would say. */
		if (!bpf_xdp_query_id(ifindex, XDP_FLAGS_SKB_MODE, &cur) && cur)
			err = generic_adopt(x, ifindex, prog_fd, cur);
		else if (bpf_xdp_attach(ifindex, prog_fd,
					XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL))
			err = -errno;
		else
			err = 0;
		if (err) {
			pr_warn("attach: %s (generic mode): %s\n", ifname, strerror(-err));
			return err;
		}
		fd = -1;
	} else {
		/* DRV_MODE explicitly: with no mode flag the kernel quietly
		 * falls back to generic XDP on a driver without native
		 * support, and the operator would never know. */
		fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lopts);
		if (fd < 0) {
			err = -errno;
			if (err == -EOPNOTSUPP || err == -EINVAL) {
				pr_warn("attach: interface %s has no native XDP (%s); use generic mode explicitly (--xdp-generic)\n",
					ifname, strerror(-err));
				return -EOPNOTSUPP;
			}
			pr_warn("attach: %s (native mode): %s\n", ifname, strerror(-err));
			return err;
		}
	}
	f->ifindex = ifindex;
	f->link_fd = fd;
	f->pinned = 0;
	memcpy(f->ifname, ifname, sizeof(f->ifname));
	if (fd >= 0 && x->pin_dir)
		(void)pin_link(x, f);	/* logged; the attachment itself worked */
	pr_info("sluice: attached to %s (%s mode)\n", ifname, fd >= 0 ? "native" : "generic");
	return 0;
}

int lb_xdp_detach(struct lb_xdp *x, int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, xopts);
	struct xdp_iface *f;
	int err = 0;

	if (ifindex <= 0)
		return -EINVAL;
	f = iface_find(x, ifindex);
	if (!f) {
		pr_warn("detach: not attached to ifindex %d\n", ifindex);
		return -ENOENT;
	}
	if (f->link_fd >= 0) {
		/* LINK_DETACH detaches even if the link is pinned. */
		if (bpf_link_detach(f->link_fd)) {
			err = -errno;
			pr_warn("detach: %s: %s\n", f->ifname, strerror(-err));
			return err;
		}
		unpin_link(x, f);
		close(f->link_fd);
	} else {
		/* Remove only our own program (XDP_FLAGS_REPLACE). */
		xopts.old_prog_fd = bpf_program__fd(x->prog);
		if (bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, &xopts)) {
			err = -errno;
			pr_warn("detach: %s (generic mode): %s\n", f->ifname, strerror(-err));
			return err;
		}
	}
	pr_info("sluice: detached from %s\n", f->ifname);
	memset(f, 0, sizeof(*f));
	f->link_fd = -1;
	return 0;
}

/* ---- adoption (hitless restart) ------------------------------------ */

/*
 * lb_xdp_adopt() takes over what an earlier process left in a pin dir.
 *
 * Compatible pins (the maps are reused): the "abi" stamp equals our
 * LB_ABI_VERSION; every LB_MAP_* map is pinned with the name, type, key
 * and value size, max_entries and flags this object would create; and
 * the pinned program uses no map besides those and its own .rodata and
 * .kconfig (CONFIG_HZ: read-only, filled by libbpf from this kernel's
 * config, which a pin cannot outlive). The
 * max_entries encode every field of lb_params (vip_slots, max_vips,
 * max_ring through the ring stride, max_backends, flow_buckets times the
 * host's CPU count), so equal sizes mean equal lb_params: nothing else is
 * stored for them.
 *
 * Same build (the pinned program is kept): the same program type and tag
 * (a hash of the instructions with map references masked) and the same
 * .rodata bytes. Then the fd of the pinned program is dup2()ed over the one
 * just loaded: the new program is freed, x->prog's fd names the old one,
 * and every link keeps running it; its id does not change.
 *
 * Links ("link_<ifname>") are repointed with bpf_link_update, one atomic
 * swap per interface. Objects pinned anew are first pinned as
 * "<name>_new" (bpffs refuses names with a dot) and then renamed over
 * <name>, so a name never goes missing: a crash at any point leaves under each name either the old or
 * the new object, and the next adoption's checks sort out a mix (the
 * program's map ids no longer match the pinned maps: replaced afresh).
 */

#define LB_XDP_MAX_PROG_MAPS 32
#define LB_XDP_STAGED_SUFFIX "_new"	/* bpffs names cannot hold a dot */

/* What lb_xdp_adopt found pinned. */
struct pinned {
	int prog_fd;				/* "prog", or -1 */
	int map_fd[ARRAY_SIZE(map_names)];	/* by map_names[], or -1 */
	int abi_fd;				/* "abi", or -1 */
	int any;				/* any of the above was there */
};

/* One object to pin anew. */
struct pin_obj {
	const char *name;
	int fd;
};

static void pinned_close(struct pinned *pin)
{
	size_t i;

	if (pin->prog_fd >= 0)
		close(pin->prog_fd);
	for (i = 0; i < ARRAY_SIZE(pin->map_fd); i++)
		if (pin->map_fd[i] >= 0)
			close(pin->map_fd[i]);
	if (pin->abi_fd >= 0)
		close(pin->abi_fd);
}

/* fd of the object pinned at dir/name; -ENOENT if none, other errors
 * logged. */
static int pin_get(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		pr_warn("adopt: path %s/%s too long\n", dir, name);
		return -ENAMETOOLONG;
	}
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = -errno;
		if (fd != -ENOENT)
			pr_warn("adopt: opening pin %s: %s\n", path, strerror(-fd));
	}
	return fd;
}

static int pinned_open(struct pinned *pin, const char *dir)
{
	size_t i;
	int fd;

	fd = pin_get(dir, LB_XDP_PROG_PIN);
	if (fd < 0 && fd != -ENOENT)
		return fd;
	pin->prog_fd = fd < 0 ? -1 : fd;
	for (i = 0; i < ARRAY_SIZE(map_names); i++) {
		fd = pin_get(dir, map_names[i]);
		if (fd < 0 && fd != -ENOENT)
			return fd;
		pin->map_fd[i] = fd < 0 ? -1 : fd;
		pin->any |= fd >= 0;
	}
	fd = pin_get(dir, LB_XDP_ABI_PIN);
	if (fd < 0 && fd != -ENOENT)
		return fd;
	pin->abi_fd = fd < 0 ? -1 : fd;
	pin->any |= pin->prog_fd >= 0 || pin->abi_fd >= 0;
	return 0;
}

static int map_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* Program info; with ids, also the ids of the maps it uses (*nr: in the
 * capacity of ids, out how many it uses, possibly more than fit). */
static int prog_info(int fd, struct bpf_prog_info *info, __u32 *ids, __u32 *nr)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (ids) {
		info->nr_map_ids = *nr;
		info->map_ids = (__u64)(unsigned long)ids;
	}
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return -errno;
	if (ids)
		*nr = info->nr_map_ids;
	return 0;
}

static __u32 prog_id_of(int fd)
{
	struct bpf_prog_info info;

	return prog_info(fd, &info, NULL, NULL) ? 0 : info.id;
}

static int name_ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* 1 if the pinned maps can serve this object (see the top of this
 * section); 0 if not, with one line saying why. */
static int pinned_compatible(struct lb_xdp *x, const struct pinned *pin, const char *dir)
{
	__u32 ids[ARRAY_SIZE(map_names)], used[LB_XDP_MAX_PROG_MAPS], nr = LB_XDP_MAX_PROG_MAPS;
	struct bpf_prog_info pi;
	struct bpf_map_info mi;
	struct bpf_map *map;
	__u32 key = 0, abi = 0, u;
	size_t i;
	int fd, ok;

	if (!pin->any)
		return 0;
	if (pin->abi_fd < 0) {
		pr_info("adopt: %s: no ABI stamp (\"%s\"): not adoptable, replacing\n",
			dir, LB_XDP_ABI_PIN);
		return 0;
	}
	if (map_info(pin->abi_fd, &mi) || mi.type != BPF_MAP_TYPE_ARRAY ||
	    mi.key_size != sizeof(key) || mi.value_size != sizeof(abi) ||
	    bpf_map_lookup_elem(pin->abi_fd, &key, &abi)) {
		pr_info("adopt: %s: unreadable ABI stamp: not adoptable, replacing\n", dir);
		return 0;
	}
	if (abi != LB_ABI_VERSION) {
		pr_info("adopt: %s: pinned maps have ABI %u, this build %u: replacing\n",
			dir, abi, LB_ABI_VERSION);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(map_names); i++) {
		map = bpf_object__find_map_by_name(x->skel->obj, map_names[i]);
		if (!map)
			return 0;
		if (pin->map_fd[i] < 0) {
			pr_info("adopt: %s: map %s is not pinned: replacing\n", dir,
				map_names[i]);
			return 0;
		}
		if (map_info(pin->map_fd[i], &mi)) {
			pr_info("adopt: %s: pinned %s is not a map: replacing\n", dir,
				map_names[i]);
			return 0;
		}
		if (strcmp(mi.name, map_names[i]) || mi.type != bpf_map__type(map) ||
		    mi.key_size != bpf_map__key_size(map) ||
		    mi.value_size != bpf_map__value_size(map) ||
		    mi.max_entries != bpf_map__max_entries(map) ||
		    mi.map_flags != bpf_map__map_flags(map)) {
			pr_info("adopt: %s: pinned map %s (%s, type %u, key %u, value %u, %u entries, flags %#x) differs from this build's (type %u, key %u, value %u, %u entries, flags %#x): replacing\n",
				dir, map_names[i], mi.name, mi.type, mi.key_size, mi.value_size,
				mi.max_entries, mi.map_flags, bpf_map__type(map),
				bpf_map__key_size(map), bpf_map__value_size(map),
				bpf_map__max_entries(map), bpf_map__map_flags(map));
			return 0;
		}
		ids[i] = mi.id;
	}
	if (pin->prog_fd < 0)
		return 1;	/* maps without a program: still ours to reuse */

	if (prog_info(pin->prog_fd, &pi, used, &nr) || pi.type != BPF_PROG_TYPE_XDP ||
	    nr > LB_XDP_MAX_PROG_MAPS) {
		pr_info("adopt: %s: pinned \"%s\" is not an XDP program of ours: replacing\n",
			dir, LB_XDP_PROG_PIN);
		return 0;
	}
	/* The program must forward from the pinned maps, or the state we
	 * would adopt is not the state that forwards. */
	for (u = 0; u < nr; u++) {
		for (ok = 0, i = 0; i < ARRAY_SIZE(ids) && !ok; i++)
			ok = used[u] == ids[i];
		if (ok)
			continue;
		fd = bpf_map_get_fd_by_id(used[u]);
		ok = fd >= 0 && !map_info(fd, &mi) &&
		     (name_ends_with(mi.name, ".rodata") || name_ends_with(mi.name, ".kconfig"));
		if (fd >= 0)
			close(fd);
		if (!ok) {
			pr_info("adopt: %s: the pinned program uses map id %u, which is not pinned there: replacing\n",
				dir, used[u]);
			return 0;
		}
	}
	return 1;
}

/* Reads element 0 of the ARRAY fd into a new buffer of size bytes. */
static void *array_read(int fd, __u32 size)
{
	__u32 key = 0;
	void *v = malloc(size ? size : 1);

	if (v && bpf_map_lookup_elem(fd, &key, v)) {
		free(v);
		return NULL;
	}
	return v;
}

/* 1 if old_fd runs the very program x just loaded: same type and tag,
 * same .rodata bytes. */
static int same_build(struct lb_xdp *x, int old_fd)
{
	__u32 used[LB_XDP_MAX_PROG_MAPS], nr = LB_XDP_MAX_PROG_MAPS, u;
	struct bpf_prog_info a, b;
	struct bpf_map_info ro, mi;
	void *mine = NULL, *theirs = NULL;
	int ro_fd = bpf_map__fd(x->skel->maps.rodata), fd, same = 0;

	if (prog_info(bpf_program__fd(x->prog), &a, NULL, NULL) ||
	    prog_info(old_fd, &b, used, &nr) || nr > LB_XDP_MAX_PROG_MAPS)
		return 0;
	if (a.type != b.type || memcmp(a.tag, b.tag, sizeof(a.tag)))
		return 0;
	if (ro_fd < 0 || map_info(ro_fd, &ro))
		return 0;
	mine = array_read(ro_fd, ro.value_size);
	for (u = 0; u < nr && mine && !theirs; u++) {
		fd = bpf_map_get_fd_by_id(used[u]);
		if (fd < 0)
			continue;
		if (!map_info(fd, &mi) && !strcmp(mi.name, ro.name) &&
		    mi.value_size == ro.value_size) {
			theirs = array_read(fd, mi.value_size);
			same = theirs && !memcmp(mine, theirs, ro.value_size);
		}
		close(fd);
	}
	free(mine);
	free(theirs);
	return same;
}

/* The ABI stamp of a fresh set of maps, frozen (read-only from then on). */
static int abi_create(struct lb_xdp *x)
{
	__u32 key = 0, v = LB_ABI_VERSION;
	int err;

	x->abi_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, LB_XDP_ABI_MAP_NAME, sizeof(key),
				   sizeof(v), 1, NULL);
	if (x->abi_fd < 0) {
		err = -errno;
		pr_warn("adopt: creating the ABI map: %s\n", strerror(-err));
		return err;
	}
	if (bpf_map_update_elem(x->abi_fd, &key, &v, BPF_ANY) || bpf_map_freeze(x->abi_fd)) {
		err = -errno;
		pr_warn("adopt: writing the ABI map: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

/* Opens every "link_<ifname>" pin of dir into x->ifaces (pinned, their
 * current program ids in prev[]). A pin whose interface is gone (the
 * kernel released the link's device) is removed; a pin that is not an
 * XDP link is left alone. */
static int links_collect(struct lb_xdp *x, const char *dir, __u32 prev[LB_XDP_MAX_IFACES])
{
	const size_t plen = strlen(LB_XDP_LINK_PIN_PREFIX);
	struct bpf_link_info li;
	struct xdp_iface *f;
	struct dirent *e;
	char path[PATH_MAX];
	const char *name;
	__u32 len;
	int fd, err = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
		pr_warn("adopt: reading %s: %s\n", dir, strerror(-err));
		return err;
	}
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, LB_XDP_LINK_PIN_PREFIX, plen))
			continue;
		name = e->d_name + plen;
		if (!*name || strlen(name) >= IF_NAMESIZE)
			continue;	/* not an interface name: not ours */
		fd = pin_get(dir, e->d_name);
		if (fd == -ENOENT)
			continue;
		if (fd < 0) {
			err = fd;
			break;
		}
		memset(&li, 0, sizeof(li));
		len = sizeof(li);
		if (bpf_obj_get_info_by_fd(fd, &li, &len) || li.type != BPF_LINK_TYPE_XDP) {
			pr_warn("adopt: %s/%s is not an XDP link; left alone\n", dir,
				e->d_name);
			close(fd);
			continue;
		}
		if (!li.xdp.ifindex) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			pr_info("adopt: interface %s is gone; removing its link pin\n", name);
			if (unlink(path))
				pr_warn("adopt: removing %s: %s\n", path, strerror(errno));
			close(fd);
			continue;
		}
		f = iface_find(x, 0);
		if (!f || iface_find(x, (int)li.xdp.ifindex)) {
			err = f ? -EEXIST : -ENOSPC;
			pr_warn("adopt: %s/%s: %s\n", dir, e->d_name,
				f ? "a second link pin for one interface" : "too many link pins");
			close(fd);
			break;
		}
		f->ifindex = (int)li.xdp.ifindex;
		f->link_fd = fd;
		f->pinned = 1;
		memcpy(f->ifname, name, strlen(name) + 1);
		prev[f - x->ifaces] = li.prog_id;
	}
	closedir(d);
	return err;
}

/* Points every collected link at prog_fd: one bpf_link_update each, so
 * an interface runs the old program up to some packet and the new one
 * from the next, never none. On failure the links already switched go
 * back to the programs they ran. */
static int links_switch(struct lb_xdp *x, int prog_fd, __u32 prog_id,
			const __u32 prev[LB_XDP_MAX_IFACES])
{
	int done[LB_XDP_MAX_IFACES] = {0};
	int err, fd;
	size_t i, j;

	for (i = 0; i < LB_XDP_MAX_IFACES; i++) {
		struct xdp_iface *f = &x->ifaces[i];

		if (f->link_fd < 0 || prev[i] == prog_id)
			continue;
		if (bpf_link_update(f->link_fd, prog_fd, NULL)) {
			err = -errno;
			pr_warn("adopt: replacing the program on %s: %s\n", f->ifname,
				strerror(-err));
			goto undo;
		}
		done[i] = 1;
		pr_info("sluice: %s: program %u replaced by %u\n", f->ifname, prev[i], prog_id);
	}
	return 0;

undo:
	for (j = 0; j < i; j++) {
		if (!done[j])
			continue;
		fd = bpf_prog_get_fd_by_id(prev[j]);
		if (fd < 0 || bpf_link_update(x->ifaces[j].link_fd, fd, NULL))
			pr_warn("adopt: %s: cannot put program %u back\n",
				x->ifaces[j].ifname, prev[j]);
		if (fd >= 0)
			close(fd);
	}
	return err;
}

static int pin_path(char *path, size_t cap, const char *dir, const char *name, int staged)
{
	if (snprintf(path, cap, staged ? "%s/%s" LB_XDP_STAGED_SUFFIX : "%s/%s", dir, name) >=
	    (int)cap) {
		pr_warn("adopt: path %s/%s too long\n", dir, name);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Pins fd as dir/<name>_new, replacing a leftover of a crashed run. */
static int pin_stage(const struct pin_obj *o, const char *dir)
{
	char path[PATH_MAX];
	int err;

	err = pin_path(path, sizeof(path), dir, o->name, 1);
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		pr_warn("adopt: removing %s: %s\n", path, strerror(-err));
		return err;
	}
	if (bpf_obj_pin(o->fd, path)) {
		err = -errno;
		pr_warn("adopt: pinning %s: %s\n", path, strerror(-err));
		return err;
	}
	return 0;
}

static void pin_unstage(const struct pin_obj *o, const char *dir)
{
	char path[PATH_MAX];

	if (!pin_path(path, sizeof(path), dir, o->name, 1))
		unlink(path);
}

/* Renames dir/<name>_new over dir/<name>: the name never goes missing. */
static int pin_commit(const struct pin_obj *o, const char *dir)
{
	char from[PATH_MAX], to[PATH_MAX];
	int err;

	if ((err = pin_path(from, sizeof(from), dir, o->name, 1)) ||
	    (err = pin_path(to, sizeof(to), dir, o->name, 0)))
		return err;
	if (rename(from, to)) {
		err = -errno;
		pr_warn("adopt: renaming %s to %s: %s\n", from, to, strerror(-err));
		return err;
	}
	return 0;
}

struct lb_xdp *lb_xdp_adopt(const char *pin_dir, const struct lb_params *params, int *adopted)
{
	struct pin_obj objs[2 + ARRAY_SIZE(map_names)];
	__u32 prev[LB_XDP_MAX_IFACES] = {0};
	__u32 prog_id, old_id = 0;
	struct pinned pin;
	struct lb_xdp *x;
	struct bpf_map *map;
	char *dir_copy = NULL;
	int err, compat = 0, keep = 0;
	size_t i, n = 0, staged = 0;

	if (!adopted || (pin_dir && !*pin_dir)) {
		errno = EINVAL;
		return NULL;
	}
	*adopted = 0;
	memset(&pin, 0, sizeof(pin));
	pin.prog_fd = pin.abi_fd = -1;
	for (i = 0; i < ARRAY_SIZE(pin.map_fd); i++)
		pin.map_fd[i] = -1;

	x = handle_new(params, "lb_xdp_adopt", &err);
	if (!x) {
		errno = -err;
		return NULL;
	}
	if (pin_dir) {
		dir_copy = strdup(pin_dir);
		if (!dir_copy) {
			err = -ENOMEM;
			goto err;
		}
		err = pinned_open(&pin, pin_dir);
		if (err)
			goto err;
		compat = pinned_compatible(x, &pin, pin_dir);
	}
	if (compat) {
		for (i = 0; i < ARRAY_SIZE(map_names); i++) {
			map = bpf_object__find_map_by_name(x->skel->obj, map_names[i]);
			err = map ? bpf_map__reuse_fd(map, pin.map_fd[i]) : -ENOENT;
			if (err) {
				pr_warn("adopt: reusing pinned map %s: %s\n", map_names[i],
					strerror(-err));
				goto err;
			}
		}
	}
	err = handle_load(x, !compat, "lb_xdp_adopt");
	if (err)
		goto err;
	if (compat) {
		x->abi_fd = pin.abi_fd;
		pin.abi_fd = -1;
		/* The process before us may have flipped a half and died
		 * before its grace period: wait for one before the first
		 * write into an idle copy. */
		x->tables.grace_pending = 1;
	} else {
		err = abi_create(x);
		if (err)
			goto err;
	}
	if (!pin_dir)
		goto done;

	if (pin.prog_fd >= 0)
		old_id = prog_id_of(pin.prog_fd);
	if (compat && pin.prog_fd >= 0 && same_build(x, pin.prog_fd)) {
		/* Keep the running program: its fd takes the place of the
		 * one just loaded, which dup2() frees; libbpf closes ours
		 * with the skeleton. */
		if (dup2(pin.prog_fd, bpf_program__fd(x->prog)) < 0) {
			err = -errno;
			pr_warn("adopt: keeping the pinned program: %s\n", strerror(-err));
			goto err;
		}
		keep = 1;
	}
	prog_id = prog_id_of(bpf_program__fd(x->prog));
	if (old_id && old_id != prog_id)
		x->replaced_prog_id = old_id;

	err = links_collect(x, pin_dir, prev);
	if (err)
		goto err;
	err = lb_bpffs_mkdir(pin_dir);
	if (err)
		goto err;

	/* What to pin anew: the program unless kept; the maps and the
	 * ABI stamp unless reused. */
	if (!keep)
		objs[n++] = (struct pin_obj){ LB_XDP_PROG_PIN, bpf_program__fd(x->prog) };
	if (!compat) {
		for (i = 0; i < ARRAY_SIZE(map_names); i++) {
			map = bpf_object__find_map_by_name(x->skel->obj, map_names[i]);
			objs[n++] = (struct pin_obj){ map_names[i], map ? bpf_map__fd(map) : -1 };
		}
		objs[n++] = (struct pin_obj){ LB_XDP_ABI_PIN, x->abi_fd };
	}
	for (staged = 0; staged < n; staged++) {
		err = pin_stage(&objs[staged], pin_dir);
		if (err)
			goto unstage;
	}
	err = links_switch(x, bpf_program__fd(x->prog), prog_id, prev);
	if (err)
		goto unstage;
	/* From here the interfaces run what we hold; a rename that fails
	 * (it should not, within one bpffs directory) is reported, and the
	 * next adoption re-checks whatever mix it left. */
	for (i = 0; i < n; i++) {
		err = pin_commit(&objs[i], pin_dir);
		if (err)
			goto err;
	}
	x->pin_dir = dir_copy;
	dir_copy = NULL;
	*adopted = compat;
	pr_info("adopt: %s: %s\n", pin_dir,
		keep ? "kept the running program and its maps" :
		compat ? "new program on the pinned maps" :
		pin.any ? "pinned program and maps replaced" : "nothing pinned: pinned a fresh program");
done:
	pinned_close(&pin);
	free(dir_copy);
	return x;

unstage:
	while (staged > 0)
		pin_unstage(&objs[--staged], pin_dir);
err:
	pinned_close(&pin);
	free(dir_copy);
	lb_xdp_close(x);
	errno = -err;
	return NULL;
}

/* 1 if the object pinned at path is fd's object. */
static int pin_names(int fd, const char *path)
{
	struct { __u32 type, id; } a = {0}, b = {0};
	__u32 la = sizeof(a), lb = sizeof(b);
	int old, same;

	old = bpf_obj_get(path);
	if (old < 0)
		return 0;
	same = !bpf_obj_get_info_by_fd(fd, &a, &la) && !bpf_obj_get_info_by_fd(old, &b, &lb) &&
	       a.type == b.type && a.id == b.id;
	close(old);
	return same;
}

static int unpin_one(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX];
	int err;

	if (fd < 0)
		return 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		pr_warn("unpin: path %s/%s too long\n", dir, name);
		return -ENAMETOOLONG;
	}
	if (!pin_names(fd, path))
		return 0;	/* not pinned there, or not ours: left alone */
	if (unlink(path)) {
		err = -errno;
		pr_warn("unpin: removing %s: %s\n", path, strerror(-err));
		return err;
	}
	return 0;
}

int lb_xdp_unpin(struct lb_xdp *x, const char *dir)
{
	char name[IF_NAMESIZE + 8];
	struct bpf_map *map;
	size_t i;
	int err = 0, e, ours;

	if (!x || !dir || !*dir)
		return -EINVAL;
	ours = x->pin_dir && !strcmp(x->pin_dir, dir);
	for (i = 0; i < LB_XDP_MAX_IFACES; i++) {
		struct xdp_iface *f = &x->ifaces[i];

		if (f->link_fd < 0 || !f->pinned || !ours)
			continue;
		snprintf(name, sizeof(name), LB_XDP_LINK_PIN_PREFIX "%s", f->ifname);
		e = unpin_one(f->link_fd, dir, name);
		if (e && !err)
			err = e;
		if (!e)
			f->pinned = 0;
	}
	e = unpin_one(bpf_program__fd(x->prog), dir, LB_XDP_PROG_PIN);
	if (e && !err)
		err = e;
	for (i = 0; i < ARRAY_SIZE(map_names); i++) {
		map = bpf_object__find_map_by_name(x->skel->obj, map_names[i]);
		e = map ? unpin_one(bpf_map__fd(map), dir, map_names[i]) : 0;
		if (e && !err)
			err = e;
	}
	e = unpin_one(x->abi_fd, dir, LB_XDP_ABI_PIN);
	if (e && !err)
		err = e;
	/* The directory goes if nothing else is left in it. */
	if (!err && rmdir(dir) && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT) {
		err = -errno;
		pr_warn("unpin: removing %s: %s\n", dir, strerror(-err));
	}
	if (ours && !err) {
		free(x->pin_dir);
		x->pin_dir = NULL;
	}
	return err;
}

int lb_xdp_attached(const struct lb_xdp *x, int ifindex)
{
	size_t i;

	if (ifindex <= 0)
		return 0;
	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		if (x->ifaces[i].ifindex == ifindex)
			return x->ifaces[i].link_fd >= 0 ? LB_XDP_ATTACHED_NATIVE :
							   LB_XDP_ATTACHED_GENERIC;
	return 0;
}

int lb_xdp_nr_attached(const struct lb_xdp *x)
{
	int n = 0;
	size_t i;

	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		n += x->ifaces[i].ifindex != 0;
	return n;
}

const char *lb_xdp_pin_dir(const struct lb_xdp *x)
{
	return x->pin_dir;
}

/* ---- publishing ---------------------------------------------------- */

int lb_xdp_set_config(struct lb_xdp *x, const struct lb_config *c)
{
	return lb_tables_set_config(&x->tables, c);
}

int lb_xdp_set_vips(struct lb_xdp *x, const struct lb_vip_entry *v, size_t n)
{
	return lb_tables_set_vips(&x->tables, v, n);
}

int lb_xdp_set_vip_flags(struct lb_xdp *x, __u32 vip_id, __u32 flags)
{
	return lb_tables_set_vip_flags(&x->tables, vip_id, flags);
}

int lb_xdp_set_ring(struct lb_xdp *x, __u32 vip_id, const __u32 *ring, __u32 m)
{
	return lb_tables_set_ring(&x->tables, vip_id, ring, m);
}

int lb_xdp_set_backend(struct lb_xdp *x, __u32 id, const struct lb_backend *b)
{
	return lb_tables_set_backend(&x->tables, id, b);
}

int lb_xdp_set_backend_state(struct lb_xdp *x, __u32 id, __u8 state)
{
	return lb_tables_set_backend_state(&x->tables, id, state);
}

/* ---- counters ------------------------------------------------------ */

/* Reads one PERCPU_ARRAY element into x->pcpu (nr_cpus values of
 * round_up(size, 8) bytes); all counter structs are __u64 arrays. */
static int pcpu_sum(struct lb_xdp *x, struct bpf_map *map, __u32 key, __u64 *out, size_t words)
{
	const __u64 *v = x->pcpu;
	__u32 c;
	size_t w;
	int err;

	if (bpf_map_lookup_elem(bpf_map__fd(map), &key, x->pcpu)) {
		err = -errno;
		pr_warn("lb_xdp: reading %s[%u]: %s\n", bpf_map__name(map), key, strerror(-err));
		return err;
	}
	memset(out, 0, words * sizeof(*out));
	for (c = 0; c < x->params.nr_cpus; c++)
		for (w = 0; w < words; w++)
			out[w] += v[(size_t)c * words + w];
	return 0;
}

int lb_xdp_vip_stats(struct lb_xdp *x, __u32 vip_id, struct lb_vip_stats *out)
{
	__u64 v[sizeof(*out) / 8];
	int err;

	if (vip_id >= x->params.max_vips || !out)
		return -EINVAL;
	err = pcpu_sum(x, x->skel->maps.vip_stats, vip_id, v, ARRAY_SIZE(v));
	if (!err)
		memcpy(out, v, sizeof(*out));
	return err;
}

int lb_xdp_backend_stats(struct lb_xdp *x, __u32 id, struct lb_backend_stats *out)
{
	__u64 v[sizeof(*out) / 8];
	int err;

	if (id >= x->params.max_backends || !out)
		return -EINVAL;
	err = pcpu_sum(x, x->skel->maps.backend_stats, id, v, ARRAY_SIZE(v));
	if (!err)
		memcpy(out, v, sizeof(*out));
	return err;
}

int lb_xdp_reason_stats(struct lb_xdp *x, struct lb_reason_stats out[LB_R_MAX])
{
	__u64 v[sizeof(out[0]) / 8];
	__u32 r;
	int err;

	if (!out)
		return -EINVAL;
	for (r = 0; r < LB_R_MAX; r++) {
		err = pcpu_sum(x, x->skel->maps.reason_stats, r, v, ARRAY_SIZE(v));
		if (err)
			return err;
		memcpy(&out[r], v, sizeof(out[r]));
	}
	return 0;
}

/* ---- flows --------------------------------------------------------- */

/* The table is written by the fast path while we read it: a way can be
 * replaced under us, so each way is copied out and its key checked on the
 * copy. The result is a snapshot, not a transaction. */

int lb_xdp_flow_lookup(struct lb_xdp *x, const struct lb_flow_key *key, __u32 *backend_id)
{
	const struct lb_params *p = &x->params;
	__u32 b, c, w;

	if (!key)
		return -EINVAL;
	if (key->family == LB_FAMILY_NONE)
		return -ENOENT;
	b = lb_flow_hash(key) & (p->flow_buckets - 1);
	for (c = 0; c < p->nr_cpus; c++) {
		const struct lb_flow_bucket *bk = &x->flows[(size_t)c * p->flow_buckets + b];

		for (w = 0; w < LB_FLOW_WAYS; w++) {
			struct lb_flow_key k;
			__u32 id;

			memcpy(&k, &bk->key[w], sizeof(k));
			id = __atomic_load_n(&bk->backend_id[w], __ATOMIC_RELAXED);
			if (k.family != LB_FAMILY_NONE && !memcmp(&k, key, sizeof(k))) {
				if (backend_id)
					*backend_id = id;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int lb_xdp_flow_foreach(struct lb_xdp *x,
			int (*fn)(const struct lb_flow_key *key, __u32 backend_id,
				  __u32 last_seen, void *arg),
			void *arg)
{
	size_t i, n = (size_t)x->params.nr_cpus * x->params.flow_buckets;
	__u32 w;
	int ret;

	if (!fn)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const struct lb_flow_bucket *bk = &x->flows[i];

		for (w = 0; w < LB_FLOW_WAYS; w++) {
			struct lb_flow_key k;

			memcpy(&k, &bk->key[w], sizeof(k));
			if (k.family == LB_FAMILY_NONE)
				continue;
			ret = fn(&k, __atomic_load_n(&bk->backend_id[w], __ATOMIC_RELAXED),
				 __atomic_load_n(&bk->last_seen[w], __ATOMIC_RELAXED), arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int lb_xdp_backend_get(struct lb_xdp *x, __u32 id, struct lb_backend *out)
{
	return lb_tables_backend_get(&x->tables, id, out);
}

int lb_xdp_vip_find(struct lb_xdp *x, const struct lb_vip_key *key, __u32 *vip_id)
{
	return lb_tables_vip_find(&x->tables, key, vip_id);
}
