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

/* The checksum of a full 32-bit sum of 16-bit words. 0x0000 comes out
 * only of a sum of -0, never of all-zero bytes (+0 gives 0xFFFF): right
 * for every header written here from scratch, each with a nonzero
 * version, type or pseudo-header. */
static __always_inline __u16 lb_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* One's-complement sum of n 16-bit words (n a constant at the call site). */
static __always_inline __u32 lb_csum_words(const void *p, int n, __u32 sum)
{
	const lb_alias_u16 *w = p;
	int i;

	LB_UNROLL
	for (i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

/* The checksum after a 16-bit field of the bytes it covers changed from
 * old to new: RFC 1624 eqn. 3, ~(~HC + ~m + m'). It gives what a
 * recomputation gives as long as the covered bytes cannot all be zero:
 * an IPv4 header (the version), TCP and ICMPv6 (the pseudo-header's
 * next header). Their sum is never +0, so a result of 0x0000 is the
 * complement of -0 and right (RFC 1624 section 3's own example). Bytes
 * that may all be zero take lb_csum_replace16_nz(). */
static __always_inline __u16 lb_csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32)new;

	return lb_csum_fold(sum);
}

/* The same for a checksum over bytes that may all be zero: ICMPv4, whose
 * echo reply of code 0, id 0, seq 0 and an empty or zero payload sums to
 * +0. A result of 0x0000 says the new sum is zero, not which zero: +0,
 * which only 0xFFFF verifies (a receiver adds the field in and wants -0,
 * RFC 1071; Linux counts anything else in IcmpInCsumErrors), or -0, which
 * 0x0000 and 0xFFFF verify alike. So never 0x0000. (UDP would take this
 * too, for RFC 768's reason: 0 there means "no checksum".) */
static __always_inline __u16 lb_csum_replace16_nz(__u16 check, __u16 old, __u16 new)
{
	__u16 c = lb_csum_replace16(check, old, new);

	return c ? c : 0xffff;
}

/* --- Outer headers ----------------------------------------------------- */

/* Folds a 64-bit sum of 32-bit words into a 16-bit one's complement sum. */
static __always_inline __u16 lb_csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return lb_csum_fold((__u32)(sum & 0xffff) + (__u32)(sum >> 16));
}

/* Fills a 20-byte IPv4 header. proto: IPPROTO_IPIP or IPPROTO_IPV6;
 * payload_len: the inner IP packet's length. DF as the inner packet had it;
 * ID 0 is then allowed (RFC 6864) and otherwise taken from the flow hash.
 * Five word stores and a checksum over the same words: the one's
 * complement sum of the words as they lie in memory is the checksum as it
 * lies in memory, on either byte order. */
static __always_inline void lb4_write_outer(struct iphdr *ip, __be32 src, __be32 dst, __u8 proto,
					    __u16 payload_len, __u8 tos, __u8 df, __u32 hash)
{
	lb_alias_u32 *o = (void *)ip;
	__u32 w0 = bpf_htonl(0x45000000u | ((__u32)tos << 16) | (__u16)(payload_len + 20));
	__u32 w1 = df ? bpf_htonl(LB_IP_DF) : bpf_htonl((__u32)(__u16)hash << 16);
	__u32 w2 = bpf_htonl(((__u32)LB_ENCAP_TTL << 24) | ((__u32)proto << 16));

	o[0] = w0;
	o[1] = w1;
	o[2] = w2;
	o[3] = src;
	o[4] = dst;
	((lb_alias_u16 *)o)[5] = lb_csum_fold64((__u64)w0 + w1 + w2 + src + dst);
}

/* Fills a 40-byte IPv6 header. nexthdr: IPPROTO_IPIP or IPPROTO_IPV6. The
 * flow label comes from the flow hash so that ECMP and the backend's RSS
 * spread flows. */
static __always_inline void lb6_write_outer(struct ipv6hdr *ip6, const struct lb_addr *src,
					    const struct lb_addr *dst, __u8 nexthdr,
					    __u16 payload_len, __u8 tclass, __u32 hash)
{
	lb_alias_u32 *o = (void *)ip6;

	o[0] = bpf_htonl((6u << 28) | ((__u32)tclass << 20) | (hash & 0xfffff));
	o[1] = bpf_htonl(((__u32)payload_len << 16) | ((__u32)nexthdr << 8) | LB_ENCAP_TTL);
	o[2] = src->w[0];
	o[3] = src->w[1];
	o[4] = src->w[2];
	o[5] = src->w[3];
	o[6] = dst->w[0];
	o[7] = dst->w[1];
	o[8] = dst->w[2];
	o[9] = dst->w[3];
}

/* --- L2 header moves --------------------------------------------------- */

/* Length of the L2 header with `vlans` tags. */
static __always_inline __u16 lb_l2_len(__u8 vlans)
{
	return sizeof(struct ethhdr) + vlans * sizeof(struct lb_vlan_hdr);
}

/* Copies the L2 header of `vlans` tags from `from` to a lower address `to`
 * (a header was inserted behind it), 2 bytes at a time in ascending
 * order, which is safe for the overlap. */
