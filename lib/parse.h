/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parse.h - header-only packet parsing over (data, data_end), shared by the
 * XDP program (clang -target bpf), the DPDK fast path and the tests.
 *
 * Every read is preceded by a bounds check against data_end, in the form
 * the BPF verifier accepts. The functions return LB_OK or an LB_R_* reason
 * from fwd.h; a packet that is cut short or inconsistent anywhere gets a
 * drop reason, never LB_OK.
 */
#ifndef SLUICE_LIB_PARSE_H
#define SLUICE_LIB_PARSE_H

#include "compat.h"
#include "fwd.h"

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#ifdef __bpf__
#include <linux/in.h>
#else
#include <netinet/in.h>
#endif

/* Not a reason: "go on". Distinct from every LB_R_* code. */
#define LB_OK 0xffu

#define LB_MAX_VLANS 2
#define LB_MAX_IPV6_EXT 3
#define LB_IP_DF 0x4000
#define LB_IP_MF 0x2000
#define LB_IP_OFFSET 0x1fff

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* ICMP and ICMPv6 share this 8-byte header shape. Our own, because
 * linux/icmp.h pulls in libc headers the BPF target cannot compile. */
struct lb_icmp_hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be16 un0;		/* echo id; frag-needed: unused; v6 too-big: MTU high */
	__be16 un1;		/* echo seq; frag-needed: next-hop MTU; v6: MTU low */
};

#define LB_ICMP_ECHOREPLY 0
#define LB_ICMP_DEST_UNREACH 3
#define LB_ICMP_FRAG_NEEDED 4	/* code of LB_ICMP_DEST_UNREACH */
#define LB_ICMP_ECHO 8
#define LB_ICMP6_PKT_TOOBIG 2
#define LB_ICMP6_ECHO_REQUEST 128
#define LB_ICMP6_ECHO_REPLY 129

struct lb_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* What the parser learnt. Offsets are from the start of the frame. */
struct lb_pkt {
	struct lb_flow_key key;	/* addresses, ports (0 for ICMP), proto, family */
	__u16 l3_off;		/* IP header */
	__u16 l4_off;		/* TCP/UDP/ICMP header */
	__u16 l3_len;		/* IP packet length from the IP header on */
	__u16 frame_len;	/* bytes from data to data_end */
	__u8 vlans;		/* tags between MACs and the IP ethertype */
	__u8 frag;		/* IPv4 MF/offset set, or an IPv6 fragment header */
	__u8 df;		/* IPv4 DF; always 1 for IPv6 (never fragmented en route) */
	__u8 tos;		/* IPv4 TOS / IPv6 traffic class */
	__u8 tcp_syn;		/* SYN without ACK: a new connection */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad;
};

/* Two 64-bit stores: the VIP key copies the address with 64-bit loads,
 * which a 32-bit store per word would stall (compat.h). */
static __always_inline void lb_addr_set4(struct lb_addr *a, __be32 v4)
{
	*(lb_alias_u64 *)&a->w[0] = LB_DWORD_OF(v4, 0);
	*(lb_alias_u64 *)&a->w[2] = 0;
}

static __always_inline void lb_addr_set6(struct lb_addr *a, const struct in6_addr *v6)
{
	__builtin_memcpy(a, v6, sizeof(*a));
}

/* Ports, proto and family: the key's last 8 bytes, written with one
 * store (LB_DWORD_OF). The pipeline reads them back as words (hash, key
 * compares, the VIP key's port+proto+family), and a word assembled from
 * narrower stores would wait for them to retire (compat.h). */
static __always_inline void lb_key_set_tail(struct lb_flow_key *k, __be16 sport, __be16 dport,
					    __u8 proto, __u8 family)
{
	*(lb_alias_u64 *)&k->sport = LB_DWORD_OF(LB_WORD_OF(sport, dport),
						 LB_WORD_OF(LB_HALF_OF(proto, family), 0));
}

/* Ethernet and up to two VLAN tags. Sets l3_off, vlans; *proto gets the
 * inner ethertype. */
