// SPDX-License-Identifier: Apache-2.0
/*
 * bench_xdp.c - ns/packet of sluice_xdp through BPF_PROG_TEST_RUN, as
 * ratios to an XDP_DROP floor measured in the same run (docs/measuring.md).
 *
 * Method 1 of docs/measuring.md: every run goes through restore_xdp
 * (tests/bench/restore.bpf.c), which puts the original frame back before
 * each of the `repeat` iterations and tail-calls the program under test.
 * The floor is the same wrapper tail-calling a program that returns
 * XDP_DROP. Cases are interleaved (the order rotates every round) and
 * every case runs between two runs of its floor, so that its ratio is to
 * a floor measured milliseconds away whatever the host's speed does; a
 * warm-up round is discarded, and min / median / max over >= 5 rounds
 * are printed, with the median of the per-round ratios.
 *
 * Calibration: probes of operations whose cost docs/measuring.md gives for the
 * anchor machine (map lookups and updates, clocks, jhash;
 * tests/bench/calib.bpf.c) run behind the same wrapper, interleaved with
 * the rest. Their ns above the floor over the anchor's give the host
 * speed factor (the median), which scales Katran's anchors to this host.
 *
 * A figure counts only if the program's own counters say that all
 * `repeat` iterations took the path being measured: after every run the
 * VIP and reason counters are compared with what that case must do, and
 * the output frame with what it must be. Any figure that fails is printed
 * with INVALID and the reason, never dropped.
 *
 * Needs root (BPF_PROG_TEST_RUN, map creation). Prints, asserts nothing:
 * exits 0 unless setup fails.
 *
 * Usage: bench_xdp [-r repeat] [-n rounds] [-c cpu] [-v] [repeat]
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_backends.h"
#include "fwd.h"
#include "loader.h"
#include "maglev.h"
#include "restore.skel.h"
#include "calib.skel.h"

#define DEF_REPEAT 1000000u
#define DEF_ROUNDS 9
#define MIN_ROUNDS 5
#define MAX_ROUNDS 101
#define MAX_CASES 24
/* Floors run before and after every case of a round. */
#define MAX_RUNS (2 * MAX_CASES * MAX_ROUNDS)
#define N_BACKENDS 100
#define RING_M 65537u
/* Established flows cycled through by the "many flows" case: a quarter
 * of a CPU's 64 Ki buckets, so no bucket overflows its 4 ways. */
#define MANY_FLOWS 16384u
#define FRAME_MAX 1024
#define ENCAP4 20

#define VIP_TCP 0
#define VIP_UDP 1
#define N_VIPS 2

/* Calibration probes (tests/bench/calib.bpf.c, same numbers): slots of
 * calib_hits, one program each. */
#define CALIB_BASE 0
#define CALIB_HASH 1
#define CALIB_LRU 2
#define CALIB_LRU_UPD 3
#define CALIB_KTIME 4
#define CALIB_COARSE 5
#define CALIB_JHASH 6
#define CALIB_LRU_SAME 7
#define CALIB_LRU_BIG 8
#define CALIB_N 9

/* The anchor's floor (docs/measuring.md), ns. */
#define ANCHOR_FLOOR 23.0

/* Each probe beside docs/measuring.md's cost of the same operation on the anchor
 * machine, ns above its XDP_DROP floor (a range: its midpoint is used).
 * The host speed factor is the median over the probes marked `factor`;
 * the other two LRU updates show how much that one depends on the
 * update's working set, which docs/measuring.md does not give. */
static const struct calib_def {
	const char *name;
	double anchor_lo, anchor_hi;	/* 0: no anchor (the base) */
	int factor;			/* counts in the host speed factor */
} calib_defs[CALIB_N] = {
	[CALIB_BASE] = { "calib: count only (base)", 0, 0, 0 },
	[CALIB_HASH] = { "calib: HASH lookup, 20 B key", 32, 32, 1 },
	[CALIB_LRU] = { "calib: LRU lookup, hot, 40 B", 35, 35, 1 },
	[CALIB_LRU_UPD] = { "calib: LRU update, new key", 165, 230, 1 },
	[CALIB_KTIME] = { "calib: bpf_ktime_get_ns", 37, 37, 1 },
	[CALIB_COARSE] = { "calib: bpf_ktime_get_coarse_ns", 16, 16, 1 },
	[CALIB_JHASH] = { "calib: jhash, 4 words", 12, 12, 1 },
	[CALIB_LRU_SAME] = { "calib: LRU update, same key", 165, 230, 0 },
	[CALIB_LRU_BIG] = { "calib: LRU update, new, 64Ki", 165, 230, 0 },
};

/* Which program restore_xdp tail-calls. */
enum callee { CALL_DROP, CALL_GROW_DROP, CALL_SLUICE, CALL_PROBE };
/* What a run must do to the flow counters of its VIP. */
enum flow_rule { F_NONE, F_ZERO, F_ALL, F_AT_MOST_ONE };

struct bench_case {
	const char *name;
	double katran;		/* docs/measuring.md anchor ratio; 0: none */
	int floor;		/* index of the case this one is a ratio to */
	enum callee callee;
	int probe;		/* CALL_PROBE: CALIB_* */
	int direct;		/* the callee alone, without the wrapper */
	int vary;		/* through restore_vary_xdp */
	__u32 vary_mask;	/* flow numbers cycle in [0, mask] */
	__be32 vary_net;
	int prime;		/* establish the flow(s) before each run */
	__u8 frame[FRAME_MAX];
	__u32 len;
	/* Expectations (see check_run). */
	int action;		/* XDP_* */
	int reason;		/* LB_R_* rising by repeat; -1: none may move */
	int vip;		/* VIP whose packets rise by repeat; -1: none */
	enum flow_rule new_flows, ring_picks;
	int encap;		/* output is the IPIP packet */
	int restores;		/* restore_xdp must put back repeat - 1 frames */
	/* Results: one figure per round (floors: one per bracket run). */
	double ns[MAX_RUNS];
	double ratio[MAX_ROUNDS];	/* to the mean of the floor runs around it */
	double above[MAX_ROUNDS];	/* ns above that mean */
	int runs;
	int invalid;			/* runs that failed check_run */
	char why[160];			/* the first failure */
};

