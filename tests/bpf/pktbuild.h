/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pktbuild.h - the packet builder of the BPF tests.
 *
 * Builds frames byte by byte from a description (struct pb_pkt):
 * Ethernet with 0-3 tags, IPv4 (options, DF, MF/offset, TTL, TOS, ID),
 * IPv6 (traffic class, flow label, optional fragment header), TCP and UDP
 * with correct checksums, ICMP and ICMPv6 echo and errors (quoting a given
 * packet), any other protocol as raw payload; and, from a given frame, the
 * IP-in-IP frame the balancer is expected to send (pb_encap).
 *
 * Independent on purpose: its own header layout, parsing and checksum
 * code, nothing from lib/parse.h or lib/encap.h, so a bug there cannot
 * hide in an expected packet. Every multi-byte field is written big-endian
 * byte by byte; no struct is overlaid on a buffer.
 *
 * Every builder writes into a caller buffer of cap bytes and returns the
 * number of bytes written, or 0 if they do not fit or the description is
 * invalid (unknown address, families of src and dst differ, options not a
 * multiple of 4). Header-only; single-threaded use (no shared state).
 */
#ifndef SLUICE_TESTS_PKTBUILD_H
#define SLUICE_TESTS_PKTBUILD_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PB_ETH_IP 0x0800
#define PB_ETH_IPV6 0x86dd
#define PB_ETH_ARP 0x0806
#define PB_ETH_VLAN 0x8100
#define PB_ETH_QINQ 0x88a8

#define PB_P_ICMP 1
#define PB_P_IPIP 4
#define PB_P_TCP 6
#define PB_P_UDP 17
#define PB_P_IPV6 41
#define PB_P_FRAG 44
#define PB_P_ICMPV6 58

#define PB_TCP_FIN 0x01
#define PB_TCP_SYN 0x02
#define PB_TCP_RST 0x04
#define PB_TCP_PSH 0x08
#define PB_TCP_ACK 0x10

#define PB_MAX_TAGS 3		/* 3: a frame the balancer must refuse */
#define PB_TTL_DEFAULT 64
#define PB_QUOTE_ALL ((size_t)-1)	/* quote_len: the whole quoted packet */

/* A frame to build. Zero fields take the defaults named here. */
struct pb_pkt {
	/* L2 */
	uint8_t dmac[6];
	uint8_t smac[6];
	int tags;			/* VLAN tags, 0..PB_MAX_TAGS */
	uint16_t tpid[PB_MAX_TAGS];	/* 0: 0x8100 */
	uint16_t tci[PB_MAX_TAGS];
	uint16_t ethertype;		/* 0: from the IP family; else raw payload follows */
	size_t pad_to;			/* pad the frame up to this length (Ethernet minimum: 60) */
	uint8_t pad_byte;		/* value of the padding bytes */

	/* L3: the family is that of the address strings */
	const char *src;
	const char *dst;
	uint8_t tos;			/* IPv4 TOS / IPv6 traffic class */
	uint8_t ttl;			/* TTL / hop limit; 0: PB_TTL_DEFAULT */
	uint16_t ip_id;			/* IPv4 identification */
	int df;				/* IPv4 don't fragment */
	int mf;				/* more fragments (IPv4 flag, IPv6 fragment header M) */
	uint16_t frag_off;		/* fragment offset in 8-byte units; not 0: the
					 * L4 part is the raw payload, no header */
	const uint8_t *ip_opts;		/* IPv4 options, ip_opts_len a multiple of 4, <= 40 */
	size_t ip_opts_len;
	uint32_t flow_label;		/* IPv6, low 20 bits */
	int frag6;			/* IPv6: insert a fragment header */
	uint32_t frag6_id;
	uint8_t proto;			/* L4 protocol (next header after any fragment header) */

