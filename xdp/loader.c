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
#include "loader.h"
#include "sluice.skel.h"

/* Name of the forwarder's entry point; if the program is renamed the
 * loader falls back to the object's only XDP program. */
#define LB_XDP_PROG_NAME "sluice_xdp"

#define LB_XDP_MAX_IFACES 16

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
	int sync_pending;		/* a flip happened but its grace period failed */

	void *pcpu;			/* nr_cpus values of the largest counter struct */

	char *pin_dir;			/* set by lb_xdp_pin: later links pin there too */
	struct xdp_iface ifaces[LB_XDP_MAX_IFACES];
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

static int is_pow2(__u32 v)
{
	return v && !(v & (v - 1));
}

/* Fills zero fields with defaults and checks the rest. -EINVAL with a
 * message naming the field. */
static int params_check(struct lb_params *p)
{
	__u64 ring_ids;

	if (!p->vip_slots)
		p->vip_slots = LB_DEFAULT_VIP_SLOTS;
	if (!p->max_vips)
		p->max_vips = LB_DEFAULT_MAX_VIPS;
	if (!p->max_ring)
		p->max_ring = LB_DEFAULT_RING_SIZE;
	if (!p->max_backends)
		p->max_backends = LB_DEFAULT_MAX_BACKENDS;
	if (!p->flow_buckets)
		p->flow_buckets = LB_DEFAULT_FLOW_BUCKETS;

	/* vip_table has 2 * vip_slots entries. */
	if (!is_pow2(p->vip_slots) || p->vip_slots > (1u << 30)) {
		pr_warn("lb_xdp_open: vip_slots %u: must be a power of two <= 2^30\n",
			p->vip_slots);
		return -EINVAL;
	}
	/* The ring flip word keeps the size in 31 bits. */
	if (p->max_ring < 3 || !(p->max_ring & 1) || p->max_ring > (1u << 30)) {
		pr_warn("lb_xdp_open: max_ring %u: must be odd (a prime), >= 3 and <= 2^30\n",
			p->max_ring);
		return -EINVAL;
	}
	/* LB_VIP_ID_ADDR is not an index. */
	if (p->max_vips >= LB_VIP_ID_ADDR) {
		pr_warn("lb_xdp_open: max_vips %u: too large\n", p->max_vips);
		return -EINVAL;
	}
	/* The program indexes rings as one flat __u32 array. */
	ring_ids = (__u64)p->max_vips * 2 * LB_RING_STRIDE((__u64)p->max_ring);
	if (ring_ids > UINT32_MAX) {
		pr_warn("lb_xdp_open: max_vips %u x max_ring %u: rings exceed 2^32 entries\n",
			p->max_vips, p->max_ring);
		return -EINVAL;
	}
	/* LB_BACKEND_NONE is not an index. */
	if (p->max_backends >= LB_BACKEND_NONE) {
		pr_warn("lb_xdp_open: max_backends %u: too large\n", p->max_backends);
		return -EINVAL;
	}
	if (!is_pow2(p->flow_buckets) ||
	    (__u64)p->flow_buckets * p->nr_cpus > UINT32_MAX) {
		pr_warn("lb_xdp_open: flow_buckets %u: must be a power of two, x %u CPUs < 2^32\n",
			p->flow_buckets, p->nr_cpus);
		return -EINVAL;
	}
	return 0;
}