static __always_inline void lb_l2_move_front(void *to, const void *from, __u8 vlans)
{
	lb_alias_u16 *d = to;
	const lb_alias_u16 *s = from;
	int n = lb_l2_len(vlans) / 2, i;

	LB_UNROLL
	for (i = 0; i < (int)lb_l2_len(LB_MAX_VLANS) / 2; i++)
		if (i < n)
			d[i] = s[i];
}

/* Moves only the VLAN tags of an L2 header to a lower address: on encap
 * the MACs and the ethertype are rewritten anyway. */
static __always_inline void lb_l2_tags_move_front(void *to, const void *from, __u8 vlans)
{
	lb_alias_u32 *d = to + 2 * ETH_ALEN;
	const lb_alias_u32 *s = from + 2 * ETH_ALEN;

	if (vlans > 0)
		d[0] = s[0];
	if (vlans > 1)
		d[1] = s[1];
}

/* Copies it to a higher address (a header behind it was removed), in
 * descending order for the same reason. */
static __always_inline void lb_l2_move_back(void *to, const void *from, __u8 vlans)
{
	lb_alias_u16 *d = to;
	const lb_alias_u16 *s = from;
	int n = lb_l2_len(vlans) / 2, i;

	LB_UNROLL
	for (i = 0; i < (int)lb_l2_len(LB_MAX_VLANS) / 2; i++) {
		int j = (int)lb_l2_len(LB_MAX_VLANS) / 2 - 1 - i;

		if (j < n)
			d[j] = s[j];
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

/* --- ICMP the balancer sends ------------------------------------------ */

/* Largest quote of the offending packet in a too-big message: its IP
 * header (with options / extension headers) and 8 bytes of L4 -- the
 * ports and TCP sequence number the client's stack needs to find the
 * socket -- capped so the checksum loop stays bounded. */
#define LB_ICMP_QUOTE_MAX 112

/* Sum of n bytes at p (n <= max, both even; max a constant). Reads past
 * data_end are never made: the caller has checked p + n <= data_end. */
static __always_inline __u32 lb_csum_bytes(const void *p, const void *data_end, __u16 n,
					   __u32 sum)
{
	const lb_alias_u16 *w = p;
	int i;

	LB_UNROLL
	for (i = 0; i < LB_ICMP_QUOTE_MAX / 2 + 4; i++) {
		if (i * 2 >= n || (const void *)(w + i + 1) > data_end)
			break;
		sum += w[i];
	}
	return sum;
}

/* Writes the IPv4 header and ICMP "fragmentation needed" header in front
 * of a quote of quote_len bytes that already sits right after them
 * (RFC 792, RFC 1191 next-hop MTU). src: the VIP; dst: the client. */
static __always_inline void lb4_write_frag_needed(struct iphdr *ip, void *data_end, __be32 src,
						  __be32 dst, __u16 quote_len, __u16 mtu)
{
	struct lb_icmp_hdr *ic = (void *)(ip + 1);
	struct iphdr h = {};
	struct lb_icmp_hdr ich = {};

	h.version = 4;
	h.ihl = 5;
	h.tot_len = bpf_htons(sizeof(h) + sizeof(ich) + quote_len);
	h.ttl = LB_ENCAP_TTL;
	h.protocol = IPPROTO_ICMP;
	h.saddr = src;
	h.daddr = dst;
	h.check = lb_csum_fold(lb_csum_words(&h, sizeof(h) / 2, 0));
	__builtin_memcpy(ip, &h, sizeof(h));

	ich.type = LB_ICMP_DEST_UNREACH;
	ich.code = LB_ICMP_FRAG_NEEDED;
	ich.un1 = bpf_htons(mtu);
	__builtin_memcpy(ic, &ich, sizeof(ich));
	if ((void *)(ic + 1) > data_end)
		return;
	ic->checksum = lb_csum_fold(lb_csum_bytes(ic + 1, data_end, quote_len,
						  lb_csum_words(&ich, sizeof(ich) / 2, 0)));
}

/* Same for IPv6: ICMPv6 packet too big (RFC 4443 3.2), checksum over the
 * pseudo-header. */
static __always_inline void lb6_write_too_big(struct ipv6hdr *ip6, void *data_end,
					      const struct lb_addr *src, const struct lb_addr *dst,
					      __u16 quote_len, __u32 mtu)
{
	struct lb_icmp_hdr *ic = (void *)(ip6 + 1);
	struct lb_icmp_hdr ich = {};
	__u16 plen = sizeof(ich) + quote_len;
	__u32 sum;

	lb6_write_outer(ip6, src, dst, IPPROTO_ICMPV6, plen, 0, 0);
	ich.type = LB_ICMP6_PKT_TOOBIG;
	ich.un0 = bpf_htons(mtu >> 16);
	ich.un1 = bpf_htons(mtu & 0xffff);
	__builtin_memcpy(ic, &ich, sizeof(ich));
	if ((void *)(ic + 1) > data_end)
		return;
	sum = lb_csum_words(src, 8, 0);
	sum = lb_csum_words(dst, 8, sum);
	sum += bpf_htons(plen) + bpf_htons(IPPROTO_ICMPV6);
	sum = lb_csum_words(&ich, sizeof(ich) / 2, sum);
	ic->checksum = lb_csum_fold(lb_csum_bytes(ic + 1, data_end, quote_len, sum));
}

#endif /* SLUICE_LIB_ENCAP_H */
