/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_decap.c - decap.bpf.c through BPF_PROG_TEST_RUN, and its loader.
 *
 * Every packet is built here, byte by byte, with this file's own header
 * and checksum code: nothing comes from lib/encap.h or lib/parse.h, so a
 * bug there cannot hide in the expected bytes. Each fixture is
 * {description, input, expected action, expected output, expected
 * reason}; the runner asserts the action, the output length and every
 * byte, and that exactly one counter moved by one packet and the input's
 * length in bytes.
 *
 * Decided behaviour for cut-short frames (asserted by test_truncated):
 * a frame shorter than L2 + the fixed outer header (20 / 40 bytes) cannot
 * be recognised as IP-in-IP and is passed untouched (pass_other); from
 * there on the outer length runs past the frame and it is dropped
 * (drop_bad). It is never passed modified. Frames under 14 bytes cannot
 * be tested: BPF_PROG_TEST_RUN refuses them (-EINVAL).
 *
 * Needs root (exits 77 otherwise).
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd.h"
#include "decap_loader.h"

#define FRAME_MAX 512

/* --- packet building, independent of lib/ ----------------------------- */

struct frame {
	uint8_t b[FRAME_MAX];
	size_t len;
};

static void put(struct frame *f, const void *p, size_t n)
{
	assert_true(f->len + n <= FRAME_MAX);
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void put8(struct frame *f, uint8_t v)
{
	put(f, &v, 1);
}

static void put16(struct frame *f, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(f, b, 2);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void set16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* RFC 1071 sum over big-endian 16-bit words; odd tail padded with zero. */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#define ETHERTYPE_IP 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_ARP 0x0806
#define PROTO_IPIP 4
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_IPV6 41

static const uint8_t mac_dst[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t mac_src[6] = { 0x02, 0, 0, 0, 0, 0x01 };

/* Ethernet with 0-3 tags (802.1ad outside, 802.1Q inside). */
static void put_l2(struct frame *f, int vlans, uint16_t ethertype)
{
	int i;

	put(f, mac_dst, 6);
	put(f, mac_src, 6);
	for (i = 0; i < vlans; i++) {
		put16(f, i == 0 && vlans > 1 ? 0x88a8 : 0x8100);
		put16(f, 100 * (i + 1));
	}
	put16(f, ethertype);
}

static size_t l2_len(int vlans)
{
	return 14 + 4 * vlans;
}

/* Addresses, as bytes in network order. */
static const uint8_t cli4[4] = { 192, 0, 2, 10 };
static const uint8_t vip4[4] = { 198, 51, 100, 1 };
static const uint8_t lb4[4] = { 10, 0, 0, 1 };
static const uint8_t be4[4] = { 10, 0, 0, 2 };	/* in decap_addrs */
static const uint8_t other4[4] = { 10, 0, 0, 99 };	/* not */
static const uint8_t cli6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x10 };
static const uint8_t vip6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, [15] = 0x01 };
static const uint8_t lb6[16] = { 0xfd, [15] = 0x01 };
static const uint8_t be6[16] = { 0xfd, [15] = 0x02 };	/* in decap_addrs */
static const uint8_t other6[16] = { 0xfd, [15] = 0x99 };	/* not */

/* IPv4 header (+ ihl-5 words of NOP options), checksum filled. */
static void put_ip4(struct frame *f, int ihl, uint16_t tot_len, uint16_t frag, uint8_t proto,
		    const uint8_t *src, const uint8_t *dst)
{
	size_t at = f->len;
	int i;

	put8(f, 0x40 | ihl);
	put8(f, 0);		/* tos */
	put16(f, tot_len);
	put16(f, 0x1234);	/* id */
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);		/* checksum, below */
	put(f, src, 4);
	put(f, dst, 4);
	for (i = 0; i < (ihl - 5) * 4; i++)
		put8(f, 1);	/* NOP */
	set16(f->b + at + 10, fold(sum16(f->b + at, ihl * 4, 0)));
}

static void put_ip6(struct frame *f, uint16_t payload_len, uint8_t nh, const uint8_t *src,
		    const uint8_t *dst)
{
	put32(f, 0x60000000 | 0x12345);	/* version 6, flow label */
	put16(f, payload_len);
	put8(f, nh);
	put8(f, 64);
	put(f, src, 16);
	put(f, dst, 16);
}