struct bench {
	struct lb_xdp *x;
	struct restore *skel;
	struct calib *calib;
	int sluice_fd, drop_fd, grow_fd, tail_fd;
	int probe_fd[CALIB_N];
	struct lb_flow_bucket *flows;
	size_t flows_len;
	__be32 encap_src;
	struct bench_case *cases;
	int n_cases;
	__u32 repeat;
	int verbose;
};

struct snapshot {
	struct lb_vip_stats vip[N_VIPS];
	struct lb_reason_stats reason[LB_R_MAX];
	__u64 restored, bad_delta;
	__u64 calib[CALIB_N];
	__u32 upd_seq;
};

static const char *const reason_names[] = LB_REASON_NAMES;

/* --- Frames -------------------------------------------------------------- */

static __u16 ip_csum(const void *p, size_t n)
{
	const __u16 *w = p;
	__u32 sum = 0;
	size_t i;

	for (i = 0; i < n / 2; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* An untagged IPv4 frame of exactly `len` bytes (the IP packet fills it:
 * no Ethernet padding), TCP with `tcp_flags` or UDP. */
static __u32 build_frame(__u8 *f, __u32 len, __u8 proto, const char *src, const char *dst,
			 __u16 sport, __u16 dport, __u8 tcp_flags)
{
	struct ethhdr *eth = (void *)f;
	struct iphdr *ip = (void *)(eth + 1);
	__u8 *l4 = (__u8 *)(ip + 1);
	__u32 i;

	memset(f, 0, len);
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(len - sizeof(*eth));
	ip->id = htons(0x1234);
	ip->frag_off = htons(0x4000);	/* DF */
	ip->ttl = 64;
	ip->protocol = proto;
	inet_pton(AF_INET, src, &ip->saddr);
	inet_pton(AF_INET, dst, &ip->daddr);
	ip->check = ip_csum(ip, sizeof(*ip));
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)l4;

		th->source = htons(sport);
		th->dest = htons(dport);
		th->seq = htonl(1000);
		th->ack_seq = htonl(2000);
		th->doff = 5;
		th->window = htons(65535);
		((__u8 *)th)[13] = tcp_flags;
		l4 += sizeof(*th);
	} else {
		struct udphdr *uh = (void *)l4;

		uh->source = htons(sport);
		uh->dest = htons(dport);
		uh->len = htons(len - sizeof(*eth) - sizeof(*ip));
		l4 += sizeof(*uh);
	}
	/* A payload that is not all zeroes, so a mangled byte shows. */
	for (i = 0; l4 + i < f + len; i++)
		l4[i] = (__u8)(0xa5 ^ i);
	return len;
}

#define TCP_SYN 0x02
#define TCP_ACK 0x10

/* --- Setup --------------------------------------------------------------- */

static __be32 addr4(const char *s)
{
	__be32 a;

	inet_pton(AF_INET, s, &a);
	return a;
}

static int setup_lb(struct bench *b)
{
	struct lb_params params = { .max_ring = RING_M };
	struct lb_maglev_backend mb[N_BACKENDS];
	struct lb_vip_entry vips[3];
	struct lb_config cfg;
	unsigned int lo;
	__u32 *ring = NULL;
	int err, i;

	b->x = lb_xdp_open(&params);
	if (!b->x) {
		err = -errno;
		fprintf(stderr, "lb_xdp_open: %s\n", strerror(-err));
		return err;
	}
	b->sluice_fd = lb_xdp_prog_fd(b->x);

	memset(&cfg, 0, sizeof(cfg));
	b->encap_src = addr4("172.16.0.1");
	cfg.encap_src4 = b->encap_src;
	err = lb_xdp_set_config(b->x, &cfg);
	if (err)
		goto fail;

	memset(vips, 0, sizeof(vips));
	for (i = 0; i < 3; i++) {
		vips[i].key.addr.w[0] = addr4("10.100.0.1");
		vips[i].key.family = LB_FAMILY_V4;
	}
	vips[0].key.port = htons(80);
	vips[0].key.proto = IPPROTO_TCP;
	vips[0].vip_id = VIP_TCP;
	vips[1].key.port = htons(53);
	vips[1].key.proto = IPPROTO_UDP;
	vips[1].vip_id = VIP_UDP;
	vips[2].key.proto = IPPROTO_ICMP;
	vips[2].vip_id = LB_VIP_ID_ADDR;
	err = lb_xdp_set_vips(b->x, vips, 3);
	if (err)
		goto fail;

	/* BPF_PROG_TEST_RUN without a context runs as if received on the
	 * netns's loopback device (net/bpf/test_run.c), so that is the
	 * next-hop ifindex that makes the program choose XDP_TX. */
	lo = if_nametoindex("lo");
	for (i = 0; i < N_BACKENDS; i++) {
		struct lb_backend be;

		bench_backend((unsigned int)i, lo, &be, &mb[i]);
		err = lb_xdp_set_backend(b->x, (__u32)i, &be);
		if (err)
			goto fail;
	}
	ring = malloc(RING_M * sizeof(*ring));
	if (!ring) {
		err = -ENOMEM;
		goto fail;
	}
	err = lb_maglev_build(mb, N_BACKENDS, ring, RING_M);
	if (err) {
		fprintf(stderr, "lb_maglev_build: %s\n", strerror(-err));
		goto fail;
	}
	for (i = 0; i < N_VIPS; i++) {
		err = lb_xdp_set_ring(b->x, (__u32)i, ring, RING_M);
		if (err)
			goto fail;
	}
	free(ring);
	return 0;
fail:
	fprintf(stderr, "setting up sluice_xdp: %s\n", strerror(-err));
	free(ring);
	lb_xdp_close(b->x);
	b->x = NULL;
	return err;
}

/* A writable view of the connection table, to empty it between rounds
 * (the new-flow case fills every bucket; see run_round). */
static int map_flows(struct bench *b)
{
	struct bpf_map_info info;
	__u32 ilen = sizeof(info);
	int fd = lb_xdp_map_fd(b->x, LB_MAP_FLOWS), err;
	void *p;

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &ilen)) {
		err = fd < 0 ? fd : -errno;
		fprintf(stderr, "flows map: %s\n", strerror(-err));
		return err;
	}
	b->flows_len = (size_t)info.value_size * info.max_entries;
	p = mmap(NULL, b->flows_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		fprintf(stderr, "mmap of the flows map: %s\n", strerror(-err));
		return err;
	}
	b->flows = p;
	return 0;
}

