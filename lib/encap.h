/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encap.h - header writers shared by XDP, DPDK and tests: checksums, the
 * outer IPv4/IPv6 header of IP-in-IP, moving the L2 header when a header is
 * inserted or removed behind it, and the ICMP messages the balancer sends.
 *
 * The callers own buffer growth (bpf_xdp_adjust_head, rte_pktmbuf_prepend);
 * these functions only write bytes already known to be inside the frame.
 */
#ifndef SLUICE_LIB_ENCAP_H
#define SLUICE_LIB_ENCAP_H

#include "compat.h"
#include "fwd.h"
#include "parse.h"

/* --- Internet checksum ------------------------------------------------ */

static __always_inline __u16 lb_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* One's-complement sum of n 16-bit words (n a constant at the call site). */
static __always_inline __u32 lb_csum_words(const void *p, int n, __u32 sum)
{
	const __u16 *w = p;
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

/* RFC 1624 incremental update of a checksum for a 16-bit field change. */
static __always_inline __u16 lb_csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32)new;

	return lb_csum_fold(sum);
}

/* --- Outer headers ----------------------------------------------------- */

/* Fills a 20-byte IPv4 header. proto: IPPROTO_IPIP or IPPROTO_IPV6;
 * payload_len: the inner IP packet's length. DF as the inner packet had it;
 * ID 0 is then allowed (RFC 6864) and otherwise taken from the flow hash. */
static __always_inline void lb4_write_outer(struct iphdr *ip, __be32 src, __be32 dst, __u8 proto,
					    __u16 payload_len, __u8 tos, __u8 df, __u32 hash)
{
	struct iphdr h = {};

	h.version = 4;
	h.ihl = 5;
	h.tos = tos;
	h.tot_len = bpf_htons(payload_len + sizeof(h));
	h.id = df ? 0 : bpf_htons((__u16)hash);
	h.frag_off = df ? bpf_htons(LB_IP_DF) : 0;
	h.ttl = LB_ENCAP_TTL;
	h.protocol = proto;
	h.saddr = src;
	h.daddr = dst;
	h.check = lb_csum_fold(lb_csum_words(&h, sizeof(h) / 2, 0));
	__builtin_memcpy(ip, &h, sizeof(h));
}

/* Fills a 40-byte IPv6 header. nexthdr: IPPROTO_IPIP or IPPROTO_IPV6. The
 * flow label comes from the flow hash so that ECMP and the backend's RSS
 * spread flows. */
static __always_inline void lb6_write_outer(struct ipv6hdr *ip6, const struct lb_addr *src,
					    const struct lb_addr *dst, __u8 nexthdr,
					    __u16 payload_len, __u8 tclass, __u32 hash)
{
	struct ipv6hdr h = {};

	h.version = 6;
	h.priority = tclass >> 4;
	h.flow_lbl[0] = ((tclass & 0xf) << 4) | ((hash >> 16) & 0xf);
	h.flow_lbl[1] = hash >> 8;
	h.flow_lbl[2] = hash;
	h.payload_len = bpf_htons(payload_len);
	h.nexthdr = nexthdr;
	h.hop_limit = LB_ENCAP_TTL;
	__builtin_memcpy(&h.saddr, src, sizeof(h.saddr));
	__builtin_memcpy(&h.daddr, dst, sizeof(h.daddr));
	__builtin_memcpy(ip6, &h, sizeof(h));
}

/* --- L2 header moves --------------------------------------------------- */

/* Length of the L2 header with `vlans` tags. */
static __always_inline __u16 lb_l2_len(__u8 vlans)
{
	return sizeof(struct ethhdr) + vlans * sizeof(struct lb_vlan_hdr);
}

/* Copies the L2 header from `from` to `to`, 2 bytes at a time in the
 * direction that is safe for an overlap: ascending when the header moves
 * towards the front (encap), descending when it moves back (decap). */
static __always_inline void lb_l2_move(void *to, const void *from, __u8 vlans)
{
	__u16 *d = to;
	const __u16 *s = from;
	int n = lb_l2_len(vlans) / 2, i;

	if (to < from) {
#pragma unroll
		for (i = 0; i < (int)lb_l2_len(LB_MAX_VLANS) / 2; i++)
			if (i < n)
				d[i] = s[i];
	} else {
#pragma unroll
		for (i = (int)lb_l2_len(LB_MAX_VLANS) / 2 - 1; i >= 0; i--)
			if (i < n)
				d[i] = s[i];
	}
}

/* The ethertype field of an L2 header with `vlans` tags. */
static __always_inline __be16 *lb_l2_proto(void *l2, __u8 vlans)
{
	return l2 + lb_l2_len(vlans) - sizeof(__be16);
}

static __always_inline void lb_eth_swap(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

static __always_inline void lb_eth_set(struct ethhdr *eth, const __u8 *dmac, const __u8 *smac)
{
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
}

#endif /* SLUICE_LIB_ENCAP_H */