/* An inner client -> VIP packet of family fam (4/6) with a TCP or UDP
 * header and paylen bytes of payload, L4 checksum filled. */
static void put_inner(struct frame *f, int fam, uint8_t proto, size_t paylen)
{
	size_t l4len = (proto == PROTO_TCP ? 20 : 8) + paylen;
	size_t at, i;
	uint32_t sum;

	if (fam == 4)
		put_ip4(f, 5, 20 + l4len, 0x4000, proto, cli4, vip4);
	else
		put_ip6(f, l4len, proto, cli6, vip6);
	at = f->len;
	put16(f, 40000);	/* sport */
	put16(f, proto == PROTO_TCP ? 80 : 53);
	if (proto == PROTO_TCP) {
		put32(f, 0x01020304);	/* seq */
		put32(f, 0x05060708);	/* ack */
		put8(f, 5 << 4);
		put8(f, 0x18);	/* PSH|ACK */
		put16(f, 65535);
		put16(f, 0);	/* checksum, below */
		put16(f, 0);
	} else {
		put16(f, l4len);
		put16(f, 0);
	}
	for (i = 0; i < paylen; i++)
		put8(f, (uint8_t)(i * 7 + 3));
	if (fam == 4) {
		sum = sum16(cli4, 4, 0);
		sum = sum16(vip4, 4, sum);
	} else {
		sum = sum16(cli6, 16, 0);
		sum = sum16(vip6, 16, sum);
	}
	sum += proto + (uint32_t)l4len;
	sum = fold(sum16(f->b + at, l4len, sum));
	if (proto == PROTO_UDP && sum == 0)
		sum = 0xffff;
	set16(f->b + at + (proto == PROTO_TCP ? 16 : 6), sum);
}

static size_t inner_len(int fam, uint8_t proto, size_t paylen)
{
	return (fam == 4 ? 20 : 40) + (proto == PROTO_TCP ? 20 : 8) + paylen;
}

/* What the balancer sends a backend, and what the backend should see. */
struct encap_spec {
	int outer, inner;	/* families, 4 or 6 */
	uint8_t l4;
	int vlans;
	size_t paylen;
	int ihl;		/* outer v4 ihl; 0: 5 */
	int local;		/* outer dst in decap_addrs */
};

static void build_encap(const struct encap_spec *s, struct frame *in, struct frame *out)
{
	size_t ilen = inner_len(s->inner, s->l4, s->paylen);
	uint8_t nh = s->inner == 4 ? PROTO_IPIP : PROTO_IPV6;
	int ihl = s->ihl ? s->ihl : 5;

	in->len = 0;
	put_l2(in, s->vlans, s->outer == 4 ? ETHERTYPE_IP : ETHERTYPE_IPV6);
	if (s->outer == 4)
		put_ip4(in, ihl, ihl * 4 + ilen, 0x4000, nh, lb4, s->local ? be4 : other4);
	else
		put_ip6(in, ilen, nh, lb6, s->local ? be6 : other6);
	put_inner(in, s->inner, s->l4, s->paylen);
	if (out) {
		out->len = 0;
		put_l2(out, s->vlans, s->inner == 4 ? ETHERTYPE_IP : ETHERTYPE_IPV6);
		put_inner(out, s->inner, s->l4, s->paylen);
	}
}

/* --- fixtures ------------------------------------------------------- */

struct fixture {
	char desc[96];
	struct frame in;
	uint32_t action;	/* XDP_* */
	struct frame out;	/* for XDP_DROP: the input, untouched */
	uint32_t reason;	/* LB_DECAP_R_* counted */
};

static struct lb_decap *g_decap;

