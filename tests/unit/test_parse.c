// SPDX-License-Identifier: Apache-2.0
/*
 * test_parse.c - the header-only parser and header writers of lib/, built
 * for the host (as DPDK and the control plane use them). Packets are
 * written out byte by byte here, not with the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>

/* gcc follows the IPv6 branch of the parser into these fixed-size IPv4
 * buffers and warns about reads the bounds checks never let happen. */
#pragma GCC diagnostic ignored "-Warray-bounds"

#include "parse.h"
#include "encap.h"
#include "hash.h"

/* A TCP SYN 10.0.0.2:1234 -> 10.100.0.1:80, DF, no options. */
static const __u8 tcp4_syn[] = {
	/* eth */ 0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00,
	/* ip */ 0x45, 0x10, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
	10, 0, 0, 2, 10, 100, 0, 1,
	/* tcp */ 0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff,
	0, 0, 0, 0,
};

/* Same packet behind two VLAN tags. */
static __u8 tagged[sizeof(tcp4_syn) + 8];

static void build_tagged(void)
{
	static const __u8 tags[] = { 0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07 };

	memcpy(tagged, tcp4_syn, 12);
	memcpy(tagged + 12, tags, sizeof(tags));
	memcpy(tagged + 20, tcp4_syn + 12, sizeof(tcp4_syn) - 12);
}

static void test_parse_tcp4(void **state)
{
	struct lb_pkt pkt;
	__u8 buf[sizeof(tcp4_syn)];

	(void)state;
	memcpy(buf, tcp4_syn, sizeof(buf));
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_OK);
	assert_int_equal(pkt.key.family, LB_FAMILY_V4);
	assert_int_equal(pkt.key.proto, IPPROTO_TCP);
	assert_int_equal(pkt.key.src.w[0], htonl(0x0a000002));
	assert_int_equal(pkt.key.dst.w[0], htonl(0x0a640001));
	assert_int_equal(pkt.key.src.w[1] | pkt.key.dst.w[3], 0);
	assert_int_equal(pkt.key.sport, htons(1234));
	assert_int_equal(pkt.key.dport, htons(80));
	assert_int_equal(pkt.l3_off, 14);
	assert_int_equal(pkt.l4_off, 34);
	assert_int_equal(pkt.l3_len, 40);
	assert_int_equal(pkt.tos, 0x10);
	assert_true(pkt.df);
	assert_false(pkt.frag);
	assert_true(pkt.tcp_syn);
}

static void test_parse_vlan(void **state)
{
	struct lb_pkt pkt;
	__u8 three[sizeof(tagged) + 4];

	(void)state;
	build_tagged();
	assert_int_equal(lb_parse(tagged, tagged + sizeof(tagged), &pkt), LB_OK);
	assert_int_equal(pkt.vlans, 2);
	assert_int_equal(pkt.l3_off, 22);
	assert_int_equal(pkt.key.dport, htons(80));

	/* A third tag is more than we accept. */
	memcpy(three, tagged, 20);
	three[20] = 0x81, three[21] = 0x00, three[22] = 0, three[23] = 9;
	memcpy(three + 24, tagged + 20, sizeof(tagged) - 20);
	assert_int_equal(lb_parse(three, three + sizeof(three), &pkt), LB_R_DROP_BAD_L2);
}

static void test_parse_truncated(void **state)
{
	struct lb_pkt pkt;
	size_t len;

	(void)state;
	build_tagged();
	for (len = 0; len < sizeof(tcp4_syn); len++)
		assert_int_not_equal(lb_parse((void *)tcp4_syn, (void *)tcp4_syn + len, &pkt), LB_OK);
	for (len = 0; len < sizeof(tagged); len++)
		assert_int_not_equal(lb_parse(tagged, tagged + len, &pkt), LB_OK);
}

static void test_parse_bad_ip(void **state)
{
	__u8 buf[sizeof(tcp4_syn)];
	struct lb_pkt pkt;

	(void)state;
	memcpy(buf, tcp4_syn, sizeof(buf));
	buf[14] = 0x44;		/* ihl 4 */
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_R_DROP_BAD_L3);
	memcpy(buf, tcp4_syn, sizeof(buf));
	buf[14] = 0x65;		/* version 6 behind an IPv4 ethertype */
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_R_DROP_BAD_L3);
	memcpy(buf, tcp4_syn, sizeof(buf));
	buf[17] = 0x29;		/* tot_len one byte past the frame */
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_R_DROP_BAD_L3);
	memcpy(buf, tcp4_syn, sizeof(buf));
	buf[46] = 0x40;		/* TCP doff 4 */
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_R_DROP_BAD_L4);
	memcpy(buf, tcp4_syn, sizeof(buf));
	buf[20] = 0x20;		/* MF: a first fragment */
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_OK);
	assert_true(pkt.frag);
	memcpy(buf, tcp4_syn, sizeof(buf));
	buf[12] = 0x08, buf[13] = 0x06;	/* ARP */
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_R_PASS_NOT_IP);
}