static __always_inline int lb_parse_l2(void *data, void *data_end, struct lb_pkt *pkt,
				       __be16 *proto)
{
	struct ethhdr *eth = data;
	struct lb_vlan_hdr *vh;
	__u16 off = sizeof(*eth);
	__be16 p;
	int i;

	if ((void *)(eth + 1) > data_end)
		return LB_R_DROP_BAD_L2;
	p = eth->h_proto;
	pkt->vlans = 0;
	LB_UNROLL
	for (i = 0; i < LB_MAX_VLANS + 1; i++) {
		if (p != bpf_htons(ETH_P_8021Q) && p != bpf_htons(ETH_P_8021AD))
			break;
		if (i == LB_MAX_VLANS)
			return LB_R_DROP_BAD_L2;
		vh = data + off;
		if ((void *)(vh + 1) > data_end)
			return LB_R_DROP_BAD_L2;
		p = vh->proto;
		off += sizeof(*vh);
		pkt->vlans++;
	}
	pkt->l3_off = off;
	*proto = p;
	return LB_OK;
}

/* Ports or ICMP type from the L4 header at l4 of protocol proto; the
 * whole L4 header must be inside the IP packet (l3_end), which is inside
 * the frame. Completes the flow key (lb_key_set_tail). */
static __always_inline int lb_parse_l4(void *l4, void *l3_end, void *data_end,
				       struct lb_pkt *pkt, __u8 proto, __u8 family)
{
	__be16 sport = 0, dport = 0;

	if (l3_end > data_end)
		return LB_R_DROP_BAD_L3;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > l3_end || (void *)(th + 1) > data_end)
			return LB_R_DROP_BAD_L4;
		if (th->doff < 5 || l4 + th->doff * 4 > l3_end)
			return LB_R_DROP_BAD_L4;
		sport = th->source;
		dport = th->dest;
		pkt->tcp_syn = th->syn && !th->ack;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > l3_end || (void *)(uh + 1) > data_end)
			return LB_R_DROP_BAD_L4;
		sport = uh->source;
		dport = uh->dest;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		struct lb_icmp_hdr *ih = l4;

		if ((void *)(ih + 1) > l3_end || (void *)(ih + 1) > data_end)
			return LB_R_DROP_BAD_L4;
		pkt->icmp_type = ih->type;
		pkt->icmp_code = ih->code;
	}
	lb_key_set_tail(&pkt->key, sport, dport, proto, family);
	return LB_OK;
}

static __always_inline int lb4_parse(void *data, void *data_end, struct lb_pkt *pkt)
{
	struct iphdr *iph = data + pkt->l3_off;
	__u16 hlen, tot;

	if ((void *)(iph + 1) > data_end)
		return LB_R_DROP_BAD_L3;
	if (iph->version != 4 || iph->ihl < 5)
		return LB_R_DROP_BAD_L3;
	hlen = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	if (tot < hlen || (void *)iph + tot > data_end)
		return LB_R_DROP_BAD_L3;

	lb_addr_set4(&pkt->key.src, iph->saddr);
	lb_addr_set4(&pkt->key.dst, iph->daddr);
	pkt->l3_len = tot;
	pkt->l4_off = pkt->l3_off + hlen;
	pkt->tos = iph->tos;
	pkt->df = !!(iph->frag_off & bpf_htons(LB_IP_DF));
	pkt->frag = !!(iph->frag_off & bpf_htons(LB_IP_MF | LB_IP_OFFSET));
	if (pkt->frag) {
		/* no L4 header to trust */
		lb_key_set_tail(&pkt->key, 0, 0, iph->protocol, LB_FAMILY_V4);
		return LB_OK;
	}
	return lb_parse_l4((void *)iph + hlen, (void *)iph + tot, data_end, pkt, iph->protocol,
			   LB_FAMILY_V4);
}

/* Walks hop-by-hop, routing and destination options; a fragment header
 * marks the packet as a fragment and stops. */