static int setup_restore(struct bench *b)
{
	int err;

	b->skel = restore__open_and_load();
	if (!b->skel) {
		err = -errno;
		fprintf(stderr, "loading restore.bpf.o: %s\n", strerror(-err));
		return err;
	}
	b->drop_fd = bpf_program__fd(b->skel->progs.drop_xdp);
	b->grow_fd = bpf_program__fd(b->skel->progs.grow_drop_xdp);
	b->tail_fd = bpf_map__fd(b->skel->maps.under_test);
	return 0;
}

static __u32 rol32(__u32 w, int s)
{
	return (w << s) | (w >> (32 - s));
}

/* The kernel's jhash2(k, 4, 0), as calib_jhash_xdp computes it. */
static __u32 jhash4(const __u32 *k)
{
	__u32 a, b, c;

	a = b = c = 0xdeadbeef + (4 << 2);
	a += k[0];
	b += k[1];
	c += k[2];
	a -= c; a ^= rol32(c, 4);  c += b;
	b -= a; b ^= rol32(a, 6);  a += c;
	c -= b; c ^= rol32(b, 8);  b += a;
	a -= c; a ^= rol32(c, 16); c += b;
	b -= a; b ^= rol32(a, 19); a += c;
	c -= b; c ^= rol32(b, 4);  b += a;
	a += k[3];
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

/* The probe's value: what a hit adds to its counter. */
struct calib_val {
	__u64 one;
	__u64 seq;
};

/* An IPv4 flow key, 10.0.x.y:40000 -> 10.100.0.1:80 TCP, x.y from i. */
static struct lb_flow_key calib_flow(__u32 i)
{
	struct lb_flow_key k;

	memset(&k, 0, sizeof(k));
	k.src.w[0] = htonl(0x0a000000u | (i & 0xffff));
	k.dst.w[0] = addr4("10.100.0.1");
	k.sport = htons(40000);
	k.dport = htons(80);
	k.proto = IPPROTO_TCP;
	k.family = LB_FAMILY_V4;
	return k;
}

/* Loads the probes and fills their maps: vip_hash with 100 VIPs (the
 * probe looks up the first), lru_hot with 1024 flows (the probe looks up
 * the first, every iteration: hot), lru_upd and lru_big empty (the
 * probes fill them in the warm-up round and evict from then on). */
static int setup_calib(struct bench *b)
{
	struct calib__bss *bss;
	struct calib_val v = { .one = 1 };
	int err, i, vfd, lfd;

	b->calib = calib__open_and_load();
	if (!b->calib) {
		err = -errno;
		fprintf(stderr, "loading calib.bpf.o: %s\n", strerror(-err));
		return err;
	}
	bss = b->calib->bss;
	b->probe_fd[CALIB_BASE] = bpf_program__fd(b->calib->progs.calib_base_xdp);
	b->probe_fd[CALIB_HASH] = bpf_program__fd(b->calib->progs.calib_hash_xdp);
	b->probe_fd[CALIB_LRU] = bpf_program__fd(b->calib->progs.calib_lru_xdp);
	b->probe_fd[CALIB_LRU_UPD] = bpf_program__fd(b->calib->progs.calib_lru_upd_xdp);
	b->probe_fd[CALIB_KTIME] = bpf_program__fd(b->calib->progs.calib_ktime_xdp);
	b->probe_fd[CALIB_COARSE] = bpf_program__fd(b->calib->progs.calib_coarse_xdp);
	b->probe_fd[CALIB_JHASH] = bpf_program__fd(b->calib->progs.calib_jhash_xdp);
	b->probe_fd[CALIB_LRU_SAME] = bpf_program__fd(b->calib->progs.calib_lru_same_xdp);
	b->probe_fd[CALIB_LRU_BIG] = bpf_program__fd(b->calib->progs.calib_lru_big_xdp);
	_Static_assert(sizeof(bss->calib_hits) == CALIB_N * sizeof(__u64), "CALIB_N");

	bss->calib_one = 1;
	vfd = bpf_map__fd(b->calib->maps.vip_hash);
	for (i = 0; i < 100; i++) {
		struct lb_vip_key k;

		memset(&k, 0, sizeof(k));
		k.addr.w[0] = htonl(0x0a640001u + (__u32)i);	/* 10.100.0.1.. */
		k.port = htons(80);
		k.proto = IPPROTO_TCP;
		k.family = LB_FAMILY_V4;
		if (bpf_map_update_elem(vfd, &k, &v, BPF_NOEXIST))
			goto fail;
		if (i == 0)
			bss->hash_key = k;
	}
	lfd = bpf_map__fd(b->calib->maps.lru_hot);
	for (i = 0; i < 1024; i++) {
		struct lb_flow_key k = calib_flow((__u32)i);

		if (bpf_map_update_elem(lfd, &k, &v, BPF_NOEXIST))
			goto fail;
	}
	bss->lru_key = calib_flow(0);
	bss->upd_key = calib_flow(0);
	bss->upd_key.dst.w[0] = addr4("10.100.0.2");
	bss->same_key = calib_flow(0);
	bss->same_key.dst.w[0] = addr4("10.100.0.3");
	bss->jhash_in[0] = addr4("10.0.0.2");
	bss->jhash_in[1] = addr4("10.100.0.1");
	bss->jhash_in[2] = htons(40000) | (__u32)htons(80) << 16;
	bss->jhash_in[3] = IPPROTO_TCP;
	bss->jhash_want = jhash4(bss->jhash_in);
	return 0;
fail:
	err = -errno;
	fprintf(stderr, "filling the calibration maps: %s\n", strerror(-err));
	return err;
}

/* --- Cases --------------------------------------------------------------- */

static struct bench_case *add_case(struct bench *b, const char *name, double katran, int floor,
				   enum callee callee)
{
	struct bench_case *c = &b->cases[b->n_cases];

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->katran = katran;
	c->callee = callee;
	c->probe = -1;
	c->reason = -1;
	c->vip = -1;
	c->action = XDP_DROP;
	c->vary_mask = 0xffffffffu;
	c->floor = floor < 0 ? b->n_cases : floor;
	b->n_cases++;
	return c;
}

static void fwd_expect(struct bench_case *c, int vip, enum flow_rule nf, enum flow_rule rp)
{
	c->action = XDP_TX;
	c->reason = LB_R_FWD_TX;
	c->vip = vip;
	c->new_flows = nf;
	c->ring_picks = rp;
	c->encap = 1;
	c->restores = 1;
}

static void make_cases(struct bench *b)
{
	struct bench_case *c;
	int floor, vfloor, p;

	floor = b->n_cases;
	c = add_case(b, "floor: wrapper + XDP_DROP", 0, -1, CALL_DROP);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000, 80, TCP_ACK);

	/* For scale: what the wrapper and its tail call add to the floor. */
	c = add_case(b, "XDP_DROP alone (no wrapper)", 0, floor, CALL_DROP);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000, 80, TCP_ACK);
	c->direct = 1;

	c = add_case(b, "restore probe (+adjust_head)", 0, floor, CALL_GROW_DROP);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000, 80, TCP_ACK);
	c->restores = 1;

	c = add_case(b, "established TCP", 6.0, floor, CALL_SLUICE);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000, 80, TCP_ACK);
	c->prime = 1;
	fwd_expect(c, VIP_TCP, F_ZERO, F_ZERO);

	c = add_case(b, "SYN (one tuple, table write)", 12.4, floor, CALL_SLUICE);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.3", "10.100.0.1", 40001, 80, TCP_SYN);
	fwd_expect(c, VIP_TCP, F_AT_MOST_ONE, F_ALL);

	c = add_case(b, "established UDP", 7.4, floor, CALL_SLUICE);
	c->len = build_frame(c->frame, 64, IPPROTO_UDP, "10.0.0.2", "10.100.0.1", 40000, 53, 0);
	c->prime = 1;
	fwd_expect(c, VIP_UDP, F_ZERO, F_ZERO);

	c = add_case(b, "non-VIP (XDP_PASS)", 3.2, floor, CALL_SLUICE);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.200.0.1", 40000, 80, TCP_ACK);
	c->action = XDP_PASS;
	c->reason = LB_R_PASS_NOT_VIP;

	c = add_case(b, "established TCP, 512 B", 0, floor, CALL_SLUICE);
	c->len = build_frame(c->frame, 512, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000, 80, TCP_ACK);
	c->prime = 1;
	fwd_expect(c, VIP_TCP, F_ZERO, F_ZERO);

	vfloor = b->n_cases;
	c = add_case(b, "floor: vary wrapper + XDP_DROP", 0, floor, CALL_DROP);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000, 80, TCP_ACK);
	c->vary = 1;
	c->vary_net = addr4("198.18.0.0");

	c = add_case(b, "established TCP, 16Ki flows", 0, vfloor, CALL_SLUICE);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000, 80, TCP_ACK);
	c->vary = 1;
	c->vary_mask = MANY_FLOWS - 1;
	c->vary_net = addr4("198.19.0.0");
	c->prime = 1;
	fwd_expect(c, VIP_TCP, F_ZERO, F_ZERO);

	/* Last in every round: it fills the connection table (run_round). */
	c = add_case(b, "SYN, new flow every packet", 0, vfloor, CALL_SLUICE);
	c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000, 80, TCP_SYN);
	c->vary = 1;
	c->vary_net = addr4("198.20.0.0");
	fwd_expect(c, VIP_TCP, F_ALL, F_ALL);

	/* Calibration: known operations behind the same wrapper and floor,
	 * interleaved with the rest (report_calib). */
	for (p = 0; p < CALIB_N; p++) {
		c = add_case(b, calib_defs[p].name, 0, floor, CALL_PROBE);
		c->len = build_frame(c->frame, 64, IPPROTO_TCP, "10.0.0.2", "10.100.0.1", 40000,
				     80, TCP_ACK);
		c->probe = p;
	}
}