/* ---- open / close -------------------------------------------------- */

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
		pr_warn("lb_xdp_open: expected one XDP program in sluice.bpf.o, found %d\n", n);
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
		pr_warn("lb_xdp_open: mmap of map %s (%zu bytes): %s\n",
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
		pr_warn("lb_xdp_open: creating the grace-period inner map: %s\n", strerror(-err));
		return err;
	}
	opts.inner_map_fd = x->sync_inner_fd;
	x->sync_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "lb_sync",
				    sizeof(__u32), sizeof(__u32), 1, &opts);
	if (x->sync_fd < 0) {
		err = -errno;
		pr_warn("lb_xdp_open: creating the grace-period map: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

/* Waits until every XDP program that started before the call has
 * finished: the kernel calls synchronize_rcu() when an ARRAY_OF_MAPS
 * element is updated (see the top of this file). */
static int grace_period(struct lb_xdp *x)
{
	__u32 key = 0;
	int err;

	if (bpf_map_update_elem(x->sync_fd, &key, &x->sync_inner_fd, BPF_ANY)) {
		err = -errno;
		x->sync_pending = 1;
		pr_warn("lb_xdp: grace period (ARRAY_OF_MAPS update): %s\n", strerror(-err));
		return err;
	}
	x->sync_pending = 0;
	return 0;
}

/* Before writing an idle copy: a flip whose grace period failed must be
 * completed first, or a packet could still be reading that copy. */
static int idle_ready(struct lb_xdp *x)
{
	return x->sync_pending ? grace_period(x) : 0;
}

int lb_xdp_sync(struct lb_xdp *x)
{
	if (!x)
		return -EINVAL;
	return grace_period(x);
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
			pr_warn("lb_xdp_open: sizing map %s to %llu entries: %s\n",
				bpf_map__name(sizes[i].map), (unsigned long long)sizes[i].entries,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

struct lb_xdp *lb_xdp_open(const struct lb_params *params)
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
		pr_warn("lb_xdp_open: cannot count possible CPUs: %s\n", strerror(-err));
		errno = -err;
		return NULL;
	}
	p.nr_cpus = (__u32)ncpu;
	err = params_check(&p);
	if (err) {
		errno = -err;
		return NULL;
	}

	x = calloc(1, sizeof(*x));
	if (!x) {
		errno = ENOMEM;
		return NULL;
	}
	x->params = p;
	x->ring_stride = LB_RING_STRIDE(p.max_ring);
	x->sync_fd = -1;
	x->sync_inner_fd = -1;
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
		pr_warn("lb_xdp_open: opening sluice.bpf.o: %s\n", strerror(-err));
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

	err = sluice__load(skel);
	if (err) {
		pr_warn("lb_xdp_open: loading sluice.bpf.o: %s\n", strerror(-err));
		goto err;
	}

	if ((err = map_mmap(x, 0, skel->maps.lb_config, (void **)&x->cfg)) ||
	    (err = map_mmap(x, 1, skel->maps.vip_table, (void **)&x->vip_table)) ||
	    (err = map_mmap(x, 2, skel->maps.vip_meta, (void **)&x->vip_meta)) ||
	    (err = map_mmap(x, 3, skel->maps.rings, (void **)&x->rings)) ||
	    (err = map_mmap(x, 4, skel->maps.backends, (void **)&x->backends)) ||
	    (err = map_mmap(x, 5, skel->maps.flows, (void **)&x->flows)))
		goto err;

	/* fwd.h: a row that holds no ring is all LB_BACKEND_NONE. Nothing
	 * is attached yet, so plain stores are fine. */
	memset(x->rings, 0xff, (size_t)p.max_vips * 2 * x->ring_stride * sizeof(__u32));

	err = sync_create(x);
	if (err)
		goto err;

	pr_debug("lb_xdp_open: loaded: vip_slots %u max_vips %u max_ring %u max_backends %u flow_buckets %u nr_cpus %u\n",
		 p.vip_slots, p.max_vips, p.max_ring, p.max_backends, p.flow_buckets,
		 p.nr_cpus);
	return x;

err:
	lb_xdp_close(x);
	errno = -err;
	return NULL;
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

static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	char *s;

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (s = path + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		*s = c;
		if (c == '\0')
			break;
	}
	return 0;
}

/* Pins fd as dir/name. An existing pin of the same object is fine (pin is
 * idempotent); any other file there is -EEXIST. */
static int pin_fd(int fd, const char *dir, const char *name, const char *what)
{
	char path[PATH_MAX];
	int err, old;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		pr_warn("lb_xdp_pin: path %s/%s too long\n", dir, name);
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
	pr_warn("lb_xdp_pin: pinning %s at %s: %s\n", what, path, strerror(-err));
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
		pr_warn("lb_xdp_detach: unpinning %s: %s\n", path, strerror(errno));
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
	err = mkdir_p(dir);
	if (err) {
		pr_warn("lb_xdp_pin: creating %s: %s\n", dir, strerror(-err));
		return err;
	}
	err = pin_fd(bpf_program__fd(x->prog), dir, "prog", "program");
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(map_names); i++) {
		map = bpf_object__find_map_by_name(x->skel->obj, map_names[i]);
		if (!map) {
			pr_warn("lb_xdp_pin: map %s missing from the object\n", map_names[i]);
			return -ENOENT;
		}
		err = pin_fd(bpf_map__fd(map), dir, map_names[i], "map");
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
		pr_warn("lb_xdp_attach: ifindex %d: %s\n", ifindex, strerror(-err));
		return err;
	}
	if (iface_find(x, ifindex)) {
		pr_warn("lb_xdp_attach: already attached to %s\n", ifname);
		return -EEXIST;
	}
	f = iface_find(x, 0);
	if (!f) {
		pr_warn("lb_xdp_attach: %s: more than %d interfaces\n", ifname, LB_XDP_MAX_IFACES);
		return -ENOSPC;
	}

	if (flags & LB_XDP_ATTACH_GENERIC) {
		/* Netlink attach: there is no bpf_link for skb mode on
		 * every kernel we support. Never replace someone else's
		 * program. */
		if (bpf_xdp_attach(ifindex, prog_fd,
				   XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL)) {
			err = -errno;
			pr_warn("lb_xdp_attach: %s (generic mode): %s\n", ifname, strerror(-err));
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
				pr_warn("lb_xdp_attach: interface %s has no native XDP (%s); use generic mode explicitly (--xdp-generic)\n",
					ifname, strerror(-err));
				return -EOPNOTSUPP;
			}
			pr_warn("lb_xdp_attach: %s (native mode): %s\n", ifname, strerror(-err));
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
		pr_warn("lb_xdp_detach: not attached to ifindex %d\n", ifindex);
		return -ENOENT;
	}
	if (f->link_fd >= 0) {
		/* LINK_DETACH detaches even if the link is pinned. */
		if (bpf_link_detach(f->link_fd)) {
			err = -errno;
			pr_warn("lb_xdp_detach: %s: %s\n", f->ifname, strerror(-err));
			return err;
		}
		unpin_link(x, f);
		close(f->link_fd);
	} else {
		/* Remove only our own program (XDP_FLAGS_REPLACE). */
		xopts.old_prog_fd = bpf_program__fd(x->prog);
		if (bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, &xopts)) {
			err = -errno;
			pr_warn("lb_xdp_detach: %s (generic mode): %s\n", f->ifname, strerror(-err));
			return err;
		}
	}
	pr_info("sluice: detached from %s\n", f->ifname);
	memset(f, 0, sizeof(*f));
	f->link_fd = -1;
	return 0;
}