/* IPv6 UDP 2001:db8::2 -> 2001:db8::100 with a hop-by-hop header first. */
static void test_parse_ipv6_ext(void **state)
{
	__u8 buf[14 + 40 + 8 + 8 + 4] = {
		0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x86, 0xdd,
		0x6a, 0xb0, 0, 0, 0, 20, 0 /* hop-by-hop */, 64,
	};
	__u8 *ip6 = buf + 14, *hbh = ip6 + 40, *udp = hbh + 8;
	struct lb_pkt pkt;

	(void)state;
	ip6[8] = 0x20, ip6[9] = 0x01, ip6[10] = 0x0d, ip6[11] = 0xb8, ip6[23] = 2;
	ip6[24] = 0x20, ip6[25] = 0x01, ip6[26] = 0x0d, ip6[27] = 0xb8, ip6[39] = 1;
	hbh[0] = IPPROTO_UDP;
	udp[0] = 0x30, udp[1] = 0x39, udp[2] = 0, udp[3] = 53, udp[5] = 12;
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_OK);
	assert_int_equal(pkt.key.family, LB_FAMILY_V6);
	assert_int_equal(pkt.key.proto, IPPROTO_UDP);
	assert_int_equal(pkt.l4_off, 14 + 48);
	assert_int_equal(pkt.key.sport, htons(12345));
	assert_int_equal(pkt.key.dport, htons(53));
	assert_int_equal(pkt.tos, 0xab);
	assert_int_equal(((__u8 *)&pkt.key.dst)[15], 1);

	hbh[0] = IPPROTO_FRAGMENT;	/* then a fragment header */
	assert_int_equal(lb_parse(buf, buf + sizeof(buf), &pkt), LB_OK);
	assert_true(pkt.frag);
}

