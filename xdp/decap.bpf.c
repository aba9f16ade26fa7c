/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * decap.bpf.c - backend side of Sluice: strips the outer IP header of
 * IP-in-IP packets from the balancer (the encapsulation step of
 * docs/forwarding.md), since backends here have no ipip/ip6_tunnel
 * modules.
 *
 * A frame is "IP-in-IP" when, after Ethernet and at most two VLAN tags, it
 * holds a whole fixed outer header (20 bytes IPv4 / 40 bytes IPv6) of the
 * ethertype's version whose protocol / next header is 4 (IPv4) or 41
 * (IPv6). Anything shorter or different is the kernel's, untouched. An
 * IP-in-IP frame whose outer destination is not in decap_addrs is passed
 * untouched too. One addressed to us is decapsulated only if it is whole
 * and consistent: outer length within the frame, no outer fragment (we
 * cannot decapsulate a piece), inner header of the announced version and
 * inner length equal to the outer payload; otherwise it is dropped.
 *
 * Decapsulated, the L2 header (MACs and tags as they were) is moved up to
 * sit right before the inner header, its ethertype becomes the inner
 * family's, and the outer header leaves through bpf_xdp_adjust_head.
 * Ethernet padding after the outer packet stays; the kernel trims it.
 * IPv6 outer headers with extension headers before the inner packet are
 * not recognised (the balancer never writes any).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "compat.h"
#include "fwd.h"
#include "parse.h"
#include "encap.h"

/* decap_addrs entries; a backend has a handful of addresses. */
#define DECAP_MAX_ADDRS 256

/* Outer destinations we decapsulate for; value unused (1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_decap_key);
	__type(value, __u32);
	__uint(max_entries, DECAP_MAX_ADDRS);
} decap_addrs SEC(".maps");

/* Per-CPU {packets, bytes} by LB_DECAP_R_*; bytes of the frame received. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_reason_stats);
	__uint(max_entries, LB_DECAP_R_MAX);
} decap_stats SEC(".maps");

static __always_inline int decap_is_local(struct lb_decap_key *k)
{
	return bpf_map_lookup_elem(&decap_addrs, k) != NULL;
}

/* The inner packet at `in`, announced by protocol `proto`, must have a
 * header of that version and fill exactly `len` bytes (the outer payload,
 * already known to be inside the frame). */
static __always_inline int decap_inner_ok(void *in, void *data_end, __u8 proto, __u32 len)
{
	if (proto == IPPROTO_IPIP) {
		struct iphdr *ip = in;

		if ((void *)(ip + 1) > data_end)
			return 0;
		return ip->version == 4 && ip->ihl >= 5 && bpf_ntohs(ip->tot_len) == len &&
		       len >= ip->ihl * 4u;
	} else {
		struct ipv6hdr *ip6 = in;

		if ((void *)(ip6 + 1) > data_end)
			return 0;
		return ip6->version == 6 && bpf_ntohs(ip6->payload_len) + sizeof(*ip6) == len;
	}
}

static __always_inline int decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_decap_key key = {};
	struct lb_pkt pkt;
	__u32 outer_len, payload_len;
	__be16 proto;
	__u8 inner;
	void *l3;

	if (lb_parse_l2(data, data_end, &pkt, &proto) != LB_OK)
		return LB_DECAP_R_PASS_OTHER;
	l3 = data + pkt.l3_off;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		__u32 tot;

		if ((void *)(ip + 1) > data_end || ip->version != 4)
			return LB_DECAP_R_PASS_OTHER;
		inner = ip->protocol;
		if (inner != IPPROTO_IPIP && inner != IPPROTO_IPV6)
			return LB_DECAP_R_PASS_OTHER;
		key.family = LB_FAMILY_V4;
		key.addr.w[0] = ip->daddr;
		if (!decap_is_local(&key))
			return LB_DECAP_R_PASS_NOT_LOCAL;
		outer_len = ip->ihl * 4;
		tot = bpf_ntohs(ip->tot_len);
		if (outer_len < LB_IPV4_HDR_LEN || tot < outer_len || l3 + tot > data_end ||
		    (ip->frag_off & bpf_htons(LB_IP_MF | LB_IP_OFFSET)))
			return LB_DECAP_R_DROP_BAD;
		payload_len = tot - outer_len;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return LB_DECAP_R_PASS_OTHER;
		inner = ip6->nexthdr;
		if (inner != IPPROTO_IPIP && inner != IPPROTO_IPV6)
			return LB_DECAP_R_PASS_OTHER;
		key.family = LB_FAMILY_V6;
		__builtin_memcpy(&key.addr, &ip6->daddr, sizeof(key.addr));
		if (!decap_is_local(&key))
			return LB_DECAP_R_PASS_NOT_LOCAL;
		outer_len = LB_IPV6_HDR_LEN;
		payload_len = bpf_ntohs(ip6->payload_len);
		if (l3 + LB_IPV6_HDR_LEN + payload_len > data_end)
			return LB_DECAP_R_DROP_BAD;
	} else {
		return LB_DECAP_R_PASS_OTHER;
	}
	if (!decap_inner_ok(l3 + outer_len, data_end, inner, payload_len))
		return LB_DECAP_R_DROP_BAD;

	/* New L2 header: outer_len bytes further, ending at the inner header.
	 * Always inside a frame that holds the inner header; checked with the
	 * largest L2 length for the verifier's sake. */
	if (data + outer_len + lb_l2_len(LB_MAX_VLANS) > data_end)
		return LB_DECAP_R_DROP_BAD;
	lb_l2_move_back(data + outer_len, data, pkt.vlans);
	*lb_l2_proto(data + outer_len, pkt.vlans) =
		inner == IPPROTO_IPIP ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6);
	if (bpf_xdp_adjust_head(ctx, outer_len))
		return LB_DECAP_R_DROP_NO_ROOM;
	return LB_DECAP_R_DONE;
}

SEC("xdp")
int sluice_decap(struct xdp_md *ctx)
{
	__u64 bytes = ctx->data_end - ctx->data;
	__u32 r = decap(ctx);
	struct lb_reason_stats *st = bpf_map_lookup_elem(&decap_stats, &r);

	if (st) {
		st->packets++;
		st->bytes += bytes;
	}
	return r == LB_DECAP_R_DROP_BAD || r == LB_DECAP_R_DROP_NO_ROOM ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