/* --- Running ------------------------------------------------------------- */

static int take_snapshot(struct bench *b, struct snapshot *s)
{
	int err, i;

	for (i = 0; i < N_VIPS; i++) {
		err = lb_xdp_vip_stats(b->x, (__u32)i, &s->vip[i]);
		if (err)
			return err;
	}
	err = lb_xdp_reason_stats(b->x, s->reason);
	if (err)
		return err;
	s->restored = b->skel->bss->restored;
	s->bad_delta = b->skel->bss->bad_delta;
	memcpy(s->calib, b->calib->bss->calib_hits, sizeof(s->calib));
	s->upd_seq = b->calib->bss->upd_seq;
	return 0;
}

static int flow_ok(enum flow_rule r, __u64 d, __u32 n)
{
	switch (r) {
	case F_ZERO:
		return d == 0;
	case F_ALL:
		return d == n;
	case F_AT_MOST_ONE:
		return d <= 1;
	default:
		return 1;
	}
}

#define WHY(...) do { if (!*why) snprintf(why, whylen, __VA_ARGS__); } while (0)

/* Fills why (empty: valid) from the counters and the output frame. */
static void check_run(struct bench *b, const struct bench_case *c, __u32 n,
		      const struct snapshot *s0, const struct snapshot *s1, int retval,
		      const __u8 *out, __u32 out_len, char *why, size_t whylen)
{
	int i;

	*why = 0;
	for (i = 0; i < LB_R_MAX; i++) {
		__u64 d = s1->reason[i].packets - s0->reason[i].packets;
		__u64 want = i == c->reason ? n : 0;

		if (d != want)
			WHY("reason %s +%llu, want +%llu", reason_names[i],
			    (unsigned long long)d, (unsigned long long)want);
	}
	for (i = 0; i < N_VIPS; i++) {
		__u64 d = s1->vip[i].packets - s0->vip[i].packets;
		__u64 nf = s1->vip[i].new_flows - s0->vip[i].new_flows;
		__u64 rp = s1->vip[i].ring_picks - s0->vip[i].ring_picks;
		__u64 want = i == c->vip ? n : 0;

		if (d != want)
			WHY("vip %d packets +%llu, want +%llu", i, (unsigned long long)d,
			    (unsigned long long)want);
		if (i != c->vip)
			continue;
		if (!flow_ok(c->new_flows, nf, n))
			WHY("vip %d new_flows +%llu of %u", i, (unsigned long long)nf, n);
		if (!flow_ok(c->ring_picks, rp, n))
			WHY("vip %d ring_picks +%llu of %u", i, (unsigned long long)rp, n);
	}
	if (retval != c->action)
		WHY("returned %d, want %d", retval, c->action);
	if (s1->bad_delta != s0->bad_delta)
		WHY("wrapper could not restore %llu frames",
		    (unsigned long long)(s1->bad_delta - s0->bad_delta));
	if (c->restores && s1->restored - s0->restored != n - 1)
		WHY("wrapper restored %llu frames, want %u",
		    (unsigned long long)(s1->restored - s0->restored), n - 1);
	if (!c->restores && s1->restored != s0->restored)
		WHY("wrapper restored %llu frames, want 0",
		    (unsigned long long)(s1->restored - s0->restored));
	/* The probe's own count: every iteration hit (lookups), inserted
	 * (update), read a clock, or hashed to the right value. */
	for (i = 0; i < CALIB_N; i++) {
		__u64 d = s1->calib[i] - s0->calib[i];
		__u64 want = i == c->probe ? n : 0;

		if (d != want)
			WHY("probe %s counted +%llu, want +%llu", calib_defs[i].name,
			    (unsigned long long)d, (unsigned long long)want);
	}
	if (c->probe == CALIB_LRU_UPD || c->probe == CALIB_LRU_SAME || c->probe == CALIB_LRU_BIG) {
		/* n updates, and the last one really is in the map. */
		struct lb_flow_key k = c->probe == CALIB_LRU_SAME ? b->calib->bss->same_key :
				       b->calib->bss->upd_key;
		struct bpf_map *m = c->probe == CALIB_LRU_BIG ? b->calib->maps.lru_big :
				    b->calib->maps.lru_upd;
		struct calib_val v;

		if (c->probe != CALIB_LRU_SAME)
			k.src.w[0] = s1->upd_seq - 1;
		if (s1->upd_seq - s0->upd_seq != n)
			WHY("lru update: %u updates, want %u", s1->upd_seq - s0->upd_seq, n);
		else if (bpf_map_lookup_elem(bpf_map__fd(m), &k, &v) || v.seq != s1->upd_seq - 1)
			WHY("lru update: the last one is not in the map");
	} else if (s1->upd_seq != s0->upd_seq) {
		WHY("an lru update probe ran");
	}

	/* The last iteration's output. */
	if (c->callee != CALL_SLUICE)
		return;
	if (!c->encap) {
		if (out_len != c->len || memcmp(out, c->frame, c->len))
			WHY("passed frame changed");
		return;
	}
	if (out_len != c->len + ENCAP4) {
		WHY("output %u bytes, want %u", out_len, c->len + ENCAP4);
		return;
	}
	{
		const struct iphdr *ip = (const void *)(out + sizeof(struct ethhdr));
		__u8 inner[FRAME_MAX];
		__u32 be = ntohl(ip->daddr);

		memcpy(inner, c->frame + sizeof(struct ethhdr), c->len - sizeof(struct ethhdr));
		if (c->vary) {
			/* The wrapper renumbered source address and port. */
			memcpy(inner + 12, out + sizeof(struct ethhdr) + ENCAP4 + 12, 4);
			memcpy(inner + 20, out + sizeof(struct ethhdr) + ENCAP4 + 20, 2);
		}
		if (ntohs(((const struct ethhdr *)out)->h_proto) != ETH_P_IP ||
		    memcmp(out, "\x02\x00\x00\x00\x01", 5) || ip->version != 4 || ip->ihl != 5 ||
		    ip->protocol != IPPROTO_IPIP || ip->saddr != b->encap_src ||
		    (be & 0xffffff00u) != 0x0a010000u || (be & 0xff) < 1 ||
		    (be & 0xff) > N_BACKENDS || ip_csum(ip, sizeof(*ip)) != 0)
			WHY("bad outer headers");
		else if (memcmp(out + sizeof(struct ethhdr) + ENCAP4, inner,
				c->len - sizeof(struct ethhdr)))
			WHY("inner packet changed");
	}
}

