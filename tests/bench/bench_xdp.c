// SPDX-License-Identifier: Apache-2.0
/*
 * bench_xdp.c - ns/packet of sluice_xdp through BPF_PROG_TEST_RUN, as
 * ratios to an XDP_DROP floor measured in the same run (docs/measuring.md).
 *
 * Method 1 there: every run goes through restore_xdp
 * (tests/bench/restore.bpf.c), which puts the original frame back before
 * each of the `repeat` iterations and tail-calls the program under test.
 * The floor is the same wrapper tail-calling a program that returns
 * XDP_DROP. Cases are interleaved (the order rotates every round) and
 * every case runs between two runs of its floor, so that its ratio is to
 * a floor measured milliseconds away whatever the host's speed does; a
 * warm-up round is discarded, and min / median / max over >= 5 rounds
 * are printed, with the median of the per-round ratios.
 *
 * Katran's anchors are its ratios to its own XDP_DROP floor, measured
 * the same way; they are printed beside ours, with our cost above the
 * floor as a share of Katran's. Katran's cost scales with the floor of
 * the host it runs on, so ratios compare across hosts; converting the
 * anchors to ns here through a host speed factor does not (measured: it
 * overstated our relative cost 1.3-1.5x; docs/measuring.md).
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

/* Katran's anchors were measured on a floor of about this many ns. */
#define KATRAN_FLOOR_NS 23.0
/* Our cost above the floor as a share of Katran's, at most (the aim). */
#define AIM_SHARE 0.5

/* Which program restore_xdp tail-calls. */
enum callee { CALL_DROP, CALL_GROW_DROP, CALL_SLUICE };
/* What a run must do to the flow counters of its VIP. */
enum flow_rule { F_NONE, F_ZERO, F_ALL, F_AT_MOST_ONE };

struct bench_case {
	const char *name;
	double katran;		/* Katran's ratio to its floor; 0: none */
	int floor;		/* index of the case this one is a ratio to */
	enum callee callee;
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
	int sluice_fd, drop_fd, grow_fd, tail_fd;
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

/* --- Cases --------------------------------------------------------------- */

static struct bench_case *add_case(struct bench *b, const char *name, double katran, int floor,
				   enum callee callee)
{
	struct bench_case *c = &b->cases[b->n_cases];

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->katran = katran;
	c->callee = callee;
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
	int floor, vfloor;

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
	     c->callee == CALL_GROW_DROP ? b->grow_fd : b->drop_fd;
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

/* Median of the first floor's runs, ns. */
static double floor_ns(const struct bench *b)
{
	double lo, hi;

	return median(b->cases[0].ns, b->cases[0].runs, &lo, &hi);
}

/* Beside Katran's ratio to its floor: our cost above the floor as a
 * share of Katran's above its own, (ours - 1) / (Katran - 1), at the
 * median ratio and at the extremes of the per-round ratios. */
static void print_katran(const struct bench_case *c)
{
	double lo, hi, ratio = median(c->ratio, c->runs, &lo, &hi), k = c->katran - 1;
	double share = (ratio - 1) / k;

	printf("  %5.1fx %6.2f (%.2f..%.2f)", c->katran, share, (lo - 1) / k, (hi - 1) / k);
	if (share > AIM_SHARE)
		printf(" (aim <= %.2f)", AIM_SHARE);
}

static void report(struct bench *b)
{
	double lo, hi, med, ratio, above;
	int i, r;

	printf("\n%-32s %7s %7s %7s  %6s %7s  %6s %6s\n", "case (ns/packet)", "min", "median",
	       "max", "ratio", "+floor", "Katran", "share of Katran's +floor");
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
				print_katran(c);
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

static void usage(const char *prog)
{
	printf("Usage: %s [-r repeat] [-n rounds] [-c cpu] [-v] [repeat]\n"
	       "  Runs sluice_xdp behind the restore-and-tail-call wrapper through\n"
	       "  BPF_PROG_TEST_RUN and prints ns/packet per case and its ratio to an\n"
	       "  XDP_DROP floor from the same run, beside Katran's ratio to its floor\n"
	       "  (docs/measuring.md). Needs root.\n"
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
	if (err)
		goto out;
	make_cases(&b);

	printf("bench_xdp: BPF_PROG_TEST_RUN, restore-and-tail-call wrapper (method 1 of\n"
	       "  docs/measuring.md)\n");
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
	       "  (it truncates): +-0.5 ns each, +-%.1f%% of this run's floor.\n"
	       "Katran: its ratio to its own XDP_DROP floor, measured the same way (IPIP,\n"
	       "  100 backends, M=65537, a floor of ~%.0f ns; docs/measuring.md). Its cost\n"
	       "  scales with the floor of the host it runs on, so the ratios compare.\n"
	       "share of Katran's +floor: (our ratio - 1) / (Katran's - 1), at the median\n"
	       "  ratio (at the lowest..highest round's); Sluice aims at <= %.2f.\n"
	       "Forwarded cases include the wrapper's restore (adjust_head + L2 rewrite),\n"
	       "  which the floor does not: the restore probe's +floor bounds it from above.\n"
	       "SYN (one tuple) rewrites one hot bucket every iteration, as Katran's anchor\n"
	       "  did. '16Ki flows' and 'new flow every packet' renumber the source address and\n"
	       "  port in the wrapper (restore_vary_xdp) and are ratios to that wrapper's floor;\n"
	       "  the connection table is emptied and the established flows put back at the\n"
	       "  start of every round, and the new-flow case runs last in it.\n"
	       "XDP_TX is not transmitted in BPF_PROG_TEST_RUN (live XDP_TX on veth adds\n"
	       "  ~90 ns, docs/measuring.md); neither our figures nor the anchors include it.\n",
	       50 / floor_ns(&b), KATRAN_FLOOR_NS, AIM_SHARE);
out:
	if (b.flows)
		munmap(b.flows, b.flows_len);
	restore__destroy(b.skel);
	if (b.x)
		lb_xdp_close(b.x);
	return err ? 1 : 0;
}
