/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tables.h - the fast path's shared tables (lib/fwd.h layouts) and the one
 * protocol for changing them under running readers, used by both fast
 * paths: XDP over mmap'd BPF maps (xdp/loader.c), DPDK over its own memory
 * (dataplane/). Readers are lib/pipeline.h.
 *
 * Every table that can change as a whole (the VIP table, each VIP's ring)
 * has two halves and a flip word: a writer fills the idle half, publishes
 * it with one release store of the flip word, then waits a grace period
 * (XDP: the kernel's RCU; DPDK: rte_rcu_qsbr) before that half may be
 * written again. A backend entry changes identity only after its state was
 * set unused and a grace period passed. So no reader ever sees a half-built
 * ring or a backend that changed under it.
 *
 * A batch (lb_tables_batch_begin/end) publishes many writes under one
 * grace period: inside it a flip does not wait, the writer only notes
 * which halves it flipped and which backend ids it took out of use since
 * the last grace period. A write into such a half, or a new identity for
 * such an id, waits a grace period first; batch_end waits the one grace
 * period that covers the rest. Outside a batch every write is a batch of
 * its own, as before.
 *
 * All calls from one writer thread; they return 0 or -errno (-EINVAL for
 * out-of-range arguments, the grace callback's error otherwise).
 */
#ifndef SLUICE_LIB_TABLES_H
#define SLUICE_LIB_TABLES_H

#include <stddef.h>
#include "fwd.h"
#include "viptable.h"

struct lb_tables {
	struct lb_params params;
	struct lb_config *cfg;			/* one */
	struct lb_vip_slot *vip_table;		/* 2 * vip_slots */
	struct lb_vip_meta *vip_meta;		/* max_vips */
	__u32 *rings;				/* max_vips * 2 rows of ring_stride */
	__u32 ring_stride;			/* LB_RING_STRIDE(max_ring) */
	struct lb_backend *backends;		/* max_backends */
	/* Returns once no reader can still be using what was live before
	 * the call; 0 or -errno. */
	int (*grace)(void *arg);
	void *grace_arg;
	int grace_pending;			/* a flip whose grace period failed */
	/* The writer's own bookkeeping (batch_begin allocates it): epoch
	 * counts completed grace periods from 1; a row whose mark equals it
	 * was flipped (rings, VIP table) or taken out of use (backends)
	 * since the last one. */
	__u32 epoch;
	__u32 vip_flip;
	__u32 *ring_flip;			/* max_vips */
	__u32 *retired;				/* max_backends */
	int batch;				/* inside batch_begin/end */
	int dirty;				/* a mark of this epoch exists */
	unsigned long long graces;		/* grace periods waited, ever */
};

/* Fills p's zero fields with the defaults and checks the rest against
 * what the tables and both fast paths can index (p->nr_cpus set first).
 * 0, or -EINVAL logged as "tables: params: field ...". */
int lb_tables_params(struct lb_params *p);

/* Bytes of each table for params p (all zero-initialised by the caller,
 * except rings: lb_tables_init() fills them with LB_BACKEND_NONE). */
size_t lb_tables_rings_bytes(const struct lb_params *p);

/* Sets up t over caller-provided memory; fills the rings with
 * LB_BACKEND_NONE when fresh. t is zeroed before its first init; a later
 * init (other maps) drops the batch bookkeeping (lb_tables_fini). */
void lb_tables_init(struct lb_tables *t, const struct lb_params *p, int fresh);

/* A grace period now (after a failed one, or before freeing memory). */
int lb_tables_sync(struct lb_tables *t);

/* Frees the batch bookkeeping (not the tables: they are the caller's). */
void lb_tables_fini(struct lb_tables *t);

/* A batch: the writes between begin and end are published with one grace
 * period, waited by end (only if something was flipped or taken out of
 * use). end must follow begin on every path; batches do not nest
 * (-EBUSY). begin: 0 or -ENOMEM; end: 0 or the grace callback's error. */
int lb_tables_batch_begin(struct lb_tables *t);
int lb_tables_batch_end(struct lb_tables *t);

int lb_tables_set_config(struct lb_tables *t, const struct lb_config *c);
int lb_tables_set_vips(struct lb_tables *t, const struct lb_vip_entry *v, size_t n);
int lb_tables_set_vip_flags(struct lb_tables *t, __u32 vip_id, __u32 flags);
int lb_tables_set_ring(struct lb_tables *t, __u32 vip_id, const __u32 *ring, __u32 m);
int lb_tables_set_backend(struct lb_tables *t, __u32 id, const struct lb_backend *b);
int lb_tables_set_backend_state(struct lb_tables *t, __u32 id, __u8 state);

/* Read-back for the control plane. */
int lb_tables_backend_get(const struct lb_tables *t, __u32 id, struct lb_backend *out);
int lb_tables_vip_find(const struct lb_tables *t, const struct lb_vip_key *key, __u32 *vip_id);

/* Every flow of the n connection-table buckets at bk, with how long it
 * has been idle: now and each way's last_seen are ticks of the fast
 * path's clock at hz per second (32 bits, wrapping; a way stamped after
 * now counts as idle 0). Each way is copied before it is judged, since
 * the fast path writes while this reads. A nonzero return of fn stops
 * the walk and is returned; -EINVAL for a NULL fn or hz 0. Any thread. */
int lb_flows_foreach(const struct lb_flow_bucket *bk, size_t n, __u32 now, __u32 hz,
		     int (*fn)(const struct lb_flow_key *key, __u32 backend_id, __u32 idle_ms,
			       void *arg),
		     void *arg);

#endif /* SLUICE_LIB_TABLES_H */