	/* L4 */
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t tcp_flags;		/* PB_TCP_* */
	uint16_t window;
	uint8_t icmp_type;
	uint8_t icmp_code;
	/* The 4 bytes after the ICMP checksum, host order: echo
	 * (id << 16) | seq; v4 frag-needed: the next-hop MTU (low 16 bits);
	 * v6 packet too big: the MTU. */
	uint32_t icmp_rest;
	/* ICMP errors: the packet quoted after the ICMP header, built from
	 * this description; quote_len 0: its IP header (with options or
	 * extension headers) and 8 bytes of L4; PB_QUOTE_ALL: all of it. */
	const struct pb_pkt *quote;
	size_t quote_len;
	/* Bytes after the L4 header (after the quote, if any); for a non-IP
	 * ethertype or an unknown protocol, all there is. */
	const uint8_t *payload;
	size_t payload_len;
};

/* The outer header of an expected encapsulated frame. */
struct pb_outer {
	uint8_t dmac[6];		/* next hop */
	uint8_t smac[6];
	const char *src;		/* encap source; family gives the outer header */
	const char *dst;		/* backend */
	uint32_t hash;			/* flow hash: IPv4 ID (no DF), IPv6 flow label */
};

/* What pb_parse() learnt of a frame. */
struct pb_info {
	size_t l2_len;			/* MACs, tags, ethertype */
	int tags;
	uint16_t ethertype;		/* innermost */
	int family;			/* 4, 6, or 0: not IP */
	size_t ip_len;			/* from the IP header's length field */
	size_t ip_hdr_len;		/* IPv4 with options / IPv6 with extension headers */
	uint8_t proto;			/* after the extension headers */
	uint8_t tos;
	int df;				/* IPv4 DF, or 1 for IPv6 */
};

/* --- bytes and checksums ---------------------------------------------- */

static inline void pb_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void pb_put32(uint8_t *p, uint32_t v)
{
	pb_put16(p, v >> 16);
	pb_put16(p + 2, v & 0xffff);
}

static inline uint16_t pb_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pb_get32(const uint8_t *p)
{
	return (uint32_t)pb_get16(p) << 16 | pb_get16(p + 2);
}

/* RFC 1071 sum of big-endian 16-bit words; an odd tail is padded with 0. */
static inline uint32_t pb_sum(const uint8_t *p, size_t n, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static inline uint16_t pb_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Checksum of n bytes at p (the checksum field inside must be zero). */
static inline uint16_t pb_csum(const uint8_t *p, size_t n)
{
	return pb_fold(pb_sum(p, n, 0));
}

/* Parses an address: 4 or 6 and the bytes (network order, a v4 address
 * in a[0..3], the rest zero), or 0. */
static inline int pb_addr(const char *s, uint8_t a[16])
{
	memset(a, 0, 16);
	if (!s)
		return 0;
	if (inet_pton(AF_INET, s, a) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, a) == 1)
		return 6;
	return 0;
}

/* Pseudo-header sum (RFC 768/793 for v4, RFC 8200 8.1 for v6). */
static inline uint32_t pb_pseudo(int fam, const uint8_t *src, const uint8_t *dst, uint8_t proto,
				 size_t l4len)
{
	uint32_t sum;

	if (fam == 4) {
		sum = pb_sum(src, 4, 0);
		sum = pb_sum(dst, 4, sum);
		return sum + proto + (uint32_t)l4len;
	}
	sum = pb_sum(src, 16, 0);
	sum = pb_sum(dst, 16, sum);
	return sum + (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff) + proto;
}

/* --- parsing (of frames this file built, or the program's output) ---- */

/* Length of the IP header of an IP packet, extension headers included
 * (hop-by-hop, routing, destination options, fragment), or 0. */
static inline size_t pb_ip_hdr_len(const uint8_t *ip, size_t len, uint8_t *proto)
{
	size_t off;
	uint8_t nh;

	if (len < 1)
		return 0;
	if (ip[0] >> 4 == 4) {
		if (len < 20 || (size_t)(ip[0] & 0xf) * 4 > len)
			return 0;
		if (proto)
			*proto = ip[9];
		return (size_t)(ip[0] & 0xf) * 4;
	}
	if (ip[0] >> 4 != 6 || len < 40)
		return 0;
	nh = ip[6];
	off = 40;
	while (nh == 0 || nh == 43 || nh == 60 || nh == PB_P_FRAG) {
		if (off + 8 > len)
			return 0;
		if (nh == PB_P_FRAG) {
			nh = ip[off];
			off += 8;
			break;
		}
		nh = ip[off];
		off += ((size_t)ip[off + 1] + 1) * 8;
	}
	if (proto)
		*proto = nh;
	return off;
}

