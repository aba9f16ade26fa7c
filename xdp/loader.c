/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader.c - opens and loads sluice.bpf.c, maps its arrays and publishes
 * changes to them (loader.h). Pinning, attaching, adoption and read-back
 * live beside it (loader_int.h lists the files).
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
 * Logging: opening a handle routes libbpf's output through lib/log,
 * demoted one level (libbpf_set_print is process-wide).
 *
 * Threads: one handle is used by one thread at a time (loader.h).
 */
#define LB_LOG_PREFIX "loader: "

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd.h"
#include "log.h"
#include "tables.h"
#include "loader_int.h"
#include "sluice.skel.h"

/* Name of the forwarder's entry point; if the program is renamed the
 * loader falls back to the object's only XDP program. */
#define LB_XDP_PROG_NAME "sluice_xdp"

const char *const loader_map_names[] = {
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
_Static_assert(ARRAY_SIZE(loader_map_names) == LB_XDP_NR_MAPS,
	       "LB_XDP_NR_MAPS counts loader_map_names");

/* libbpf's callback type has an enum first argument, so the adapter lives
 * here (lib/ does not link libbpf); lib/log.c does the demotion. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return lb_log_libbpf_print((int)level, fmt, ap);
}

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
		pr_warn("expected one XDP program in sluice.bpf.o, found %d\n", n);
		return NULL;
	}
	return found;
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
			pr_warn("sizing map %s to %llu entries: %s\n",
				bpf_map__name(sizes[i].map), (unsigned long long)sizes[i].entries,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The sizes asked for, with the defaults filled in and the host's CPU
 * count; 0 or -errno, logged. */
static int params_resolve(const struct lb_params *params, struct lb_params *p)
{
	int ncpu;

	memset(p, 0, sizeof(*p));
	if (params)
		*p = *params;
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0) {
		ncpu = ncpu < 0 ? ncpu : -EINVAL;
		pr_warn("cannot count possible CPUs: %s\n", strerror(-ncpu));
		return ncpu;
	}
	p->nr_cpus = (__u32)ncpu;
	return lb_tables_params(p);
}

/* A handle with nothing open yet, for params p. NULL with errno set. */
static struct lb_xdp *handle_alloc(const struct lb_params *p)
{
	struct lb_xdp *x;
	__u32 i;

	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->tables.params = *p;
	x->sync_fd = -1;
	x->sync_inner_fd = -1;
	x->abi_fd = -1;
	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		x->ifaces[i].link_fd = -1;
	/* pcpu_sum's buffer: one value per CPU of the largest counter struct. */
	x->pcpu = calloc(p->nr_cpus, LB_PCPU_MAX_VALUE);
	if (!x->pcpu) {
		free(x);
		return NULL;
	}
	return x;
}

/* Opens sluice.bpf.o into x, sized for x's params; logged. */
static int object_open(struct lb_xdp *x)
{
	const struct lb_params *p = &x->tables.params;
	int err;

	x->skel = sluice__open();
	if (!x->skel) {
		err = -errno;
		pr_warn("opening sluice.bpf.o: %s\n", strerror(-err));
		return err;
	}
	x->skel->rodata->lb_params = *p;
	err = set_sizes(x->skel, p);
	if (err)
		return err;
	x->prog = find_prog(x->skel->obj);
	return x->prog ? 0 : -ENOENT;
}

struct lb_xdp *loader_handle_new(const struct lb_params *params)
{
	struct lb_params p;
	struct lb_xdp *x;
	int err;

	libbpf_set_print(libbpf_print);
	err = params_resolve(params, &p);
	if (err) {
		errno = -err;
		return NULL;
	}
	x = handle_alloc(&p);
	if (!x)
		return NULL;
	err = object_open(x);
	if (err) {
		lb_xdp_close(x);
		errno = -err;
		return NULL;
	}
	return x;
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
		pr_warn("mmap of map %s (%zu bytes): %s\n",
			bpf_map__name(map), len, strerror(-err));
		return err;
	}
	x->maps[i].addr = p;
	x->maps[i].len = len;
	*view = p;
	return 0;
}

