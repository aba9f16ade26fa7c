/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sluice.bpf.c - the XDP load balancer: lib/pipeline.h over BPF maps
 * (lb_maps.h), with the kernel FIB as the next-hop fallback. Only the
 * environment and the XDP code of each action (lib/action.h) live here.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "action.h"
#include "fwd.h"
#include "lb_maps.h"

#define LB_AF_INET 2
#define LB_AF_INET6 10

/* --- The environment lib/pipeline.h runs in ---------------------------- */

#define LB_ENV_CTX struct xdp_md
#define LB_ENV_PARAMS lb_params

struct lb_backend;
struct lb_addr;
struct lb_nexthop;

#define lb_env_data(ctx) ((void *)(long)(ctx)->data)
#define lb_env_data_end(ctx) ((void *)(long)(ctx)->data_end)
#define lb_env_adjust_head(ctx, delta) bpf_xdp_adjust_head(ctx, delta)
#define lb_env_adjust_tail(ctx, delta) bpf_xdp_adjust_tail(ctx, delta)
#define lb_env_ingress_ifindex(ctx) ((ctx)->ingress_ifindex)
#define lb_env_redirect(ctx, ifindex) (bpf_redirect(ifindex, 0) != XDP_REDIRECT)
#define lb_env_cpu() bpf_get_smp_processor_id()
#define lb_env_now() bpf_jiffies64()

/* The kernel's HZ, the rate of bpf_jiffies64(), filled in by libbpf at
 * load from /proc/config.gz or /boot/config-$(uname -r). Weak: a kernel
 * that publishes neither loads with 0, and we assume 250 (the x86 and
 * arm64 default of most distributions); flow timeouts are then off by
 * the ratio of the real HZ to 250. */
extern unsigned int CONFIG_HZ __kconfig __weak;
#define LB_ENV_HZ (CONFIG_HZ ? CONFIG_HZ : 250u)

/* Map lookups take the key by address, as the helper does. */
#define lb_env_config(k) bpf_map_lookup_elem(&lb_config, k)
#define lb_env_vip_slot(k) bpf_map_lookup_elem(&vip_table, k)
#define lb_env_vip_meta(k) bpf_map_lookup_elem(&vip_meta, k)
#define lb_env_ring_pair(k) bpf_map_lookup_elem(&rings, k)
#define lb_env_backend(k) bpf_map_lookup_elem(&backends, k)
#define lb_env_flow_bucket(k) bpf_map_lookup_elem(&flows, k)
#define lb_env_reason_stats(k) bpf_map_lookup_elem(&reason_stats, k)
#define lb_env_vip_stats(k) bpf_map_lookup_elem(&vip_stats, k)
#define lb_env_backend_stats(k) bpf_map_lookup_elem(&backend_stats, k)

static __always_inline int lb_env_fib(struct xdp_md *ctx, const struct lb_backend *b,
				      const struct lb_addr *src, __u16 outer_len,
				      struct lb_nexthop *nh);

#include "pipeline.h"

/* The kernel's FIB, for backends whose next hop the control plane has not
 * cached (yet). */
static __always_inline int lb_env_fib(struct xdp_md *ctx, const struct lb_backend *b,
				      const struct lb_addr *src, __u16 outer_len,
				      struct lb_nexthop *nh)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	fib.ifindex = lb_env_ingress_ifindex(ctx);
	fib.tot_len = outer_len;
	if (b->family == LB_FAMILY_V4) {
		fib.family = LB_AF_INET;
		fib.ipv4_src = src->w[0];
		fib.ipv4_dst = b->addr.w[0];
	} else {
		fib.family = LB_AF_INET6;
		__builtin_memcpy(fib.ipv6_src, src, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &b->addr, sizeof(fib.ipv6_dst));
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		/* Same lookup without the MTU check, to learn the MTU. */
		nh->mtu = fib.mtu_result;
		return LB_OK;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return LB_R_DROP_NO_NEIGH;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return LB_R_DROP_FIB;
	nh->ifindex = fib.ifindex;
	nh->mtu = 0xffff;
	__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
	return LB_OK;
}

static __always_inline int xdp_action(enum lb_action a)
{
	switch (a) {
	case LB_ACT_TX:
		return XDP_TX;
	case LB_ACT_REDIRECT:
		return XDP_REDIRECT;
	case LB_ACT_PASS:
		return XDP_PASS;
	default:
		return XDP_DROP;
	}
}

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	__u64 bytes = ctx->data_end - ctx->data;
	struct lb_verdict v = {};
	struct lb_pkt pkt;
	int reason;

	reason = lb_process(ctx, &pkt, &v);
	lb_count(&v, reason, bytes);
	return xdp_action(lb_reason_action(reason));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