static void fx_init(struct fixture *fx, uint32_t action, uint32_t reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fx_init(struct fixture *fx, uint32_t action, uint32_t reason, const char *fmt, ...)
{
	va_list ap;

	memset(fx, 0, sizeof(*fx));
	va_start(ap, fmt);
	vsnprintf(fx->desc, sizeof(fx->desc), fmt, ap);
	va_end(ap);
	fx->action = action;
	fx->reason = reason;
}

/* Expected output = input. */
static void fx_unchanged(struct fixture *fx)
{
	fx->out = fx->in;
}

static void run_fixture(const struct fixture *fx)
{
	struct lb_reason_stats before[LB_DECAP_R_MAX], after[LB_DECAP_R_MAX];
	uint8_t out[FRAME_MAX + 64];
	size_t i;
	int err, r;
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = fx->in.b,
		.data_size_in = fx->in.len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = 1,
	);

	memset(out, 0xee, sizeof(out));
	assert_int_equal(lb_decap_stats(g_decap, before), 0);
	err = bpf_prog_test_run_opts(lb_decap_prog_fd(g_decap), &opts);
	if (err)
		fail_msg("%s: test run: %s", fx->desc, strerror(-err));
	if (opts.retval != fx->action)
		fail_msg("%s: action %u, expected %u", fx->desc, opts.retval, fx->action);
	if (opts.data_size_out != fx->out.len)
		fail_msg("%s: output %u bytes, expected %zu", fx->desc, opts.data_size_out,
			 fx->out.len);
	for (i = 0; i < fx->out.len; i++)
		if (out[i] != fx->out.b[i])
			fail_msg("%s: output byte %zu is %#04x, expected %#04x", fx->desc, i,
				 out[i], fx->out.b[i]);
	assert_int_equal(lb_decap_stats(g_decap, after), 0);
	for (r = 0; r < LB_DECAP_R_MAX; r++) {
		__u64 dp = after[r].packets - before[r].packets;
		__u64 db = after[r].bytes - before[r].bytes;
		__u64 wp = (__u32)r == fx->reason ? 1 : 0;
		__u64 wb = wp ? fx->in.len : 0;

		if (dp != wp || db != wb)
			fail_msg("%s: counter %d moved by %llu packets / %llu bytes, expected "
				 "%llu / %llu", fx->desc, r, (unsigned long long)dp,
				 (unsigned long long)db, (unsigned long long)wp,
				 (unsigned long long)wb);
	}
}

static void run_fixtures(const struct fixture *fx, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		run_fixture(&fx[i]);
}

static const char *fam_name(int fam)
{
	return fam == 4 ? "v4" : "v6";
}

static const char *l4_name(uint8_t l4)
{
	return l4 == PROTO_TCP ? "tcp" : "udp";
}

/* All four family pairs x TCP/UDP x 0-2 VLAN tags, decapsulated. */
static void test_decap_all_pairs(void **state)
{
	static const uint8_t l4s[] = { PROTO_TCP, PROTO_UDP };
	struct fixture *fx = calloc(2 * 2 * 2 * 3, sizeof(*fx));
	size_t n = 0;
	int o, i, l, v;

	(void)state;
	assert_non_null(fx);
	for (o = 4; o <= 6; o += 2)
		for (i = 4; i <= 6; i += 2)
			for (l = 0; l < 2; l++)
				for (v = 0; v <= 2; v++) {
					struct encap_spec s = {
						.outer = o, .inner = i, .l4 = l4s[l],
						.vlans = v, .paylen = 100 + v, .local = 1,
					};

					fx_init(&fx[n], XDP_PASS, LB_DECAP_R_DONE,
						"%s-in-%s %s, %d vlans", fam_name(i),
						fam_name(o), l4_name(l4s[l]), v);
					build_encap(&s, &fx[n].in, &fx[n].out);
					n++;
				}
	run_fixtures(fx, n);
	free(fx);
}

/* Outer v4 with options, zero payload, Ethernet padding after the outer
 * packet (kept: the kernel trims it by the inner length). */
static void test_decap_variants(void **state)
{
	struct fixture fx[3];
	struct encap_spec s1 = { 4, 6, PROTO_UDP, 1, 0, 7, 1 };
	struct encap_spec s2 = { 4, 4, PROTO_UDP, 0, 0, 0, 1 };
	struct encap_spec s3 = { 6, 4, PROTO_TCP, 2, 10, 0, 1 };
	static const uint8_t pad[6] = { 0 };

	(void)state;
	fx_init(&fx[0], XDP_PASS, LB_DECAP_R_DONE, "v6-in-v4, outer with 8 bytes of options");
	build_encap(&s1, &fx[0].in, &fx[0].out);
	fx_init(&fx[1], XDP_PASS, LB_DECAP_R_DONE, "v4-in-v4 udp, no payload, 6 bytes padding");
	build_encap(&s2, &fx[1].in, &fx[1].out);
	put(&fx[1].in, pad, sizeof(pad));
	put(&fx[1].out, pad, sizeof(pad));
	fx_init(&fx[2], XDP_PASS, LB_DECAP_R_DONE, "v4-in-v6 tcp, 2 vlans, 2 bytes trailer");
	build_encap(&s3, &fx[2].in, &fx[2].out);
	put(&fx[2].in, pad, 2);
	put(&fx[2].out, pad, 2);
	run_fixtures(fx, 3);
}

