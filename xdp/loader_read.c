/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader_read.c - reads back what the fast path holds (loader.h): the
 * per-CPU counters summed, the connection table, and the backend and VIP
 * entries a restarted control plane takes its ids from.
 *
 * Threads: one handle is used by one thread at a time (loader.h); the
 * fast path writes the counters and flows while they are read.
 */
#define LB_LOG_PREFIX "loader: "

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd.h"
#include "hash.h"
#include "log.h"
#include "tables.h"
#include "loader_int.h"
#include "sluice.skel.h"

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
		pr_warn("reading %s[%u]: %s\n", bpf_map__name(map), key, strerror(-err));
		return err;
	}
	memset(out, 0, words * sizeof(*out));
	for (c = 0; c < x->tables.params.nr_cpus; c++)
		for (w = 0; w < words; w++)
			out[w] += v[(size_t)c * words + w];
	return 0;
}

int lb_xdp_vip_stats(struct lb_xdp *x, __u32 vip_id, struct lb_vip_stats *out)
{
	__u64 v[sizeof(*out) / 8];
	int err;

	if (vip_id >= x->tables.params.max_vips || !out)
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

	if (id >= x->tables.params.max_backends || !out)
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
	const struct lb_params *p = &x->tables.params;
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

/* The kernel's HZ as libbpf filled CONFIG_HZ in at load; 250, as the
 * program itself assumes, when the kernel does not publish its config. */
static __u32 kernel_hz(const struct lb_xdp *x)
{
	__u32 hz = x->skel->kconfig ? x->skel->kconfig->CONFIG_HZ : 0;

	return hz ? hz : 250;
}

/* The kernel's jiffies, which bpf_jiffies64() gives the program: the
 * "jiffies:" line of /proc/timer_list, else the same from
 * CLOCK_MONOTONIC (jiffies start 300 s before wrapping 32 bits at boot,
 * INITIAL_JIFFIES; the two clocks differ by the time before the first
 * tick, under a second). Only the low 32 bits are stored per flow. */
static __u32 kernel_jiffies(__u32 hz)
{
	FILE *f = fopen("/proc/timer_list", "re");
	unsigned long long j = 0;
	struct timespec ts;
	char line[128];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "jiffies: %llu", &j) == 1)
			break;
	if (f)
		fclose(f);
	if (j)
		return (__u32)j;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u32)((__u64)ts.tv_sec * hz + (__u64)ts.tv_nsec * hz / 1000000000u) -
	       300u * hz;
}

int lb_xdp_clock(const struct lb_xdp *x, __u32 *now, __u32 *hz)
{
	*hz = kernel_hz(x);
	*now = kernel_jiffies(*hz);
	return 0;
}

int lb_xdp_flow_foreach(struct lb_xdp *x,
			int (*fn)(const struct lb_flow_key *key, __u32 backend_id,
				  __u32 idle_ms, void *arg),
			void *arg)
{
	size_t n = (size_t)x->tables.params.nr_cpus * x->tables.params.flow_buckets;
	__u32 now, hz;

	lb_xdp_clock(x, &now, &hz);
	return lb_flows_foreach(x->flows, n, now, hz, fn, arg);
}

/* ---- table entries ------------------------------------------------- */

int lb_xdp_backend_get(struct lb_xdp *x, __u32 id, struct lb_backend *out)
{
	return lb_tables_backend_get(&x->tables, id, out);
}

int lb_xdp_vip_find(struct lb_xdp *x, const struct lb_vip_key *key, __u32 *vip_id)
{
	return lb_tables_vip_find(&x->tables, key, vip_id);
}