/* One BPF_PROG_TEST_RUN of case c with `repeat` iterations. *ns: ns per
 * iteration; why: empty if the run was valid. Returns 0, or -errno if it
 * could not run.
 *
 * The figure is the kernel's (duration): its timer covers exactly the
 * iterations and leaves out time the task spent rescheduled. Wall or CPU
 * time around the call would add ~1 ms per call (with repeat > 1 the
 * kernel re-points the XDP dispatcher before and after the loop, outside
 * its timer: ~1 ns/packet at repeat 10^6). The kernel's figure is whole
 * ns, truncated, so 0.5 is added: each figure is +-0.5 ns. */
static int run_case(struct bench *b, struct bench_case *c, __u32 repeat, double *ns, char *why,
		    size_t whylen)
{
	struct restore__bss *bss = b->skel->bss;
	struct snapshot s0, s1;
	__u8 out[FRAME_MAX + 64];
	__u32 key = 0;
	int fd, err, wrapper;
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = c->frame,
		.data_size_in = c->len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = repeat,
	);

	fd = c->callee == CALL_SLUICE ? b->sluice_fd :
	     c->callee == CALL_GROW_DROP ? b->grow_fd :
	     c->callee == CALL_PROBE ? b->probe_fd[c->probe] : b->drop_fd;
	if (bpf_map_update_elem(b->tail_fd, &key, &fd, BPF_ANY)) {
		err = -errno;
		fprintf(stderr, "%s: setting the tail call: %s\n", c->name, strerror(-err));
		return err;
	}
	bss->orig_len = c->len;
	bss->l2_len = sizeof(struct ethhdr);
	memcpy(bss->l2_hdr, c->frame, sizeof(struct ethhdr));
	if (c->vary) {
		bss->vary_net = c->vary_net;
		bss->vary_mask = c->vary_mask;
	}
	wrapper = c->direct ? fd : bpf_program__fd(c->vary ? b->skel->progs.restore_vary_xdp :
							     b->skel->progs.restore_xdp);

	err = take_snapshot(b, &s0);
	if (err)
		return err;
	if (bpf_prog_test_run_opts(wrapper, &o)) {
		err = -errno;
		fprintf(stderr, "%s: BPF_PROG_TEST_RUN: %s\n", c->name, strerror(-err));
		return err;
	}
	err = take_snapshot(b, &s1);
	if (err)
		return err;
	*ns = o.duration + 0.5;
	check_run(b, c, repeat, &s0, &s1, (int)o.retval, out, o.data_size_out, why, whylen);
	return 0;
}