/* Left to the kernel, untouched. */
static void test_pass_untouched(void **state)
{
	struct fixture fx[9];
	struct encap_spec nl4 = { 4, 4, PROTO_TCP, 1, 20, 0, 0 };
	struct encap_spec nl6 = { 6, 6, PROTO_UDP, 0, 20, 0, 0 };
	struct frame f;
	size_t i, n = 0;

	(void)state;
	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_NOT_LOCAL, "v4-in-v4 to a non-decap address");
	build_encap(&nl4, &fx[n++].in, NULL);
	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_NOT_LOCAL, "v6-in-v6 to a non-decap address");
	build_encap(&nl6, &fx[n++].in, NULL);

	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_OTHER, "plain v4 tcp to the backend");
	put_l2(&fx[n].in, 0, ETHERTYPE_IP);
	put_inner(&fx[n++].in, 4, PROTO_TCP, 30);
	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_OTHER, "plain v6 udp, 1 vlan");
	put_l2(&fx[n].in, 1, ETHERTYPE_IPV6);
	put_inner(&fx[n++].in, 6, PROTO_UDP, 30);

	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_OTHER, "ARP request");
	put_l2(&fx[n].in, 0, ETHERTYPE_ARP);
	put16(&fx[n].in, 1);		/* Ethernet */
	put16(&fx[n].in, ETHERTYPE_IP);
	put8(&fx[n].in, 6);
	put8(&fx[n].in, 4);
	put16(&fx[n].in, 1);		/* request */
	put(&fx[n].in, mac_src, 6);
	put(&fx[n].in, lb4, 4);
	put(&fx[n].in, (uint8_t[6]){ 0 }, 6);
	put(&fx[n].in, be4, 4);
	put(&fx[n].in, (uint8_t[18]){ 0 }, 18);	/* padding to 60 */
	n++;

	/* Three tags are more than we parse: not recognised. */
	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_OTHER, "v4-in-v4 behind 3 vlan tags");
	put_l2(&fx[n].in, 3, ETHERTYPE_IP);
	put_ip4(&fx[n].in, 5, 20 + inner_len(4, PROTO_UDP, 4), 0x4000, PROTO_IPIP, lb4, be4);
	put_inner(&fx[n++].in, 4, PROTO_UDP, 4);

	/* Ethertype IPv4 but version 6: not an IPv4 packet at all. */
	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_OTHER, "ethertype v4, version 6, proto 4");
	put_l2(&fx[n].in, 0, ETHERTYPE_IP);
	put_ip4(&fx[n].in, 5, 20 + inner_len(4, PROTO_UDP, 4), 0x4000, PROTO_IPIP, lb4, be4);
	fx[n].in.b[14] = 0x65;
	put_inner(&fx[n++].in, 4, PROTO_UDP, 4);

	/* IPv6 with an extension header before the inner packet. */
	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_OTHER, "v6 outer, dstopts then v4 inner");
	put_l2(&fx[n].in, 0, ETHERTYPE_IPV6);
	put_ip6(&fx[n].in, 8 + inner_len(4, PROTO_UDP, 4), 60, lb6, be6);
	put8(&fx[n].in, PROTO_IPIP);
	put8(&fx[n].in, 0);
	put(&fx[n].in, (uint8_t[6]){ 1, 4, 0, 0, 0, 0 }, 6);	/* PadN */
	put_inner(&fx[n++].in, 4, PROTO_UDP, 4);

	/* A v4 address in decap_addrs does not match the v6 address with
	 * the same first word: the family is part of the key. */
	fx_init(&fx[n], XDP_PASS, LB_DECAP_R_PASS_NOT_LOCAL, "v6 outer to a00:2:: (v4 be as w0)");
	f.len = 0;
	put_l2(&f, 0, ETHERTYPE_IPV6);
	put_ip6(&f, inner_len(6, PROTO_TCP, 0), PROTO_IPV6, lb6,
		(uint8_t[16]){ 10, 0, 0, 2 });
	put_inner(&f, 6, PROTO_TCP, 0);
	fx[n++].in = f;

	for (i = 0; i < n; i++)
		fx_unchanged(&fx[i]);
	run_fixtures(fx, n);
}