/* ---- publishing ---------------------------------------------------- */

int lb_xdp_set_config(struct lb_xdp *x, const struct lb_config *c)
{
	struct lb_config *cfg = x->cfg;

	if (!c)
		return -EINVAL;
	if (c->flags & ~(LB_CFG_F_ENTROPY_V4 | LB_CFG_F_ENTROPY_V6)) {
		pr_warn("lb_xdp_set_config: unknown flags %#x\n", c->flags);
		return -EINVAL;
	}
	/* Word by word; vip_gen and vip_seed are the VIP table's. The v6
	 * source is four words and has no flip of its own (see fwd.h). */
	__atomic_store_n(&cfg->encap_src4, c->encap_src4, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->entropy_mask4, c->entropy_mask4, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++)
		__atomic_store_n(&cfg->encap_src6.w[i], c->encap_src6.w[i], __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->entropy_mask6, c->entropy_mask6, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->flags, c->flags, __ATOMIC_RELEASE);
	return 0;
}

int lb_xdp_set_vips(struct lb_xdp *x, const struct lb_vip_entry *v, size_t n)
{
	const struct lb_params *p = &x->params;
	struct lb_config *cfg = x->cfg;
	__u32 idle, wild, seed = LB_VIP_SEED_START;
	size_t i;
	int err;

	if (n && !v)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (v[i].vip_id >= p->max_vips && v[i].vip_id != LB_VIP_ID_ADDR) {
			pr_warn("lb_xdp_set_vips: entry %zu: vip_id %u >= max_vips %u\n",
				i, v[i].vip_id, p->max_vips);
			return -EINVAL;
		}
	}
	err = idle_ready(x);
	if (err)
		return err;

	idle = 1 - (__atomic_load_n(&cfg->vip_gen, __ATOMIC_RELAXED) & 1);
	/* A fixed first seed: the same VIP set gives the same table. */
	err = lb_viptable_build(v, n, x->vip_table + (size_t)idle * p->vip_slots,
				p->vip_slots, &seed);
	if (err) {
		if (err == -ENOSPC)
			pr_warn("lb_xdp_set_vips: %zu keys do not fit in %u slots within %d probes\n",
				n, p->vip_slots, LB_VIP_PROBES);
		else
			pr_warn("lb_xdp_set_vips: invalid entries (duplicate key, bad family, or more than vip_slots/2 = %u)\n",
				p->vip_slots / 2);
		return err;
	}
	/* The fast path skips the wildcard probe when no such key exists;
	 * the bit of the idle half is written before the flip. */
	wild = 0;
	for (i = 0; i < n; i++)
		if (v[i].key.port == 0 && v[i].vip_id != LB_VIP_ID_ADDR)
			wild = 1;
	__atomic_store_n(&cfg->vip_wild,
			 (__atomic_load_n(&cfg->vip_wild, __ATOMIC_RELAXED) & ~(1u << idle)) |
				 (wild << idle), __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->vip_seed[idle], seed, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->vip_gen, idle, __ATOMIC_RELEASE);
	return grace_period(x);
}

