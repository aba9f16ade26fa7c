/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker.c - lib/pipeline.h in plain C for the DPDK workers: the same
 * decision and rewrite code the XDP program runs, over lib/tables.h
 * memory, this worker's connection-table slice and its counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "worker.h"

/* The worker lb_dp_process() runs for; the environment below reads its
 * tables. One worker per thread at a time. initial-exec: this code is
 * linked into executables only, and the default model for PIC code would
 * call __tls_get_addr on every packet (2-3% of a forwarded packet's
 * cycles in bench_dpdk). */
static __thread struct lb_dp_worker *lb_dp_cur __attribute__((tls_model("initial-exec")));

/* bpf_xdp_adjust_head/tail refuse to leave less than an Ethernet header. */
#define LB_DP_MIN_FRAME 14

/* --- The environment lib/pipeline.h runs in ---------------------------- */

#define LB_ENV_CTX struct lb_dp_frame
#define LB_ENV_PARAMS (lb_dp_cur->t->params)

#define lb_env_data(ctx) ((void *)(ctx)->data)
#define lb_env_data_end(ctx) ((void *)(ctx)->data_end)
#define lb_env_ingress_ifindex(ctx) ((ctx)->ingress_ifindex)
#define lb_env_cpu() 0u	/* the worker's flows are its own slice */
#define lb_env_now() (lb_dp_cur->now)
#define LB_ENV_HZ LB_DP_HZ

static __always_inline int lb_env_adjust_head(struct lb_dp_frame *f, int delta)
{
	uint8_t *data = f->data + delta;

	if (data < f->head || data > f->data_end - LB_DP_MIN_FRAME)
		return -1;
	f->data = data;
	return 0;
}

static __always_inline int lb_env_adjust_tail(struct lb_dp_frame *f, int delta)
{
	uint8_t *end = f->data_end + delta;

	if (end > f->end || end < f->data + LB_DP_MIN_FRAME)
		return -1;
	f->data_end = end;
	return 0;
}

/* Out another port of this worker; an interface no port stands for is
 * a route we cannot take (counted as drop_fib, as a failed XDP redirect). */
static __always_inline int lb_env_redirect(struct lb_dp_frame *f, uint32_t ifindex)
{
	for (uint32_t i = 0; i < lb_dp_cur->n_ifindex; i++) {
		if (lb_dp_cur->ifindex[i] == ifindex) {
			f->out_ifindex = ifindex;
			return 0;
		}
	}
	return -1;
}

#define LB_DP_GETTER(name, type, expr, limit)				\
	static __always_inline type *name(const __u32 *k)		\
	{								\
		return *k < (limit) ? (type *)(expr) + *k : NULL;	\
	}
LB_DP_GETTER(lb_env_vip_slot, struct lb_vip_slot, lb_dp_cur->t->vip_table,
	     2 * LB_ENV_PARAMS.vip_slots)
LB_DP_GETTER(lb_env_vip_meta, struct lb_vip_meta, lb_dp_cur->t->vip_meta,
	     LB_ENV_PARAMS.max_vips)
LB_DP_GETTER(lb_env_ring_pair, struct lb_ring_pair, lb_dp_cur->t->rings,
	     LB_ENV_PARAMS.max_vips * lb_dp_cur->t->ring_stride)
LB_DP_GETTER(lb_env_backend, struct lb_backend, lb_dp_cur->t->backends,
	     LB_ENV_PARAMS.max_backends)
LB_DP_GETTER(lb_env_flow_bucket, struct lb_flow_bucket, lb_dp_cur->flows,
	     LB_ENV_PARAMS.flow_buckets)
LB_DP_GETTER(lb_env_reason_stats, struct lb_reason_stats, lb_dp_cur->c.reason, LB_R_MAX)
LB_DP_GETTER(lb_env_vip_stats, struct lb_vip_stats, lb_dp_cur->c.vip, LB_ENV_PARAMS.max_vips)
LB_DP_GETTER(lb_env_backend_stats, struct lb_backend_stats, lb_dp_cur->c.backend,
	     LB_ENV_PARAMS.max_backends)

static __always_inline struct lb_config *lb_env_config(const __u32 *k)
{
	(void)k;
	return lb_dp_cur->t->cfg;
}

struct lb_backend;
struct lb_addr;
struct lb_nexthop;

/* No kernel FIB here: a backend whose next hop the control plane has not
 * resolved yet cannot be reached. */
static __always_inline int lb_env_fib(struct lb_dp_frame *f, const struct lb_backend *b,
				      const struct lb_addr *src, __u16 outer_len,
				      struct lb_nexthop *nh)
{
	(void)f;
	(void)b;
	(void)src;
	(void)outer_len;
	(void)nh;
	return LB_R_DROP_NO_NEIGH;
}