/* Encapsulated to us, inconsistent: dropped, untouched. */
static void test_drop_bad(void **state)
{
	struct fixture fx[10];
	struct encap_spec s4 = { 4, 4, PROTO_TCP, 1, 40, 0, 1 };
	struct encap_spec s6 = { 6, 6, PROTO_UDP, 2, 40, 0, 1 };
	struct encap_spec s46 = { 6, 4, PROTO_UDP, 0, 40, 0, 1 };
	size_t i, n = 0, l3 = l2_len(1), l3v6 = l2_len(2);
	uint8_t *b;

	(void)state;
	/* outer v4 tot_len one past the frame */
	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "outer v4 tot_len > frame");
	build_encap(&s4, &fx[n].in, NULL);
	set16(fx[n].in.b + l3 + 2, fx[n].in.len - l3 + 1);
	n++;

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "outer v6 payload_len > frame");
	build_encap(&s6, &fx[n].in, NULL);
	set16(fx[n].in.b + l3v6 + 4, fx[n].in.len - l3v6 - 40 + 1);
	n++;

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "outer v4 ihl 4");
	build_encap(&s4, &fx[n].in, NULL);
	fx[n++].in.b[l3] = 0x44;

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "outer v4 tot_len < ihl*4");
	build_encap(&s4, &fx[n].in, NULL);
	set16(fx[n++].in.b + l3 + 2, 16);

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "outer v4 fragment (MF)");
	build_encap(&s4, &fx[n].in, NULL);
	set16(fx[n++].in.b + l3 + 6, 0x2000);

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "inner version 6 behind proto 4");
	build_encap(&s4, &fx[n].in, NULL);
	fx[n++].in.b[l3 + 20] = 0x65;

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "inner v4 tot_len 1 short of outer");
	build_encap(&s4, &fx[n].in, NULL);
	b = fx[n++].in.b + l3 + 20;
	set16(b + 2, inner_len(4, PROTO_TCP, 40) - 1);

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "inner v6 payload_len 1 over outer");
	build_encap(&s6, &fx[n].in, NULL);
	b = fx[n++].in.b + l3v6 + 40;
	set16(b + 4, 8 + 40 + 1);

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "v4-in-v6, inner header cut (len 12)");
	build_encap(&s46, &fx[n].in, NULL);
	set16(fx[n].in.b + 14 + 4, 12);
	fx[n].in.len = 14 + 40 + 12;
	n++;

	fx_init(&fx[n], XDP_DROP, LB_DECAP_R_DROP_BAD, "inner v4 ihl 4");
	build_encap(&s46, &fx[n].in, NULL);
	fx[n++].in.b[14 + 40] = 0x44;

	for (i = 0; i < n; i++)
		fx_unchanged(&fx[i]);
	run_fixtures(fx, n);
}

/* Every cut of encapsulated frames, from 14 bytes (the smallest the
 * kernel runs) to one short of whole. */