/* Parses the L2 and IP header of a frame. Returns 0, or -1 if it is cut
 * short before the end of the IP header. Any number of tags. */
static inline int pb_parse(const uint8_t *f, size_t len, struct pb_info *in)
{
	size_t off = 12;
	uint16_t type;
	const uint8_t *ip;

	memset(in, 0, sizeof(*in));
	if (len < 14)
		return -1;
	type = pb_get16(f + off);
	while (type == PB_ETH_VLAN || type == PB_ETH_QINQ) {
		off += 4;
		in->tags++;
		if (off + 2 > len)
			return -1;
		type = pb_get16(f + off);
	}
	off += 2;
	in->l2_len = off;
	in->ethertype = type;
	if (type != PB_ETH_IP && type != PB_ETH_IPV6)
		return 0;
	ip = f + off;
	in->ip_hdr_len = pb_ip_hdr_len(ip, len - off, &in->proto);
	if (!in->ip_hdr_len)
		return -1;
	if (type == PB_ETH_IP) {
		in->family = 4;
		in->ip_len = pb_get16(ip + 2);
		in->tos = ip[1];
		in->df = !!(ip[6] & 0x40);
	} else {
		in->family = 6;
		in->ip_len = 40 + (size_t)pb_get16(ip + 4);
		in->tos = (uint8_t)((ip[0] & 0xf) << 4 | ip[1] >> 4);
		in->df = 1;
	}
	return 0;
}

/* --- building --------------------------------------------------------- */

static inline size_t pb_ip(uint8_t *buf, size_t cap, const struct pb_pkt *p);

/* L4 header and body at buf; the pseudo-header is over (fam, src, dst). */
static inline size_t pb_l4(uint8_t *buf, size_t cap, const struct pb_pkt *p, int fam,
			   const uint8_t *src, const uint8_t *dst)
{
	uint8_t quote[2048];
	size_t qlen = 0, hlen, n;

	if (p->quote) {
		size_t all = pb_ip(quote, sizeof(quote), p->quote);
		size_t ql = p->quote_len;

		if (!all)
			return 0;
		if (ql == 0) {
			ql = pb_ip_hdr_len(quote, all, NULL) + 8;
		}
		qlen = ql < all ? ql : all;
	}

	switch (p->frag_off ? 0 : p->proto) {	/* a later fragment has no L4 header */
	case PB_P_TCP:
		hlen = 20;
		break;
	case PB_P_UDP:
	case PB_P_ICMP:
	case PB_P_ICMPV6:
		hlen = 8;
		break;
	default:
		hlen = 0;
		break;
	}
	n = hlen + qlen + p->payload_len;
	if (n > cap)
		return 0;
	memset(buf, 0, hlen);
	if (qlen)
		memcpy(buf + hlen, quote, qlen);
	if (p->payload_len)
		memcpy(buf + hlen + qlen, p->payload, p->payload_len);

	switch (p->frag_off ? 0 : p->proto) {
	case PB_P_TCP:
		pb_put16(buf, p->sport);
		pb_put16(buf + 2, p->dport);
		pb_put32(buf + 4, p->seq);
		pb_put32(buf + 8, p->ack);
		buf[12] = 5 << 4;
		buf[13] = p->tcp_flags;
		pb_put16(buf + 14, p->window);
		pb_put16(buf + 16, pb_fold(pb_sum(buf, n, pb_pseudo(fam, src, dst, PB_P_TCP, n))));
		break;
	case PB_P_UDP: {
		uint16_t c;

		pb_put16(buf, p->sport);
		pb_put16(buf + 2, p->dport);
		pb_put16(buf + 4, (uint16_t)n);
		c = pb_fold(pb_sum(buf, n, pb_pseudo(fam, src, dst, PB_P_UDP, n)));
		pb_put16(buf + 6, c ? c : 0xffff);	/* 0 means "none" in UDP */
		break;
	}
	case PB_P_ICMP:
	case PB_P_ICMPV6:
		buf[0] = p->icmp_type;
		buf[1] = p->icmp_code;
		pb_put32(buf + 4, p->icmp_rest);
		/* ICMPv6 sums the pseudo-header; ICMPv4 does not. */
		pb_put16(buf + 2, pb_fold(pb_sum(buf, n, p->proto == PB_P_ICMPV6 && fam == 6 ?
						  pb_pseudo(6, src, dst, PB_P_ICMPV6, n) : 0)));
		break;
	default:
		break;
	}
	return n;
}