#include "pipeline.h"

/* --- The worker ---------------------------------------------------------- */

int lb_dp_process(struct lb_dp_worker *w, struct lb_dp_frame *f)
{
	int reason;

	lb_dp_process_burst(w, f, &reason, 1);
	return reason;
}

/* A frame between lb_prepare() and lb_finish(). */
struct lb_dp_staged {
	struct lb_pkt pkt;
	struct lb_verdict v;
	struct lb_prep pr;
	__u64 bytes;
	int prep;
};

/* Every line of a flow's bucket: 224 bytes over exactly four lines, as
 * the table is line aligned and a bucket starts on a line or half-way. */
static __always_inline void prefetch_bucket(__u32 hash)
{
	__u32 idx = lb_flow_bucket_index(hash);
	const char *b = (const char *)lb_env_flow_bucket(&idx);

	_Static_assert(sizeof(struct lb_flow_bucket) <= 4 * LB_DP_CACHE_LINE - 32,
		       "a bucket spans at most four lines");
	if (!b)
		return;
	for (int off = 0; off < 4 * LB_DP_CACHE_LINE; off += LB_DP_CACHE_LINE)
		__builtin_prefetch(b + off);
}

static void process_staged(struct lb_dp_frame *f, int *reasons, unsigned int n)
{
	struct lb_dp_staged st[LB_DP_BURST];

	/* Stage one reads no connection table, so running it for every
	 * frame first changes no frame's result; it leaves a burst of
	 * bucket loads in flight instead of one miss after another. */
	for (unsigned int i = 0; i < n; i++) {
		struct lb_dp_staged *s = &st[i];

		memset(&s->v, 0, sizeof(s->v));
		s->bytes = (__u64)(f[i].data_end - f[i].data);
		s->pr.cfg = NULL;
		s->pr.meta = NULL;
		s->prep = lb_prepare(&f[i], &s->pkt, &s->v, &s->pr);
		if (s->prep == LB_OK && s->pr.meta)	/* a TCP/UDP flow */
			prefetch_bucket(s->v.hash);
	}
	for (unsigned int i = 0; i < n; i++) {
		struct lb_dp_staged *s = &st[i];

		reasons[i] = lb_finish(&f[i], &s->pr, &s->pkt, &s->v, s->prep);
		lb_count(&s->v, reasons[i], s->bytes);
	}
}

void lb_dp_process_burst(struct lb_dp_worker *w, struct lb_dp_frame *f, int *reasons,
			 unsigned int n)
{
	lb_dp_cur = w;
	for (unsigned int i = 0; i < n; i += LB_DP_BURST)
		process_staged(f + i, reasons + i,
			       n - i < LB_DP_BURST ? n - i : LB_DP_BURST);
}

/* Zeroed memory on its own cache lines (no false sharing with the next
 * allocation). aligned_alloc() takes only sizes that are a multiple of
 * the alignment (C11 7.22.3.1; ASan aborts on others), so round up. */
static void *cache_line_zalloc(size_t n)
{
	size_t len = (n / LB_DP_CACHE_LINE + 1) * LB_DP_CACHE_LINE;
	void *p = aligned_alloc(LB_DP_CACHE_LINE, len);

	if (p)
		memset(p, 0, len);
	return p;
}

int lb_dp_worker_init(struct lb_dp_worker *w, const struct lb_tables *t)
{
	const struct lb_params *p = &t->params;

	memset(w, 0, sizeof(*w));
	w->t = t;
	/* Line aligned: prefetch_bucket() counts on it. */
	w->flows = cache_line_zalloc((size_t)p->flow_buckets * sizeof(*w->flows));
	w->c.vip = cache_line_zalloc((size_t)p->max_vips * sizeof(*w->c.vip));
	w->c.backend = cache_line_zalloc((size_t)p->max_backends * sizeof(*w->c.backend));
	if (!w->flows || !w->c.vip || !w->c.backend) {
		lb_dp_worker_fini(w);
		return -ENOMEM;
	}
	w->now = lb_dp_clock();
	return 0;
}

void lb_dp_worker_fini(struct lb_dp_worker *w)
{
	free(w->flows);
	free(w->c.vip);
	free(w->c.backend);
	w->flows = NULL;
	w->c.vip = NULL;
	w->c.backend = NULL;
}

uint32_t lb_dp_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * LB_DP_HZ + (uint64_t)ts.tv_nsec / (1000000000 / LB_DP_HZ));
}