int lb_xdp_set_vip_flags(struct lb_xdp *x, __u32 vip_id, __u32 flags)
{
	if (vip_id >= x->params.max_vips) {
		pr_warn("lb_xdp_set_vip_flags: vip_id %u >= max_vips %u\n",
			vip_id, x->params.max_vips);
		return -EINVAL;
	}
	if (flags & ~LB_VIP_F_AFFINITY) {
		pr_warn("lb_xdp_set_vip_flags: unknown flags %#x\n", flags);
		return -EINVAL;
	}
	__atomic_store_n(&x->vip_meta[vip_id].flags, flags, __ATOMIC_RELEASE);
	return 0;
}

int lb_xdp_set_ring(struct lb_xdp *x, __u32 vip_id, const __u32 *ring, __u32 m)
{
	const struct lb_params *p = &x->params;
	struct lb_vip_meta *meta;
	__u32 word, idle, i, *row;
	int err;

	if (vip_id >= p->max_vips) {
		pr_warn("lb_xdp_set_ring: vip_id %u >= max_vips %u\n", vip_id, p->max_vips);
		return -EINVAL;
	}
	if (m > p->max_ring || (m && !ring)) {
		pr_warn("lb_xdp_set_ring: vip %u: ring of %u entries (max_ring %u)\n",
			vip_id, m, p->max_ring);
		return -EINVAL;
	}
	for (i = 0; i < m; i++) {
		if (ring[i] >= p->max_backends && ring[i] != LB_BACKEND_NONE) {
			pr_warn("lb_xdp_set_ring: vip %u: entry %u names backend %u >= max_backends %u\n",
				vip_id, i, ring[i], p->max_backends);
			return -EINVAL;
		}
	}
	err = idle_ready(x);
	if (err)
		return err;

	meta = &x->vip_meta[vip_id];
	word = __atomic_load_n(&meta->ring, __ATOMIC_RELAXED);
	idle = 1 - LB_RING_HALF(word);
	row = x->rings + ((size_t)vip_id * 2 + idle) * x->ring_stride;
	if (m)
		memcpy(row, ring, (size_t)m * sizeof(*row));
	/* The rest of the row: LB_BACKEND_NONE, as fwd.h requires of an
	 * empty row, so no stale id of an older ring lingers. */
	memset(row + m, 0xff, (size_t)(x->ring_stride - m) * sizeof(*row));
	__atomic_store_n(&meta->ring, LB_RING_WORD(m, idle), __ATOMIC_RELEASE);
	return grace_period(x);
}

