/* SPDX-License-Identifier: Apache-2.0 */
/*
 * driver.h - what the control plane needs from a fast path. Two drivers
 * implement it: XDP (driver_xdp.c, over xdp/loader.h) and DPDK
 * (dataplane/driver_dpdk.c, over lib/tables.h), so the rest of the
 * control plane does not know which one runs. Semantics of each call:
 * xdp/loader.h and lib/tables.h.
 * All return 0 or -errno; called from sluiced's one control thread.
 */
#ifndef SLUICE_CP_DRIVER_H
#define SLUICE_CP_DRIVER_H

#include <stddef.h>
#include <stdio.h>
#include "fwd.h"
#include "viptable.h"

struct cp_driver_ops {
	const char *name;	/* "xdp", "dpdk", "mock" */
	/* 1: a backend whose next-hop cache is invalid is still forwarded,
	 * through a FIB lookup per packet (XDP's bpf_fib_lookup), so a big
	 * batch may push its new backends unresolved and resolve them right
	 * after (model_push.c). 0: the cache is the only way out (DPDK). */
	int fib_fallback;
	const struct lb_params *(*params)(void *ctx);
	int (*attach)(void *ctx, const char *ifname);
	int (*detach)(void *ctx, const char *ifname);
	int (*set_config)(void *ctx, const struct lb_config *cfg);
	int (*set_vips)(void *ctx, const struct lb_vip_entry *v, size_t n);
	int (*set_vip_flags)(void *ctx, __u32 vip_id, __u32 flags);
	int (*set_ring)(void *ctx, __u32 vip_id, const __u32 *ring, __u32 m);
	int (*set_backend)(void *ctx, __u32 id, const struct lb_backend *b);
	int (*set_backend_state)(void *ctx, __u32 id, __u8 state);
	/* Optional (NULL: every write waits its own grace period): the
	 * writes between begin and end are published under one grace
	 * period, which end waits (lib/tables.h). end may run on another
	 * thread than the writes while the control thread only reads. */
	int (*batch_begin)(void *ctx);
	int (*batch_end)(void *ctx);
	int (*vip_stats)(void *ctx, __u32 vip_id, struct lb_vip_stats *out);
	int (*backend_stats)(void *ctx, __u32 id, struct lb_backend_stats *out);
	int (*reason_stats)(void *ctx, struct lb_reason_stats out[LB_R_MAX]);
	/* Every flow with the time since its last packet (ms). */
	int (*flow_foreach)(void *ctx,
			    int (*fn)(const struct lb_flow_key *key, __u32 backend_id,
				      __u32 idle_ms, void *arg),
			    void *arg);
	/* Read back what the fast path holds (optional: NULL when the
	 * fast path keeps nothing across a restart). */
	int (*backend_get)(void *ctx, __u32 id, struct lb_backend *out);
	int (*vip_find)(void *ctx, const struct lb_vip_key *key, __u32 *vip_id);
	/* Families of the fast path's own (optional), appended to /metrics
	 * in the exposition format with HELP and TYPE: what one fast path
	 * has and the other lacks (DPDK's ports and exception path). */
	int (*write_metrics)(void *ctx, FILE *f);
	void (*close)(void *ctx);
};

struct cp_driver {
	const struct cp_driver_ops *ops;
	void *ctx;
};

#endif /* SLUICE_CP_DRIVER_H */