/* Puts the flows of the established cases (back) into an empty table. */
static int prime(struct bench *b)
{
	char why[160];
	double ns;
	int i, err;

	memset(b->flows, 0, b->flows_len);
	for (i = 0; i < b->n_cases; i++) {
		struct bench_case *c = &b->cases[i];
		__u32 n = c->vary ? c->vary_mask + 1 : 1;

		if (!c->prime)
			continue;
		if (c->vary)
			b->skel->bss->vary_seq = 0;
		err = run_case(b, c, n, &ns, why, sizeof(why));
		if (err)
			return err;
		/* Here the first packet of each flow may insert it, so
		 * new_flows and ring_picks rise. Anything else is wrong. */
		if (*why && !strstr(why, "new_flows") && !strstr(why, "ring_picks"))
			fprintf(stderr, "priming %s: %s\n", c->name, why);
	}
	return 0;
}

/* Runs case c, or floor c, once and files the figure. */
static int run_one(struct bench *b, struct bench_case *c, int record, double *ns)
{
	char why[160];
	int err;

	err = run_case(b, c, b->repeat, ns, why, sizeof(why));
	if (err || !record)
		return err;
	if (*why && !c->invalid++)
		snprintf(c->why, sizeof(c->why), "%s", why);
	if (c->floor == c - b->cases)
		c->ns[c->runs++] = *ns;
	return 0;
}

/* One round: the established flows are put back, then every case runs
 * once between two runs of its floor (so that its ratio is to a floor
 * measured within a few ms of it, whatever the host's speed does),
 * starting at a rotating position. The new-flow case, which fills the
 * connection table, always runs last. */
static int run_round(struct bench *b, int round, int record)
{
	int order[MAX_CASES], n = 0, last = -1, i, err;
	struct bench_case *prev_floor = NULL;
	double prev_ns = 0;

	err = prime(b);
	if (err)
		return err;
	for (i = 0; i < b->n_cases; i++) {
		if (b->cases[i].floor == i)
			continue;
		if (b->cases[i].new_flows == F_ALL)
			last = i;
		else
			order[n++] = i;
	}
	if (last >= 0)
		order[n++] = last;
	for (i = 0; i < n; i++) {
		int k = i < n - (last >= 0) ? order[(i + round) % (n - (last >= 0))] : last;
		struct bench_case *c = &b->cases[k];
		struct bench_case *f = &b->cases[c->floor];
		double before, after, ns;

		if (prev_floor == f) {
			before = prev_ns;
		} else {
			err = run_one(b, f, record, &before);
			if (err)
				return err;
		}
		err = run_one(b, c, record, &ns);
		if (!err)
			err = run_one(b, f, record, &after);
		if (err)
			return err;
		prev_floor = f;
		prev_ns = after;
		if (record) {
			c->ns[c->runs] = ns;
			c->ratio[c->runs] = ns / ((before + after) / 2);
			c->above[c->runs] = ns - (before + after) / 2;
			c->runs++;
		}
	}
	return 0;
}

/* --- Report -------------------------------------------------------------- */

static int dbl_cmp(const void *pa, const void *pb)
{
	double a = *(const double *)pa, x = *(const double *)pb;

	return a < x ? -1 : a > x;
}

static double median(const double *v, int n, double *min, double *max)
{
	double s[MAX_RUNS];	/* a floor has up to 2 figures per case per round */

	memcpy(s, v, sizeof(*v) * n);
	qsort(s, n, sizeof(*s), dbl_cmp);
	*min = s[0];
	*max = s[n - 1];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_prog_info(const char *what, int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		printf("%s: bpf_prog_info: %s\n", what, strerror(errno));
		return;
	}
	printf("%s: %u instructions (xlated), %u processed by the verifier (verified_insns), "
	       "JIT %u bytes%s\n", what, info.xlated_prog_len / 8, info.verified_insns,
	       info.jited_prog_len, info.jited_prog_len ? "" :
	       " -- NOT JIT-compiled: figures are the interpreter's");
}

static void report(struct bench *b)
{
	double lo, hi, med, ratio, above;
	int i, r;

	printf("\n%-32s %7s %7s %7s  %6s %7s  %6s %9s\n", "case (ns/packet)", "min", "median",
	       "max", "ratio", "+floor", "Katran", "us/Katran");
	for (i = 0; i < b->n_cases; i++) {
		struct bench_case *c = &b->cases[i];

		med = median(c->ns, c->runs, &lo, &hi);
		printf("%-32s %7.1f %7.1f %7.1f", c->name, lo, med, hi);
		if (c->floor == i) {
			printf("  %6s %7s", "floor", "");
		} else {
			ratio = median(c->ratio, c->runs, &lo, &hi);
			above = median(c->above, c->runs, &lo, &hi);
			printf("  %5.2fx %+7.1f", ratio, above);
			if (c->katran > 0)
				printf("  %5.1fx %9.2f%s", c->katran, ratio / c->katran,
				       ratio / c->katran <= 0.8 ? "" : " (aim <= 0.80)");
		}
		if (c->invalid)
			printf("  INVALID (%d/%d runs)", c->invalid, c->runs);
		printf("\n");
	}
	for (i = 0; i < b->n_cases; i++) {
		struct bench_case *c = &b->cases[i];

		if (c->invalid)
			printf("INVALID %s: %d of %d runs failed the counter/output check; first: %s\n",
			       c->name, c->invalid, c->runs, c->why);
		if (b->verbose) {
			printf("  %s:", c->name);
			for (r = 0; r < c->runs; r++)
				printf(" %.1f", c->ns[r]);
			printf("\n");
		}
	}
}

/* The anchors are ratios to a ~23 ns floor. When this run's floor is far
 * from that, the host or the harness differs, and ratios compare only
 * roughly: say so, and give the other reading (ns above the floor, which
 * is as wrong in the other direction if the host is simply faster). */
static void floor_note(const struct bench *b)
{
	double lo, hi, floor = median(b->cases[0].ns, b->cases[0].runs, &lo, &hi);
	int i;

	if (floor > 23.0 / 1.5 && floor < 23.0 * 1.5)
		return;
	printf("\nNOTE: this run's floor is %.1f ns, the anchors' ~23 ns. A faster host\n"
	       "  scales both and keeps ratios; a cheaper floor (harness, kernel) inflates our\n"
	       "  ratios. The floor alone cannot tell which, so both readings (the\n"
	       "  calibration below tells):\n",
	       floor);
	printf("  %-30s %14s %14s\n", "", "Katran +floor", "ours +floor");
	for (i = 0; i < b->n_cases; i++) {
		const struct bench_case *c = &b->cases[i];

		if (c->katran <= 0)
			continue;
		printf("  %-30s %11.0f ns %11.1f ns  (%.2f)\n", c->name, (c->katran - 1) * 23.0,
		       median(c->above, c->runs, &lo, &hi),
		       median(c->above, c->runs, &lo, &hi) / ((c->katran - 1) * 23.0));
	}
}