static int backend_same_identity(const struct lb_backend *a, const struct lb_backend *b)
{
	return !memcmp(&a->addr, &b->addr, sizeof(a->addr)) && a->family == b->family &&
	       a->gen == b->gen;
}

static int backend_same_nh(const struct lb_backend *a, const struct lb_backend *b)
{
	return a->nh_ifindex == b->nh_ifindex && a->nh_mtu == b->nh_mtu &&
	       !memcmp(a->nh_dmac, b->nh_dmac, sizeof(a->nh_dmac)) &&
	       !memcmp(a->nh_smac, b->nh_smac, sizeof(a->nh_smac));
}

static int backend_pristine(const struct lb_backend *a)
{
	static const struct lb_backend zero;

	return !memcmp(a, &zero, sizeof(zero));
}

int lb_xdp_set_backend(struct lb_xdp *x, __u32 id, const struct lb_backend *b)
{
	struct lb_backend *cur;
	struct lb_backend snap;
	int err;

	if (id >= x->params.max_backends) {
		pr_warn("lb_xdp_set_backend: id %u >= max_backends %u\n", id, x->params.max_backends);
		return -EINVAL;
	}
	if (!b || b->state > LB_BACKEND_DRAINING ||
	    (b->state != LB_BACKEND_UNUSED && b->family != LB_FAMILY_V4 &&
	     b->family != LB_FAMILY_V6) ||
	    (b->family == LB_FAMILY_V4 && (b->addr.w[1] | b->addr.w[2] | b->addr.w[3])) ||
	    (b->flags & ~LB_BACKEND_F_NH_VALID)) {
		pr_warn("lb_xdp_set_backend: id %u: bad state, family, address or flags\n", id);
		return -EINVAL;
	}
	cur = &x->backends[id];
	snap = *cur;

	if (!backend_same_identity(&snap, b) && !backend_pristine(&snap)) {
		/* fwd.h: addr/family/gen never change while the id is in
		 * use. Take the id out of use and let every packet that saw
		 * it in use finish before rewriting it. */
		__atomic_store_n(&cur->state, LB_BACKEND_UNUSED, __ATOMIC_RELEASE);
		err = grace_period(x);
		if (err)
			return err;
	} else if (!backend_same_nh(&snap, b) && (snap.flags & LB_BACKEND_F_NH_VALID)) {
		/* Same backend, new next hop: readers use the cache only
		 * under NH_VALID, so withdraw it before rewriting the MACs. */
		__atomic_store_n(&cur->flags, snap.flags & ~LB_BACKEND_F_NH_VALID,
				 __ATOMIC_RELEASE);
		err = grace_period(x);
		if (err)
			return err;
	}

	cur->addr = b->addr;
	cur->family = b->family;
	cur->gen = b->gen;
	cur->nh_ifindex = b->nh_ifindex;
	cur->nh_mtu = b->nh_mtu;
	memcpy(cur->nh_dmac, b->nh_dmac, sizeof(cur->nh_dmac));
	memcpy(cur->nh_smac, b->nh_smac, sizeof(cur->nh_smac));
	cur->pad0 = 0;
	memset(cur->pad1, 0, sizeof(cur->pad1));
	__atomic_store_n(&cur->flags, b->flags, __ATOMIC_RELEASE);
	/* Last: a reader that sees the new state sees everything above. */
	__atomic_store_n(&cur->state, b->state, __ATOMIC_RELEASE);
	return 0;
}

int lb_xdp_set_backend_state(struct lb_xdp *x, __u32 id, __u8 state)
{
	struct lb_backend *cur;

	if (id >= x->params.max_backends || state > LB_BACKEND_DRAINING) {
		pr_warn("lb_xdp_set_backend_state: id %u (max_backends %u), state %u\n",
			id, x->params.max_backends, state);
		return -EINVAL;
	}
	cur = &x->backends[id];
	if (state != LB_BACKEND_UNUSED && cur->family == LB_FAMILY_NONE) {
		pr_warn("lb_xdp_set_backend_state: id %u was never set\n", id);
		return -EINVAL;
	}
	__atomic_store_n(&cur->state, state, __ATOMIC_RELEASE);
	return 0;
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