/* The IP packet of p (no L2). */
static inline size_t pb_ip(uint8_t *buf, size_t cap, const struct pb_pkt *p)
{
	uint8_t src[16], dst[16];
	int fam = pb_addr(p->src, src);
	size_t hlen, l4;

	if (!fam || pb_addr(p->dst, dst) != fam)
		return 0;
	if (fam == 4) {
		if (p->ip_opts_len % 4 || p->ip_opts_len > 40)
			return 0;
		hlen = 20 + p->ip_opts_len;
	} else {
		hlen = 40 + (p->frag6 ? 8 : 0);
	}
	if (hlen > cap)
		return 0;
	l4 = pb_l4(buf + hlen, cap - hlen, p, fam, src, dst);
	if (!l4 && (p->frag_off == 0) && (p->proto == PB_P_TCP || p->proto == PB_P_UDP || p->proto == PB_P_ICMP ||
		    p->proto == PB_P_ICMPV6 || p->payload_len || p->quote))
		return 0;

	memset(buf, 0, hlen);
	if (fam == 4) {
		uint16_t frag = (uint16_t)((p->df ? 0x4000 : 0) | (p->mf ? 0x2000 : 0) |
					   (p->frag_off & 0x1fff));

		if (hlen + l4 > 0xffff)
			return 0;
		buf[0] = (uint8_t)(0x40 | hlen / 4);
		buf[1] = p->tos;
		pb_put16(buf + 2, (uint16_t)(hlen + l4));
		pb_put16(buf + 4, p->ip_id);
		pb_put16(buf + 6, frag);
		buf[8] = p->ttl ? p->ttl : PB_TTL_DEFAULT;
		buf[9] = p->proto;
		memcpy(buf + 12, src, 4);
		memcpy(buf + 16, dst, 4);
		if (p->ip_opts_len)
			memcpy(buf + 20, p->ip_opts, p->ip_opts_len);
		pb_put16(buf + 10, pb_csum(buf, hlen));
	} else {
		size_t plen = hlen - 40 + l4;

		if (plen > 0xffff)
			return 0;
		pb_put32(buf, 6u << 28 | (uint32_t)p->tos << 20 | (p->flow_label & 0xfffff));
		pb_put16(buf + 4, (uint16_t)plen);
		buf[6] = p->frag6 ? PB_P_FRAG : p->proto;
		buf[7] = p->ttl ? p->ttl : PB_TTL_DEFAULT;
		memcpy(buf + 8, src, 16);
		memcpy(buf + 24, dst, 16);
		if (p->frag6) {
			buf[40] = p->proto;
			buf[41] = 0;
			pb_put16(buf + 42, (uint16_t)((p->frag_off & 0x1fff) << 3 | (p->mf ? 1 : 0)));
			pb_put32(buf + 44, p->frag6_id);
		}
	}
	return hlen + l4;
}

/* The L2 header of p with the given innermost ethertype. */
static inline size_t pb_l2(uint8_t *buf, size_t cap, const struct pb_pkt *p, uint16_t ethertype)
{
	size_t n = 14 + 4 * (size_t)p->tags, off = 12;
	int i;

	if (p->tags < 0 || p->tags > PB_MAX_TAGS || n > cap)
		return 0;
	memcpy(buf, p->dmac, 6);
	memcpy(buf + 6, p->smac, 6);
	for (i = 0; i < p->tags; i++, off += 4) {
		pb_put16(buf + off, p->tpid[i] ? p->tpid[i] : PB_ETH_VLAN);
		pb_put16(buf + off + 2, p->tci[i]);
	}
	pb_put16(buf + off, ethertype);
	return n;
}