/* The host speed factor: the median over the probes marked `factor` of
 * (ns above the floor here / docs/measuring.md's ns for the same operation).
 * rnd >= 0: from round rnd's figures; skip >= 0: without that probe. */
static double speed_factor(const struct bench_case *const *pc, int rnd, int skip, int *n)
{
	double q[CALIB_N], lo, hi;
	int p, m = 0;

	for (p = 0; p < CALIB_N; p++) {
		const struct calib_def *d = &calib_defs[p];
		const struct bench_case *c = pc[p];

		if (!c || !d->factor || c->invalid || p == skip || rnd >= c->runs)
			continue;
		q[m++] = (rnd >= 0 ? c->above[rnd] : median(c->above, c->runs, &lo, &hi)) /
			 ((d->anchor_lo + d->anchor_hi) / 2);
	}
	if (n)
		*n = m;
	return m ? median(q, m, &lo, &hi) : 0;
}

/* Speed of this host for BPF work from the calibration probes, and
 * Katran's anchors scaled by it (in ns above the floor) beside ours. */
static void report_calib(const struct bench *b)
{
	const struct bench_case *pc[CALIB_N] = { 0 };
	double fr[MAX_ROUNDS], lo, hi, med, f, floor, loo_lo = 0, loo_hi = 0, fr_lo = 0, fr_hi = 0;
	int i, p, n, rounds = 0, bad = 0;

	for (i = 0; i < b->n_cases; i++)
		if (b->cases[i].callee == CALL_PROBE)
			pc[b->cases[i].probe] = &b->cases[i];
	floor = median(b->cases[0].ns, b->cases[0].runs, &lo, &hi);

	printf("\ncalibration: this host vs docs/measuring.md anchor machine (ns above the XDP_DROP floor)\n");
	printf("  %-30s %7s %15s %9s %11s\n", "probe", "here", "(min..max)", "anchor",
	       "here/anchor");
	for (p = 0; p < CALIB_N; p++) {
		const struct bench_case *c = pc[p];
		const struct calib_def *d = &calib_defs[p];
		double anchor = (d->anchor_lo + d->anchor_hi) / 2;
		char range[32], a[16], q[16];

		if (!c)
			continue;
		med = median(c->above, c->runs, &lo, &hi);
		snprintf(range, sizeof(range), "(%.1f..%.1f)", lo, hi);
		if (d->anchor_lo == d->anchor_hi)
			snprintf(a, sizeof(a), "%.0f", d->anchor_lo);
		else
			snprintf(a, sizeof(a), "%.0f-%.0f", d->anchor_lo, d->anchor_hi);
		snprintf(q, sizeof(q), d->factor ? "%.2fx" : "(%.2fx)", med / anchor);
		printf("  %-30s %+7.1f %15s %9s %11s%s\n", d->name, med, range, anchor > 0 ? a : "-",
		       anchor > 0 ? q : "", c->invalid ? "  INVALID: left out" : "");
		bad += c->invalid && d->factor;
	}
	f = speed_factor(pc, -1, -1, &n);
	if (!f) {
		printf("=> no valid probe: no host speed factor\n");
		return;
	}
	rounds = pc[CALIB_HASH] ? pc[CALIB_HASH]->runs : 0;
	for (i = 0; i < rounds; i++)
		fr[i] = speed_factor(pc, i, -1, NULL);
	if (rounds)
		median(fr, rounds, &fr_lo, &fr_hi);
	for (p = 0; p < CALIB_N; p++) {
		double g;

		if (!pc[p] || !calib_defs[p].factor || pc[p]->invalid)
			continue;
		g = speed_factor(pc, -1, p, NULL);
		if (!loo_lo || g < loo_lo)
			loo_lo = g;
		if (g > loo_hi)
			loo_hi = g;
	}
	printf("  Probe = wrapper + operation + count + XDP_DROP; the count costs what the base\n"
	       "  row shows. Keys and values are Katran-like: VIP 20 B, flow 40 B, common LRU.\n"
	       "  LRU update, new key: a new flow every iteration into a full 4096-entry map\n"
	       "  (every insert evicts; in cache). Beside it, not in the factor: one key\n"
	       "  replaced every iteration, and new keys into a 64Ki-entry map (~7 MB: memory\n"
	       "  bound). docs/measuring.md does not say which its 165-230 ns was; midpoint used.\n");
	printf("=> host speed factor %.2f = median here/anchor of %d probes: this host does\n"
	       "   the same BPF work in %.2fx the anchor's time (per round %.2f..%.2f, any one\n"
	       "   probe left out %.2f..%.2f)%s.\n",
	       f, n, f,
	       fr_lo, fr_hi, loo_lo, loo_hi, bad ? "; INVALID probes left out" : "");
	printf("   Floor: the anchor's 23 ns would be %.1f ns here, this run's is %.1f ns (%.2fx):\n"
	       "   %s\n",
	       ANCHOR_FLOOR * f, floor, floor / (ANCHOR_FLOOR * f),
	       floor < 0.8 * ANCHOR_FLOOR * f ?
	       "the floor is cheaper than host speed explains, so ratios to it inflate ours\n"
	       "   and unscaled ns above it flatter ours; scaled ns above the floor are fair:" :
	       floor > 1.25 * ANCHOR_FLOOR * f ?
	       "the floor is dearer than host speed explains, so ratios to it flatter ours\n"
	       "   and unscaled ns above it inflate ours; scaled ns above the floor are fair:" :
	       "host speed explains the floor, so ratios and scaled ns above it agree:");

	printf("\nKatran scaled to this host: (anchor ratio - 1) * 23 ns * factor %.2f, beside ours\n",
	       f);
	printf("  %-30s %7s %8s %8s %8s %9s %11s %11s\n", "case (ns above floor)", "Katran",
	       "K anchor", "K here", "ours", "us/Katran", "per round", "factor-1");
	for (i = 0; i < b->n_cases; i++) {
		const struct bench_case *c = &b->cases[i];
		double k_anchor, k_here, ours, q[MAX_ROUNDS];
		char pr[24] = "";
		int j;

		if (c->katran <= 0)
			continue;
		k_anchor = (c->katran - 1) * ANCHOR_FLOOR;
		k_here = k_anchor * f;
		ours = median(c->above, c->runs, &lo, &hi);
		for (j = 0; j < c->runs && j < rounds; j++)
			q[j] = c->above[j] / (k_anchor * fr[j]);
		if (j) {
			median(q, j, &lo, &hi);
			snprintf(pr, sizeof(pr), "%.2f..%.2f", lo, hi);
		}
		printf("  %-30s %6.1fx %8.0f %8.1f %8.1f %9.2f %11s %5.2f..%.2f%s%s\n", c->name,
		       c->katran, k_anchor, k_here, ours, ours / k_here, pr,
		       ours / (k_anchor * loo_hi), ours / (k_anchor * loo_lo),
		       ours / k_here <= 0.8 ? "" : "  (aim <= 0.80)", c->invalid ? "  INVALID" : "");
	}
	printf("  K anchor: Katran's ns above its floor there; K here: that times the factor;\n"
	       "  us/Katran: ours / K here; per round: each round's figures and factor;\n"
	       "  factor-1: with the factor computed leaving any one probe out.\n");
}