static void test_truncated(void **state)
{
	static const struct encap_spec specs[] = {
		{ 4, 4, PROTO_TCP, 0, 16, 0, 1 },
		{ 4, 6, PROTO_UDP, 1, 16, 0, 1 },
		{ 6, 4, PROTO_TCP, 2, 16, 0, 1 },
		{ 6, 6, PROTO_UDP, 1, 16, 0, 1 },
		{ 4, 4, PROTO_UDP, 2, 16, 6, 1 },
	};
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct frame whole;
	size_t i, k, fixed;

	(void)state;
	assert_non_null(fx);
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		build_encap(&specs[i], &whole, NULL);
		fixed = l2_len(specs[i].vlans) + (specs[i].outer == 4 ? 20 : 40);
		for (k = 14; k < whole.len; k++) {
			if (k < fixed)
				fx_init(fx, XDP_PASS, LB_DECAP_R_PASS_OTHER,
					"%s-in-%s, %d vlans, cut to %zu (unrecognised)",
					fam_name(specs[i].inner), fam_name(specs[i].outer),
					specs[i].vlans, k);
			else
				fx_init(fx, XDP_DROP, LB_DECAP_R_DROP_BAD,
					"%s-in-%s, %d vlans, cut to %zu",
					fam_name(specs[i].inner), fam_name(specs[i].outer),
					specs[i].vlans, k);
			memcpy(fx->in.b, whole.b, k);
			fx->in.len = k;
			fx_unchanged(fx);
			run_fixture(fx);
		}
	}
	free(fx);
}

static void addr_of(struct lb_addr *a, const uint8_t *bytes, int fam)
{
	memset(a, 0, sizeof(*a));
	memcpy(a, bytes, fam == 4 ? 4 : 16);
}

/* add/del change what is decapsulated; bad arguments are refused. */
static void test_addr_add_del(void **state)
{
	static const uint8_t new4[4] = { 10, 0, 0, 3 };
	static const uint8_t new6[16] = { 0xfd, [15] = 0x03 };
	struct encap_spec s4 = { 4, 4, PROTO_TCP, 0, 10, 0, 0 };
	struct encap_spec s6 = { 6, 4, PROTO_UDP, 1, 10, 0, 0 };
	struct fixture fx;
	struct lb_addr a4, a6, bad;
	int round;

	(void)state;
	addr_of(&a4, new4, 4);
	addr_of(&a6, new6, 6);
	for (round = 0; round < 3; round++) {
		int on = round == 1;
		struct encap_spec *s[2] = { &s4, &s6 };
		int j;

		if (round == 1) {
			assert_int_equal(lb_decap_add_addr(g_decap, LB_FAMILY_V4, &a4), 0);
			assert_int_equal(lb_decap_add_addr(g_decap, LB_FAMILY_V4, &a4), 0);
			assert_int_equal(lb_decap_add_addr(g_decap, LB_FAMILY_V6, &a6), 0);
		} else if (round == 2) {
			assert_int_equal(lb_decap_del_addr(g_decap, LB_FAMILY_V4, &a4), 0);
			assert_int_equal(lb_decap_del_addr(g_decap, LB_FAMILY_V6, &a6), 0);
		}
		for (j = 0; j < 2; j++) {
			struct frame *in = &fx.in;
			size_t l3 = l2_len(s[j]->vlans);

			fx_init(&fx, XDP_PASS, on ? LB_DECAP_R_DONE : LB_DECAP_R_PASS_NOT_LOCAL,
				"outer %s to the new address, round %d", fam_name(s[j]->outer),
				round);
			build_encap(s[j], in, on ? &fx.out : NULL);
			/* retarget the outer destination to the new address */
			if (s[j]->outer == 4) {
				memcpy(in->b + l3 + 16, new4, 4);
				set16(in->b + l3 + 10, 0);
				set16(in->b + l3 + 10, fold(sum16(in->b + l3, 20, 0)));
			} else {
				memcpy(in->b + l3 + 24, new6, 16);
			}
			if (!on)
				fx_unchanged(&fx);
			run_fixture(&fx);
		}
	}
	assert_int_equal(lb_decap_del_addr(g_decap, LB_FAMILY_V4, &a4), -ENOENT);
	assert_int_equal(lb_decap_add_addr(g_decap, 5, &a4), -EINVAL);
	assert_int_equal(lb_decap_add_addr(g_decap, LB_FAMILY_NONE, &a4), -EINVAL);
	assert_int_equal(lb_decap_del_addr(g_decap, 41, &a4), -EINVAL);
	bad = a4;
	bad.w[3] = 1;
	assert_int_equal(lb_decap_add_addr(g_decap, LB_FAMILY_V4, &bad), -EINVAL);
}

static int wait_xdp(int ifindex, int attached)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < 200; i++) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		if (bpf_xdp_query(ifindex, 0, &q))
			return -1;
		if (!!q.prog_id == attached)
			return q.attach_mode;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Attach, pin and close on the loopback of a private netns (nothing the
 * rest of the host sees). lo has no native XDP. */
