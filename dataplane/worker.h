/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker.h - the DPDK fast path's per-lcore forwarding: lib/pipeline.h run
 * over plain memory. No EAL call is made here, so the pipeline is tested
 * (parity with XDP, flow table, table swaps) without hugepages or ports;
 * the mbuf glue is in the caller.
 *
 * A worker owns its connection-table slice and its counters; the tables
 * (lib/tables.h) are shared read-only, changed only by lib/tables.c under
 * the grace period the caller supplies (rte_rcu_qsbr in sluice-dpdk).
 *
 * Names in dataplane/, one prefix per layer: lb_dp_* / LB_DP_* is this
 * layer, the pipeline over plain memory, which makes no EAL call (struct
 * lb_dp_worker: one lcore's pipeline state). dp_* / DP_* is the DPDK
 * process built on it (driver_dpdk.h, lcore.h, sluice_dpdk.c: struct
 * dp_runtime, the process's tables, qsbr, lcores and ports; struct
 * dp_lcore, a worker lcore holding its struct lb_dp_worker, TX buffers
 * and queues). The control plane's driver entry point is named by that
 * interface's rule (controlplane/driver.h), cp_driver_<fast path>_*:
 * cp_driver_dpdk_init, as cp_driver_xdp_open.
 */
#ifndef SLUICE_DP_WORKER_H
#define SLUICE_DP_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include "action.h"
#include "fwd.h"
#include "tables.h"

#define LB_DP_CACHE_LINE 64

/* One frame in a buffer: [head, end) is the room, [data, data_end) the
 * frame. The pipeline moves data (adjust head) and data_end (adjust
 * tail) within the room, as XDP does within its headroom and tailroom. */
struct lb_dp_frame {
	uint8_t *head;
	uint8_t *end;
	uint8_t *data;
	uint8_t *data_end;
	uint32_t ingress_ifindex;	/* the port the frame came in on */
	uint32_t out_ifindex;		/* set by a redirect */
};

/* Counters of one lcore, each array cache-line aligned; summed by the
 * control thread (driver_dpdk.c's cp_driver stats operations). */
struct lb_dp_counters {
	struct lb_reason_stats reason[LB_R_MAX] __attribute__((aligned(LB_DP_CACHE_LINE)));
	struct lb_vip_stats *vip;		/* max_vips */
	struct lb_backend_stats *backend;	/* max_backends */
};

struct lb_dp_worker {
	const struct lb_tables *t;
	struct lb_flow_bucket *flows;	/* params.flow_buckets, this lcore's only */
	struct lb_dp_counters c;
	uint32_t now;			/* jiffies-like clock, set per burst */
	/* Interfaces this worker may send out of (redirect targets). */
	uint32_t ifindex[8];
	uint32_t n_ifindex;
} __attribute__((aligned(LB_DP_CACHE_LINE)));

/* Allocates a worker's flow table and counters for t's params with
 * malloc (the DPDK process allocates them itself, with rte_zmalloc_socket
 * on the lcore's socket: dp_runtime_alloc). Returns 0 or -ENOMEM. */
int lb_dp_worker_init(struct lb_dp_worker *w, const struct lb_tables *t);
void lb_dp_worker_fini(struct lb_dp_worker *w);

/* Runs the pipeline over one frame: returns the LB_R_* reason, counted
 * in w's counters, with the frame rewritten in place. What becomes of the
 * frame is lb_reason_action(reason) (lib/action.h); LB_ACT_REDIRECT: out
 * frame->out_ifindex. */
int lb_dp_process(struct lb_dp_worker *w, struct lb_dp_frame *f);

/* The same over n frames, reasons[i] for f[i], with the results
 * lb_dp_process() gives them one after another: in groups of
 * LB_DP_BURST, every frame is parsed and hashed first and its
 * connection-table bucket prefetched, then each looks up and is
 * rewritten in order. LB_DP_BURST is also the burst sluice-dpdk
 * receives and buffers for TX at a time. */
#define LB_DP_BURST 32
void lb_dp_process_burst(struct lb_dp_worker *w, struct lb_dp_frame *f, int *reasons,
			 unsigned int n);

/* A jiffies-like clock (CLOCK_MONOTONIC_COARSE at LB_DP_HZ). */
#define LB_DP_HZ 250
uint32_t lb_dp_clock(void);

#endif /* SLUICE_DP_WORKER_H */