/* The whole frame of p: L2, IP packet (or raw payload for a non-IP
 * ethertype), padding up to pad_to. */
static inline size_t pb_frame(uint8_t *buf, size_t cap, const struct pb_pkt *p)
{
	uint8_t a[16];
	uint16_t type = p->ethertype;
	size_t l2, n;

	if (!type) {
		int fam = pb_addr(p->src, a);

		if (!fam)
			return 0;
		type = fam == 4 ? PB_ETH_IP : PB_ETH_IPV6;
	}
	l2 = pb_l2(buf, cap, p, type);
	if (!l2)
		return 0;
	if (type == PB_ETH_IP || type == PB_ETH_IPV6) {
		n = pb_ip(buf + l2, cap - l2, p);
		if (!n)
			return 0;
	} else {
		n = p->payload_len;
		if (l2 + n > cap)
			return 0;
		if (n)
			memcpy(buf + l2, p->payload, n);
	}
	n += l2;
	if (p->pad_to > n) {
		if (p->pad_to > cap)
			return 0;
		memset(buf + n, p->pad_byte, p->pad_to - n);
		n = p->pad_to;
	}
	return n;
}

/*
 * The frame the balancer should send for `frame` toward a backend: the
 * received L2 header (same tags) with the next-hop MACs and the outer
 * family's ethertype; the outer header (TTL 64; TOS / traffic class of
 * the inner packet; IPv4: ID 0 and DF if the inner packet is IPv4 with DF
 * or IPv6, else no DF and the low 16 bits of the hash as ID; IPv6: the
 * low 20 bits of the hash as flow label); then the inner IP packet byte
 * for byte, then whatever bytes followed it in the frame (Ethernet
 * padding), unchanged: the balancer does not trim them.
 */
static inline size_t pb_encap(uint8_t *out, size_t cap, const uint8_t *frame, size_t len,
			      const struct pb_outer *o)
{
	uint8_t src[16], dst[16];
	int ofam = pb_addr(o->src, src);
	struct pb_info in;
	size_t ohlen, n;
	uint8_t *ip;

	if (!ofam || pb_addr(o->dst, dst) != ofam || pb_parse(frame, len, &in) || !in.family ||
	    in.l2_len + in.ip_len > len)
		return 0;
	ohlen = ofam == 4 ? 20 : 40;
	n = ohlen + len;
	if (n > cap)
		return 0;

	memcpy(out, o->dmac, 6);
	memcpy(out + 6, o->smac, 6);
	memcpy(out + 12, frame + 12, in.l2_len - 14);	/* the tags */
	pb_put16(out + in.l2_len - 2, ofam == 4 ? PB_ETH_IP : PB_ETH_IPV6);
	ip = out + in.l2_len;
	memset(ip, 0, ohlen);
	if (ofam == 4) {
		ip[0] = 0x45;
		ip[1] = in.tos;
		pb_put16(ip + 2, (uint16_t)(20 + in.ip_len));
		pb_put16(ip + 4, in.df ? 0 : (uint16_t)(o->hash & 0xffff));
		pb_put16(ip + 6, in.df ? 0x4000 : 0);
		ip[8] = 64;
		ip[9] = in.family == 4 ? PB_P_IPIP : PB_P_IPV6;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		pb_put16(ip + 10, pb_csum(ip, 20));
	} else {
		pb_put32(ip, 6u << 28 | (uint32_t)in.tos << 20 | (o->hash & 0xfffff));
		pb_put16(ip + 4, (uint16_t)in.ip_len);
		ip[6] = in.family == 4 ? PB_P_IPIP : PB_P_IPV6;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}
	memcpy(ip + ohlen, frame + in.l2_len, len - in.l2_len);
	return n;
}

#endif /* SLUICE_TESTS_PKTBUILD_H */