static void test_attach_pin(void **state)
{
	char dir[64], path[96];
	static const char *const pins[] = { "prog", "link", LB_MAP_DECAP_ADDRS,
					    LB_MAP_DECAP_STATS };
	struct lb_decap *d;
	size_t i;
	int fd;

	(void)state;
	if (unshare(CLONE_NEWNET)) {
		print_message("skipping attach test: unshare(CLONE_NEWNET): %s\n",
			      strerror(errno));
		skip();
	}
	d = lb_decap_open();
	assert_non_null(d);
	assert_int_equal(lb_decap_attach(d, 1, 0), -EOPNOTSUPP);
	assert_int_equal(lb_decap_attach(d, 1, 1u << 5), -EINVAL);
	assert_int_equal(lb_decap_attach(d, 1, LB_DECAP_ATTACH_GENERIC), 0);
	assert_int_equal(wait_xdp(1, 1), XDP_ATTACHED_SKB);
	assert_int_equal(lb_decap_attach(d, 1, LB_DECAP_ATTACH_GENERIC), -EALREADY);
	/* not pinned: close detaches */
	lb_decap_close(d);
	assert_int_equal(wait_xdp(1, 0), XDP_ATTACHED_NONE);

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/sluice-test-decap-%d/a/b", (int)getpid());
	d = lb_decap_open();
	assert_non_null(d);
	assert_int_equal(lb_decap_attach(d, 1, LB_DECAP_ATTACH_GENERIC), 0);
	assert_int_equal(lb_decap_pin(d, dir), 0);
	assert_int_equal(lb_decap_pin(d, dir), -EEXIST);	/* and nothing removed */
	lb_decap_close(d);
	/* pinned: still attached after close, and the pins work */
	assert_int_equal(wait_xdp(1, 1), XDP_ATTACHED_SKB);
	for (i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, pins[i]);
		fd = bpf_obj_get(path);
		if (fd < 0)
			fail_msg("bpf_obj_get(%s): %s", path, strerror(errno));
		close(fd);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(wait_xdp(1, 0), XDP_ATTACHED_NONE);
	rmdir(dir);
	snprintf(path, sizeof(path), "/sys/fs/bpf/sluice-test-decap-%d/a", (int)getpid());
	rmdir(path);
	snprintf(path, sizeof(path), "/sys/fs/bpf/sluice-test-decap-%d", (int)getpid());
	assert_int_equal(rmdir(path), 0);
}

/* Prints what the verifier went through; a budget catches a blow-up. */
static void test_verifier_insns(void **state)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	(void)state;
	assert_int_equal(bpf_obj_get_info_by_fd(lb_decap_prog_fd(g_decap), &info, &len), 0);
	print_message("decap: %u instructions (xlated), %u verified\n",
		      info.xlated_prog_len / 8, info.verified_insns);
	assert_true(info.verified_insns > 0);
	assert_true(info.verified_insns < 20000);
}

static int setup(void **state)
{
	struct lb_addr a;

	(void)state;
	addr_of(&a, be4, 4);
	if (lb_decap_add_addr(g_decap, LB_FAMILY_V4, &a))
		return -1;
	addr_of(&a, be6, 6);
	return lb_decap_add_addr(g_decap, LB_FAMILY_V6, &a) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decap_all_pairs),
		cmocka_unit_test(test_decap_variants),
		cmocka_unit_test(test_pass_untouched),
		cmocka_unit_test(test_drop_bad),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_addr_add_del),
		cmocka_unit_test(test_verifier_insns),
		cmocka_unit_test(test_attach_pin),	/* last: moves us to a new netns */
	};
	int ret;

	if (geteuid() != 0) {
		printf("skipped: test_decap loads BPF programs and needs root\n");
		return 77;
	}
	g_decap = lb_decap_open();
	if (!g_decap) {
		if (errno == EPERM || errno == EACCES) {
			printf("skipped: cannot load BPF here: %s\n", strerror(errno));
			return 77;
		}
		printf("lb_decap_open: %s\n", strerror(errno));
		return 1;
	}
	ret = cmocka_run_group_tests(tests, setup, NULL);
	lb_decap_close(g_decap);
	return ret;
}