static void usage(const char *prog)
{
	printf("Usage: %s [-r repeat] [-n rounds] [-c cpu] [-v] [repeat]\n"
	       "  Runs sluice_xdp behind the restore-and-tail-call wrapper through\n"
	       "  BPF_PROG_TEST_RUN and prints ns/packet per case and its ratio to an\n"
	       "  XDP_DROP floor from the same run (docs/measuring.md), then calibrates\n"
	       "  this host against docs/measuring.md's anchor machine. Needs root.\n"
	       "  -r N  iterations per run (default %u)\n"
	       "  -n N  rounds, %d..%d (default %d); one more warm-up round is discarded\n"
	       "  -c N  CPU to pin to (default: the last online CPU)\n"
	       "  -v    print every round's figure\n",
	       prog, DEF_REPEAT, MIN_ROUNDS, MAX_ROUNDS, DEF_ROUNDS);
}

int main(int argc, char **argv)
{
	static struct bench_case cases[MAX_CASES];
	struct bench b = { .cases = cases, .repeat = DEF_REPEAT };
	int rounds = DEF_ROUNDS, cpu = -1, opt, r, err;
	cpu_set_t set;

	while ((opt = getopt(argc, argv, "r:n:c:vh")) != -1) {
		switch (opt) {
		case 'r':
			b.repeat = (__u32)strtoul(optarg, NULL, 0);
			break;
		case 'n':
			rounds = atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'v':
			b.verbose = 1;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		b.repeat = (__u32)strtoul(argv[optind], NULL, 0);
	if (b.repeat < 2 || rounds < MIN_ROUNDS || rounds > MAX_ROUNDS) {
		fprintf(stderr, "repeat must be >= 2 and rounds in %d..%d\n", MIN_ROUNDS,
			MAX_ROUNDS);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench_xdp: needs root (BPF_PROG_TEST_RUN and BPF maps)\n");
		return 1;
	}

	/* One CPU for the whole run: the connection table is per CPU, so an
	 * established flow is established only on the CPU that saw it. */
	if (cpu < 0)
		cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "pinning to CPU %d: %s\n", cpu, strerror(errno));
		return 1;
	}

	err = setup_lb(&b);
	if (!err)
		err = map_flows(&b);
	if (!err)
		err = setup_restore(&b);
	if (!err)
		err = setup_calib(&b);
	if (err)
		goto out;
	make_cases(&b);

	printf("bench_xdp: BPF_PROG_TEST_RUN, restore-and-tail-call wrapper (docs/measuring.md method 1)\n");
	printf("repeat %u, %d rounds (+1 warm-up discarded), cases interleaved, CPU %d\n",
	       b.repeat, rounds, cpu);
	printf("sluice: %d backends, Maglev ring M=%u, IPIP to IPv4 backends, cached next hop\n",
	       N_BACKENDS, RING_M);
	print_prog_info("sluice_xdp", b.sluice_fd);
	print_prog_info("restore_xdp", bpf_program__fd(b.skel->progs.restore_xdp));
	fflush(stdout);

	for (r = -1; r < rounds; r++) {
		err = run_round(&b, r < 0 ? 0 : r, r >= 0);
		if (err)
			goto out;
	}
	report(&b);
	printf("\nratio: median over rounds of (case / mean of the floor runs just before and\n"
	       "  after it); +floor: ns above that mean; min/median/max: ns/packet.\n"
	       "Every figure is the kernel's whole-ns average over `repeat` iterations + 0.5\n"
	       "  (it truncates): +-0.5 ns each, so a ratio to a ~6-12 ns floor is +-5-10%%.\n"
	       "Katran: docs/measuring.md anchor ratios (method 1, IPIP, 100 backends, M=65537, floor\n"
	       "  ~23 ns); us/Katran = our ratio / Katran's, Sluice aims at <= 0.80.\n"
	       "Forwarded cases include the wrapper's restore (adjust_head + L2 rewrite),\n"
	       "  which the floor does not: the restore probe's +floor bounds it from above.\n"
	       "SYN (one tuple) rewrites one hot bucket every iteration, as Katran's anchor\n"
	       "  did. '16Ki flows' and 'new flow every packet' renumber the source address and\n"
	       "  port in the wrapper (restore_vary_xdp) and are ratios to that wrapper's floor;\n"
	       "  the connection table is emptied and the established flows put back at the\n"
	       "  start of every round, and the new-flow case runs last in it.\n"
	       "XDP_TX is not transmitted in BPF_PROG_TEST_RUN (live XDP_TX on veth adds\n"
	       "  ~90 ns, docs/measuring.md); neither our figures nor the anchors include it.\n");
	floor_note(&b);
	report_calib(&b);
out:
	if (b.flows)
		munmap(b.flows, b.flows_len);
	calib__destroy(b.calib);
	restore__destroy(b.skel);
	if (b.x)
		lb_xdp_close(b.x);
	return err ? 1 : 0;
}