static __always_inline int lb6_parse(void *data, void *data_end, struct lb_pkt *pkt)
{
	struct ipv6hdr *ip6 = data + pkt->l3_off;
	__u16 off = pkt->l3_off + sizeof(*ip6);
	__u8 nh;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return LB_R_DROP_BAD_L3;
	if (ip6->version != 6)
		return LB_R_DROP_BAD_L3;
	pkt->l3_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	if ((void *)ip6 + pkt->l3_len > data_end)
		return LB_R_DROP_BAD_L3;

	lb_addr_set6(&pkt->key.src, &ip6->saddr);
	lb_addr_set6(&pkt->key.dst, &ip6->daddr);
	pkt->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	pkt->df = 1;
	nh = ip6->nexthdr;
	LB_UNROLL
	for (i = 0; i < LB_MAX_IPV6_EXT + 1; i++) {
		struct ipv6_opt_hdr *eh = data + off;

		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING &&
		    nh != IPPROTO_DSTOPTS && nh != IPPROTO_FRAGMENT)
			break;
		if (i == LB_MAX_IPV6_EXT)
			return LB_R_DROP_IPV6_EXT;
		if ((void *)(eh + 1) > data_end || (void *)(eh + 1) > (void *)ip6 + pkt->l3_len)
			return LB_R_DROP_BAD_L3;
		if (nh == IPPROTO_FRAGMENT) {
			pkt->frag = 1;
			nh = eh->nexthdr;
			break;
		}
		nh = eh->nexthdr;
		off += (eh->hdrlen + 1) * 8;
	}
	pkt->l4_off = off;
	if (pkt->frag) {
		lb_key_set_tail(&pkt->key, 0, 0, nh, LB_FAMILY_V6);
		return LB_OK;
	}
	if ((void *)ip6 + pkt->l3_len < data + off)
		return LB_R_DROP_BAD_L3;
	return lb_parse_l4(data + off, (void *)ip6 + pkt->l3_len, data_end, pkt, nh, LB_FAMILY_V6);
}

/* Parses a frame up to its L4 header. Returns LB_OK, LB_R_PASS_NOT_IP for
 * a non-IP ethertype, or a drop reason. */
static __always_inline int lb_parse(void *data, void *data_end, struct lb_pkt *pkt)
{
	__be16 proto;
	int ret;

	__builtin_memset(pkt, 0, sizeof(*pkt));
	pkt->frame_len = data_end - data;
	ret = lb_parse_l2(data, data_end, pkt, &proto);
	if (ret != LB_OK)
		return ret;
	if (proto == bpf_htons(ETH_P_IP))
		return lb4_parse(data, data_end, pkt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return lb6_parse(data, data_end, pkt);
	return LB_R_PASS_NOT_IP;
}

/* Flow key of the packet an ICMP error quotes, turned around so that it is
 * the client->VIP direction (the quote is VIP->client). quote points at
 * the quoted IP header; the error itself was family `family` and ends at
 * l3_end (bytes after it are padding, not quote). Needs the quoted IP
 * header and the first 8 bytes of its L4 header. */
static __always_inline int lb_parse_icmp_quote(void *quote, void *l3_end, void *data_end,
					       __u8 family, struct lb_flow_key *key)
{
	__be16 *ports;
	__u8 proto;

	__builtin_memset(key, 0, sizeof(*key));
	if (family == LB_FAMILY_V4) {
		struct iphdr *iph = quote;

		if ((void *)(iph + 1) > data_end || iph->version != 4 || iph->ihl < 5)
			return LB_R_DROP_ICMP_QUOTE;
		ports = quote + iph->ihl * 4;
		if ((void *)(ports + 2) > data_end || (void *)(ports + 2) > l3_end)
			return LB_R_DROP_ICMP_QUOTE;
		proto = iph->protocol;
		lb_addr_set4(&key->src, iph->daddr);
		lb_addr_set4(&key->dst, iph->saddr);
	} else {
		struct ipv6hdr *ip6 = quote;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return LB_R_DROP_ICMP_QUOTE;
		ports = (void *)(ip6 + 1);
		if ((void *)(ports + 2) > data_end || (void *)(ports + 2) > l3_end)
			return LB_R_DROP_ICMP_QUOTE;
		proto = ip6->nexthdr;
		lb_addr_set6(&key->src, &ip6->daddr);
		lb_addr_set6(&key->dst, &ip6->saddr);
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return LB_R_DROP_ICMP_QUOTE;
	lb_key_set_tail(key, ports[1], ports[0], proto, family);
	return LB_OK;
}

#endif /* SLUICE_LIB_PARSE_H */