static int maps_mmap(struct lb_xdp *x)
{
	struct lb_tables *t = &x->tables;
	const struct {
		struct bpf_map *map;
		void **view;
	} views[LB_XDP_NR_MMAPS] = {
		{ x->skel->maps.lb_config, (void **)&t->cfg },
		{ x->skel->maps.vip_table, (void **)&t->vip_table },
		{ x->skel->maps.vip_meta, (void **)&t->vip_meta },
		{ x->skel->maps.rings, (void **)&t->rings },
		{ x->skel->maps.backends, (void **)&t->backends },
		{ x->skel->maps.flows, (void **)&x->flows },
	};
	int i, err;

	for (i = 0; i < LB_XDP_NR_MMAPS; i++) {
		err = map_mmap(x, i, views[i].map, views[i].view);
		if (err)
			return err;
	}
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
		pr_warn("creating the grace-period inner map: %s\n", strerror(-err));
		return err;
	}
	opts.inner_map_fd = x->sync_inner_fd;
	x->sync_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "lb_sync",
				    sizeof(__u32), sizeof(__u32), 1, &opts);
	if (x->sync_fd < 0) {
		err = -errno;
		pr_warn("creating the grace-period map: %s\n", strerror(-err));
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
		pr_warn("grace period (ARRAY_OF_MAPS update): %s\n", strerror(-err));
		return err;
	}
	return 0;
}

int loader_handle_load(struct lb_xdp *x, int fresh)
{
	struct lb_params p = x->tables.params;
	int err;

	err = sluice__load(x->skel);
	if (err) {
		pr_warn("loading sluice.bpf.o: %s\n", strerror(-err));
		return err;
	}
	err = maps_mmap(x);
	if (err)
		return err;
	x->tables.grace = grace_period;
	x->tables.grace_arg = x;
	lb_tables_init(&x->tables, &p, fresh);
	return sync_create(x);
}

struct lb_xdp *lb_xdp_open(const struct lb_params *params)
{
	const struct lb_params *p;
	struct lb_xdp *x;
	int err;

	x = loader_handle_new(params);
	if (!x)
		return NULL;
	err = loader_handle_load(x, 1);
	if (err) {
		lb_xdp_close(x);
		errno = -err;
		return NULL;
	}
	p = &x->tables.params;
	pr_debug("loaded: vip_slots %u max_vips %u max_ring %u max_backends %u flow_buckets %u nr_cpus %u\n",
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
	for (i = 0; i < LB_XDP_NR_MMAPS; i++)
		if (x->maps[i].addr)
			munmap(x->maps[i].addr, x->maps[i].len);
	if (x->sync_fd >= 0)
		close(x->sync_fd);
	if (x->sync_inner_fd >= 0)
		close(x->sync_inner_fd);
	if (x->abi_fd >= 0)
		close(x->abi_fd);
	sluice__destroy(x->skel);
	lb_tables_fini(&x->tables);
	free(x->pin_dir);
	free(x->pcpu);
	free(x);
}

const struct lb_params *lb_xdp_params(const struct lb_xdp *x)
{
	return &x->tables.params;
}

int lb_xdp_prog_fd(const struct lb_xdp *x)
{
	return bpf_program__fd(x->prog);
}

struct loader_iface *loader_iface_find(struct lb_xdp *x, int ifindex)
{
	size_t i;

	for (i = 0; i < LB_XDP_MAX_IFACES; i++)
		if (x->ifaces[i].ifindex == ifindex)
			return &x->ifaces[i];
	return NULL;
}

struct bpf_map *loader_map(const struct lb_xdp *x, size_t i)
{
	return bpf_object__find_map_by_name(x->skel->obj, loader_map_names[i]);
}

int lb_xdp_map_fd(const struct lb_xdp *x, const char *name)
{
	struct bpf_map *map;
	size_t i;

	if (!name)
		return -ENOENT;
	for (i = 0; i < LB_XDP_NR_MAPS; i++) {
		if (strcmp(name, loader_map_names[i]))
			continue;
		map = loader_map(x, i);
		return map ? bpf_map__fd(map) : -ENOENT;
	}
	return -ENOENT;
}

int lb_xdp_sync(struct lb_xdp *x)
{
	if (!x)
		return -EINVAL;
	return lb_tables_sync(&x->tables);
}

int lb_xdp_batch_begin(struct lb_xdp *x)
{
	return x ? lb_tables_batch_begin(&x->tables) : -EINVAL;
}

int lb_xdp_batch_end(struct lb_xdp *x)
{
	return x ? lb_tables_batch_end(&x->tables) : -EINVAL;
}

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