/* The Internet checksum of a buffer, computed byte-wise here. */
static __u16 ref_csum(const __u8 *p, size_t n, __u32 sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (n & 1)
		sum += p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static void test_outer_v4(void **state)
{
	__u16 sum;
	__u8 hdr[20];
	static const __u8 expect[20] = {
		0x45, 0x10, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 64, 4, 0, 0,
		172, 16, 0, 1, 10, 0, 0, 11,
	};
	__u8 e[20];

	(void)state;
	lb4_write_outer((struct iphdr *)hdr, htonl(0xac100001), htonl(0x0a00000b), IPPROTO_IPIP,
			40, 0x10, 1, 0xdeadbeef);
	memcpy(e, expect, sizeof(e));
	sum = ref_csum(e, 20, 0);
	e[10] = sum >> 8;
	e[11] = sum & 0xff;
	assert_memory_equal(hdr, e, sizeof(e));

	/* Without DF the ID comes from the hash. */
	lb4_write_outer((struct iphdr *)hdr, htonl(0xac100001), htonl(0x0a00000b), IPPROTO_IPV6,
			40, 0, 0, 0xdeadbeef);
	assert_int_equal(hdr[4], 0xbe);
	assert_int_equal(hdr[5], 0xef);
	assert_int_equal(hdr[6], 0);
	assert_int_equal(hdr[9], 41);
	assert_int_equal(ref_csum(hdr, 20, 0), 0);
}

static void test_outer_v6(void **state)
{
	struct lb_addr src = { { htonl(0xfc000000), 0, 0, htonl(1) } };
	struct lb_addr dst = { { htonl(0xfc000000), 0, 0, htonl(0x11) } };
	__u8 hdr[40];

	(void)state;
	lb6_write_outer((struct ipv6hdr *)hdr, &src, &dst, IPPROTO_IPIP, 100, 0xab, 0x12345678);
	assert_int_equal(hdr[0], 0x6a);		/* version 6, tclass high nibble */
	assert_int_equal(hdr[1], 0xb4);		/* tclass low nibble, label bits 19..16 */
	assert_int_equal(hdr[2], 0x56);
	assert_int_equal(hdr[3], 0x78);
	assert_int_equal(hdr[4] << 8 | hdr[5], 100);
	assert_int_equal(hdr[6], IPPROTO_IPIP);
	assert_int_equal(hdr[7], 64);
	assert_memory_equal(hdr + 8, &src, 16);
	assert_memory_equal(hdr + 24, &dst, 16);
}

static void test_l2_moves(void **state)
{
	__u8 buf[64], ref[64];
	int vlans;

	(void)state;
	for (vlans = 0; vlans <= 2; vlans++) {
		int len = 14 + 4 * vlans, i;

		for (i = 0; i < 64; i++)
			buf[i] = ref[i] = i;
		/* Overlapping move to the front by 20 (an outer IPv4 header)... */
		lb_l2_move_front(buf, buf + 20, vlans);
		assert_memory_equal(buf, ref + 20, len);
		assert_int_equal(*(__u16 *)lb_l2_proto(buf, vlans), *(__u16 *)(ref + 20 + len - 2));
		/* ...and back again. */
		for (i = 0; i < 64; i++)
			buf[i] = i;
		lb_l2_move_back(buf + 20, buf, vlans);
		assert_memory_equal(buf + 20, ref, len);
	}
}

static void test_csum_replace(void **state)
{
	__u8 ip[20];

	(void)state;
	memcpy(ip, tcp4_syn + 14, 20);
	{
		__u16 sum = ref_csum(ip, 20, 0);

		ip[10] = sum >> 8;
		ip[11] = sum & 0xff;
		assert_int_equal(ref_csum(ip, 20, 0), 0);
	}
	{
		__u16 old = *(__u16 *)(ip + 8), new, check;

		ip[8] = 17;
		new = *(__u16 *)(ip + 8);
		check = lb_csum_replace16(*(__u16 *)(ip + 10), old, new);
		memcpy(ip + 10, &check, 2);
	}
	assert_int_equal(ref_csum(ip, 20, 0), 0);
}

/* Network-order word of a big-endian value, as the helpers take them. */
static __u16 be16(__u16 v)
{
	return htons(v);
}

/* An ICMPv4 echo request whose bytes sum to zero but for its type
 * (`0800 f7ff 0000 0000`): the reply sums to +0 and only 0xFFFF verifies.
 * The plain RFC 1624 update gives 0x0000 there, which is why ICMPv4 takes
 * lb_csum_replace16_nz. */
static void test_csum_replace_zero_sum(void **state)
{
	__u8 ic[8] = { 0x08, 0, 0xf7, 0xff, 0, 0, 0, 0 };
	__u16 c;

	(void)state;
	assert_int_equal(ref_csum(ic, 8, 0), 0);
	c = lb_csum_replace16_nz(be16(0xf7ff), be16(0x0800), 0);
	assert_int_equal(ntohs(c), 0xffff);
	assert_int_equal(ntohs(lb_csum_replace16(be16(0xf7ff), be16(0x0800), 0)), 0);
	ic[0] = 0;
	memcpy(ic + 2, &c, 2);
	assert_int_equal(ref_csum(ic, 8, 0), 0);
	ic[2] = ic[3] = 0;	/* what both fast paths sent before */
	assert_int_not_equal(ref_csum(ic, 8, 0), 0);
}

/* RFC 1624 section 3's example: the rest of the header sums to 0xCD7A,
 * m 0x5555 -> 0x3285; recomputation gives 0x0000 and so must the update
 * (an IPv4 header is never all zero: 0x0000 is right there). _nz gives
 * 0xFFFF, which verifies as well. */
static void test_csum_replace_rfc1624(void **state)
{
	__u8 h[6] = { 0xcd, 0x7a, 0x55, 0x55, 0, 0 };
	__u16 c;

	(void)state;
	c = ref_csum(h, 6, 0);
	assert_int_equal(c, 0xdd2f);
	assert_int_equal(ntohs(lb_csum_replace16(be16(c), be16(0x5555), be16(0x3285))), 0);
	assert_int_equal(ntohs(lb_csum_replace16_nz(be16(c), be16(0x5555), be16(0x3285))),
			 0xffff);
	h[2] = 0x32;
	h[3] = 0x85;
	assert_int_equal(ref_csum(h, 6, 0), 0);
	h[4] = h[5] = 0xff;
	assert_int_equal(ref_csum(h, 6, 0), 0);
}

/* Every field change of bytes that are not all zero: the update equals
 * the recomputation, and _nz equals it or gives 0xFFFF for its 0x0000. */
static void test_csum_replace_sweep(void **state)
{
	__u8 b[8];
	unsigned int seed = 12345, i;

	(void)state;
	for (i = 0; i < 200000; i++) {
		__u16 old, new, c0, c1, up, nz;
		int k;

		for (k = 0; k < 6; k++) {
			seed = seed * 1103515245u + 12345u;
			b[k] = (__u8)(seed >> 16);
		}
		b[0] |= 0x40;	/* never all zero, as an IPv4 header */
		/* Every other case: the rest sums to -0, and every fourth
		 * the new field is 0, so the new sum is -0 (checksum 0). */
		if (i & 1) {
			b[2] = (__u8)~b[0];
			b[3] = (__u8)~b[1];
		}
		b[6] = b[7] = 0;
		c0 = ref_csum(b, 8, 0);
		memcpy(&old, b + 4, 2);
		seed = seed * 1103515245u + 12345u;
		new = i % 4 == 1 ? 0 : (__u16)(seed >> 8);
		memcpy(b + 4, &new, 2);
		c1 = ref_csum(b, 8, 0);
		up = ntohs(lb_csum_replace16(be16(c0), old, new));
		nz = ntohs(lb_csum_replace16_nz(be16(c0), old, new));
		assert_int_equal(up, c1);
		assert_int_equal(nz, c1 ? c1 : 0xffff);
		if (i % 4 == 1)
			assert_int_equal(c1, 0);
	}
}

static void test_frag_needed_writer(void **state)
{
	/* [ip 20][icmp 8][quote: ip 20 + 8] */
	__u8 buf[56];

	(void)state;
	memset(buf, 0, sizeof(buf));
	memcpy(buf + 28, tcp4_syn + 14, 28);
	lb4_write_frag_needed((struct iphdr *)buf, buf + sizeof(buf), htonl(0x0a640001),
			      htonl(0x0a000002), 28, 1480);
	assert_int_equal(ref_csum(buf, 20, 0), 0);
	assert_int_equal(buf[2] << 8 | buf[3], 56);
	assert_int_equal(buf[9], IPPROTO_ICMP);
	assert_int_equal(buf[20], 3);
	assert_int_equal(buf[21], 4);
	assert_int_equal(buf[26] << 8 | buf[27], 1480);
	assert_int_equal(ref_csum(buf + 20, 36, 0), 0);
	assert_memory_equal(buf + 28, tcp4_syn + 14, 28);
}

static void test_icmp_quote(void **state)
{
	struct lb_flow_key key;

	(void)state;
	/* The quote is VIP -> client: turned around it is the client's flow. */
	assert_int_equal(lb_parse_icmp_quote((void *)tcp4_syn + 14, (void *)tcp4_syn + 42,
					     (void *)tcp4_syn + 42, LB_FAMILY_V4, &key), LB_OK);
	assert_int_equal(key.src.w[0], htonl(0x0a640001));
	assert_int_equal(key.dst.w[0], htonl(0x0a000002));
	assert_int_equal(key.sport, htons(80));
	assert_int_equal(key.dport, htons(1234));
	assert_int_equal(lb_parse_icmp_quote((void *)tcp4_syn + 14, (void *)tcp4_syn + 37,
					     (void *)tcp4_syn + 42, LB_FAMILY_V4, &key),
			 LB_R_DROP_ICMP_QUOTE);
	/* Bytes past the end of the IP packet (padding) are no quote. */
	assert_int_equal(lb_parse_icmp_quote((void *)tcp4_syn + 14, (void *)tcp4_syn + 42,
					     (void *)tcp4_syn + 37, LB_FAMILY_V4, &key),
			 LB_R_DROP_ICMP_QUOTE);
}

static void test_hash_properties(void **state)
{
	struct lb_flow_key a = { .family = LB_FAMILY_V4, .proto = IPPROTO_TCP }, b;
	unsigned int buckets[16] = { 0 }, i;

	(void)state;
	a.src.w[0] = htonl(0x0a000002);
	a.dst.w[0] = htonl(0x0a640001);
	a.dport = htons(80);
	b = a;
	assert_int_equal(lb_flow_hash(&a), lb_flow_hash(&b));
	b.sport = 1;
	assert_int_not_equal(lb_flow_hash(&a), lb_flow_hash(&b));
	/* Sequential source ports spread over the low bits (bucket index). */
	for (i = 0; i < 16000; i++) {
		a.sport = htons(i);
		buckets[lb_flow_hash(&a) & 15]++;
	}
	for (i = 0; i < 16; i++)
		assert_in_range(buckets[i], 850, 1150);
	assert_int_equal(lb_hash_range(0xffffffffu, 65537), 65536);
	assert_int_equal(lb_hash_range(0, 65537), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_tcp4),
		cmocka_unit_test(test_parse_vlan),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_bad_ip),
		cmocka_unit_test(test_parse_ipv6_ext),
		cmocka_unit_test(test_outer_v4),
		cmocka_unit_test(test_outer_v6),
		cmocka_unit_test(test_l2_moves),
		cmocka_unit_test(test_csum_replace),
		cmocka_unit_test(test_csum_replace_zero_sum),
		cmocka_unit_test(test_csum_replace_rfc1624),
		cmocka_unit_test(test_csum_replace_sweep),
		cmocka_unit_test(test_frag_needed_writer),
		cmocka_unit_test(test_icmp_quote),
		cmocka_unit_test(test_hash_properties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
