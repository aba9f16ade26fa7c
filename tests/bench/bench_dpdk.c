// SPDX-License-Identifier: Apache-2.0
/*
 * bench_dpdk.c - cycles/packet of the DPDK fast path's burst function,
 * dp_burst() (dataplane/lcore.c), on one lcore over mbufs in memory (no
 * NIC), as ratios to a floor measured in the same run: dpdk-testpmd
 * io-forwarding between two net_null ports on one lcore
 * (docs/measuring.md, "DPDK").
 *
 * What a run does, per burst of LB_DP_BURST (32) packets: takes 32 mbufs
 * from the pool (rte_pktmbuf_alloc_bulk) and writes the case's frame into
 * each (the pipeline rewrites headers in place, so every packet needs a
 * fresh copy; a NIC's RX would do both), then hands them to dp_burst() on
 * port 0, a net_null vdev: forwarded packets leave through the worker's
 * TX buffer to net_null, which frees them as a NIC's TX completion would.
 * Timed with rte_rdtsc around the whole run, so the figure includes that
 * RX emulation; the "harness only" case (the same alloc and copy, then
 * rte_eth_tx_burst straight to net_null, no pipeline) shows what it
 * costs. testpmd's floor includes net_null's RX (an mbuf alloc, no copy)
 * and TX.
 *
 * Port 1 is a second net_null marked as the exception port (the net_tap
 * to the kernel in production): non-VIP packets go there. Port 0 stands
 * for a kernel interface with ifindex 1 (net_null has none), the next hop
 * of every backend, so forwarded packets go back out of it (LB_R_FWD_TX).
 *
 * Cases: one established TCP or UDP flow (all in cache: the pipeline's
 * instructions), 250k established flows cycled in order over a table of
 * 2^18 buckets (56 MB: every lookup misses the caches, as on a busy
 * gateway), a new flow every packet, and a non-VIP packet.
 *
 * Every run is checked against the worker's own counters: each case's
 * packets must all take its expected reason, VIP counters, ring picks and
 * output port (for the 250k flows, at most 2% ring picks: the flows of a
 * bucket that more than four of them hash to push each other out). A case that fails measured something else: it is printed
 * with INVALID and the program exits 1. Otherwise it asserts nothing.
 *
 * Rounds: testpmd floor, every case once (rotating order), floor, ...,
 * floor; a case's ratio is to the mean of the floors just before and
 * after its round. One warm-up round of the cases is discarded.
 *
 * Usage: bench_dpdk [-n rounds] [-p packets] [-s seconds] [-c cpu]
 *                   [-t testpmd] [-v] [-- EAL memory args]
 * The EAL memory args (--huge-dir=DIR, or --no-huge -m MB) are given to
 * both this program and testpmd; scripts/bench.sh dpdk reserves 2 MB
 * hugepages and passes them. Needs root for hugepages.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_version.h>

#include "bench_backends.h"
#include "driver_dpdk.h"
#include "lcore.h"
#include "maglev.h"
#include "pktbuild.h"

#define DEF_ROUNDS 7
#define MIN_ROUNDS 3
#define MAX_ROUNDS 51
#define DEF_PACKETS 10000000ull
#define DEF_SECONDS 2
#define MAX_CASES 8
#define FRAME_LEN 64		/* Ethernet without FCS, as net_null's default */
#define FRAME_MAX 128
#define N_BACKENDS 100
#define MANY_FLOWS 250000u
#define FLOW_BUCKETS (1u << 18)	/* room for MANY_FLOWS at a quarter full */
#define RING_M 65537u
#define POOL_MBUFS 8191
#define POOL_CACHE 256
#define PORT_DESC 512
#define FP_IFINDEX 1		/* port 0's stand-in kernel ifindex */
#define MAX_EAL_ARGS 32

#define VIP_ADDR "10.100.0.1"
#define VIP_TCP 0
#define VIP_UDP 1
#define N_VIPS 2

static const char *const reason_names[LB_R_MAX] = LB_REASON_NAMES;

enum port_idx { P_FP, P_EXC, N_PORTS };

/* Counters a run is judged by. */
struct snapshot {
	uint64_t reason[LB_R_MAX];
	struct {
		uint64_t packets, new_flows, ring_picks;
	} vip[N_VIPS];
	struct dp_lcore_stats st;
	uint64_t opackets[N_PORTS];
};

struct bcase {
	const char *name;
	int harness;		/* no pipeline: straight to net_null TX */
	uint8_t frame[FRAME_MAX];
	uint16_t len;
	uint8_t prime[FRAME_MAX];	/* sent once before every run; len 0: none */
	uint16_t prime_len;
	int vary;		/* a new source address/port every packet */
	uint32_t flow;		/* next flow number of a varying case */
	uint32_t n_flows;	/* varying: flows cycled (0: each new), primed
				 * with prime's SYN before every run */
	/* Expectations, per packet of a run. */
	int reason;		/* LB_R_*; -1: no reason counter moves */
	int vip;		/* VIP counted; -1: none */
	int ring_picks;		/* every packet consults the ring (else none) */
	int picks_permille;	/* else at most this many per 1000 may: the
				 * flows of a bucket that more than
				 * LB_FLOW_WAYS of them hash to push each
				 * other out (LRU under a cyclic order
				 * misses every one; about 1.1% at 250k) */
	int out_port;		/* the port every packet leaves by */
	int exc;		/* sent to the exception port */
	/* Results. */
	double cyc[MAX_ROUNDS];
	double ratio[MAX_ROUNDS];
	int runs;
	int invalid;
	char why[200];
	struct snapshot last;	/* counter deltas of the last run */
	uint64_t last_n;
};

struct floor_run {
	double cyc;		/* testpmd's CPU cycles/packet */
	uint64_t packets;
	unsigned int mhz;
};

struct bench {
	struct dp_runtime d;
	struct dp_lcore *lc;
	struct rte_mempool *pool;
	struct bcase cases[MAX_CASES];
	int n_cases;
	uint64_t packets;
	unsigned int seconds;
	unsigned int cpu;
	const char *testpmd;
	char *mem_args[MAX_EAL_ARGS];	/* the EAL memory args, shared with testpmd */
	int n_mem_args;
	int no_huge;
	int verbose;
	struct floor_run floor[MAX_ROUNDS + 1];
	int n_floor;
	int floor_failed;
	char floor_why[2048];
	uint64_t alloc_fail;
};

/* --- Frames -------------------------------------------------------------- */

/* A FRAME_LEN-byte IPv4 frame (payload fills it) from 198.18.0.2. */
static uint16_t frame(uint8_t *buf, uint8_t proto, const char *dst, uint16_t sport,
		      uint16_t dport, uint8_t tcp_flags)
{
	static const uint8_t payload[FRAME_MAX] = { 0xa5, 0x5a, 0xa5, 0x5a };
	struct pb_pkt p = {
		.dmac = { 2, 0, 0, 0, 0, 1 },
		.smac = { 2, 0, 0, 0, 0, 2 },
		.src = "198.18.0.2",
		.dst = dst,
		.df = 1,
		.ip_id = 0x1234,
		.proto = proto,
		.sport = sport,
		.dport = dport,
		.seq = 1000,
		.ack = tcp_flags & PB_TCP_ACK ? 2000 : 0,
		.tcp_flags = tcp_flags,
		.window = 65535,
		.payload = payload,
		.payload_len = FRAME_LEN - 14 - 20 - (proto == PB_P_TCP ? 20 : 8),
	};

	return (uint16_t)pb_frame(buf, FRAME_MAX, &p);
}

/* RFC 1624: checksum csum (host order) after a 16-bit word went from o to n. */
static uint16_t csum_upd(uint16_t csum, uint16_t o, uint16_t n)
{
	uint32_t s = (uint16_t)~csum + (uint16_t)~o + (uint32_t)n;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

#define IP_OFF 14
#define TCP_OFF (IP_OFF + 20)

/* Flow k of a varying case: source 198.18.x.y port 1024 + k % 64000,
 * x.y = k / 64000 (4 G flows before one repeats), checksums kept valid. */
static inline void vary(uint8_t *f, const uint8_t *tpl, uint32_t k)
{
	uint16_t o_src = pb_get16(tpl + IP_OFF + 14), o_sport = pb_get16(tpl + TCP_OFF);
	uint16_t src = (uint16_t)(k / 64000), sport = (uint16_t)(1024 + k % 64000);

	pb_put16(f + IP_OFF + 14, src);
	pb_put16(f + IP_OFF + 10, csum_upd(pb_get16(tpl + IP_OFF + 10), o_src, src));
	pb_put16(f + TCP_OFF, sport);
	pb_put16(f + TCP_OFF + 16, csum_upd(csum_upd(pb_get16(tpl + TCP_OFF + 16), o_src, src),
					    o_sport, sport));
}

/* --- Setup --------------------------------------------------------------- */

static int port_init(struct bench *b, uint16_t id)
{
	struct rte_eth_conf conf;
	int socket = rte_eth_dev_socket_id(id), err;

	memset(&conf, 0, sizeof(conf));
	err = rte_eth_dev_configure(id, 1, 1, &conf);
	if (!err)
		err = rte_eth_rx_queue_setup(id, 0, PORT_DESC, (unsigned int)socket, NULL,
					     b->pool);
	if (!err)
		err = rte_eth_tx_queue_setup(id, 0, PORT_DESC, (unsigned int)socket, NULL);
	if (!err)
		err = rte_eth_dev_start(id);
	if (err)
		fprintf(stderr, "bench_dpdk: port %u: %s\n", id, strerror(-err));
	return err;
}

static int setup_ports(struct bench *b)
{
	struct dp_runtime *d = &b->d;
	uint16_t id;
	int err;

	b->pool = rte_pktmbuf_pool_create("slb_pool", POOL_MBUFS, POOL_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!b->pool) {
		fprintf(stderr, "bench_dpdk: mbuf pool: %s\n", rte_strerror(rte_errno));
		return -rte_errno;
	}
	d->pool = b->pool;
	RTE_ETH_FOREACH_DEV(id) {
		struct dp_port *p;

		if (d->n_ports == N_PORTS)
			break;
		p = &d->ports[d->n_ports];
		p->id = id;
		rte_eth_dev_get_name_by_port(id, p->name);
		rte_eth_macaddr_get(id, &p->mac);
		if (d->n_ports == P_FP) {
			p->ifindex = FP_IFINDEX;
			p->attached = 1;
		} else {
			p->exception = 1;
		}
		err = port_init(b, id);
		if (err)
			return err;
		d->n_ports++;
	}
	if (d->n_ports != N_PORTS) {
		fprintf(stderr, "bench_dpdk: found %u ports, want the two net_null vdevs\n",
			d->n_ports);
		return -ENODEV;
	}
	d->exc = P_EXC;
	d->first_fp = P_FP;
	return 0;
}

static __be32 addr4(const char *s)
{
	__be32 a;

	inet_pton(AF_INET, s, &a);
	return a;
}

/* The tables through lib/tables.h's writers, as the control plane's dpdk
 * driver does: a TCP and a UDP VIP on one address, N_BACKENDS IPv4
 * backends with a cached next hop on port 0, one Maglev ring of M
 * entries for both VIPs. */
static int setup_tables(struct bench *b)
{
	struct lb_params p = { .max_vips = 4, .max_ring = RING_M, .max_backends = 128,
			       .flow_buckets = FLOW_BUCKETS };
	struct lb_maglev_backend mb[N_BACKENDS];
	struct lb_vip_entry v[3];
	struct lb_config cfg;
	unsigned int lcore = rte_lcore_id();
	__u32 *ring = NULL;
	int err, i;

	err = dp_runtime_params(&p, 1);
	if (!err)
		err = dp_runtime_alloc(&b->d, &p, 1, &lcore);
	if (err)
		return err;
	b->lc = &b->d.lcores[0];

	memset(&cfg, 0, sizeof(cfg));
	cfg.encap_src4 = addr4("172.16.0.1");
	err = lb_tables_set_config(&b->d.t, &cfg);
	if (err)
		goto out;
	for (i = 0; i < N_BACKENDS; i++) {
		struct lb_backend be;

		bench_backend((unsigned int)i, FP_IFINDEX, &be, &mb[i]);
		err = lb_tables_set_backend(&b->d.t, (__u32)i, &be);
		if (err)
			goto out;
	}
	ring = malloc(RING_M * sizeof(*ring));
	if (!ring) {
		err = -ENOMEM;
		goto out;
	}
	err = lb_maglev_build(mb, N_BACKENDS, ring, RING_M);
	for (i = 0; !err && i < N_VIPS; i++)
		err = lb_tables_set_ring(&b->d.t, (__u32)i, ring, RING_M);
	if (err)
		goto out;
	memset(v, 0, sizeof(v));
	for (i = 0; i < 3; i++) {
		v[i].key.addr.w[0] = addr4(VIP_ADDR);
		v[i].key.family = LB_FAMILY_V4;
	}
	v[0].key.port = htons(80);
	v[0].key.proto = IPPROTO_TCP;
	v[0].vip_id = VIP_TCP;
	v[1].key.port = htons(53);
	v[1].key.proto = IPPROTO_UDP;
	v[1].vip_id = VIP_UDP;
	v[2].key.proto = IPPROTO_ICMP;		/* "this address is a VIP" */
	v[2].vip_id = LB_VIP_ID_ADDR;
	err = lb_tables_set_vips(&b->d.t, v, 3);
	if (!err)
		err = dp_lcore_ports_init(&b->d, b->lc);
out:
	free(ring);
	if (err)
		fprintf(stderr, "bench_dpdk: setting up the tables: %s\n", strerror(-err));
	return err;
}

static struct bcase *add_case(struct bench *b, const char *name)
{
	struct bcase *c = &b->cases[b->n_cases++];

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->reason = LB_R_FWD_TX;
	c->vip = -1;
	c->out_port = P_FP;
	return c;
}

static void make_cases(struct bench *b)
{
	struct bcase *c;

	c = add_case(b, "harness only (alloc+copy+TX)");
	c->harness = 1;
	c->reason = -1;
	c->len = frame(c->frame, PB_P_TCP, VIP_ADDR, 40000, 80, PB_TCP_ACK);

	c = add_case(b, "established TCP (ACK)");
	c->len = frame(c->frame, PB_P_TCP, VIP_ADDR, 40000, 80, PB_TCP_ACK);
	c->prime_len = frame(c->prime, PB_P_TCP, VIP_ADDR, 40000, 80, PB_TCP_SYN);
	c->vip = VIP_TCP;

	/* Flows far beyond the caches: what a busy gateway's table is. */
	c = add_case(b, "established TCP, 250k flows");
	c->len = frame(c->frame, PB_P_TCP, VIP_ADDR, 40000, 80, PB_TCP_ACK);
	c->prime_len = frame(c->prime, PB_P_TCP, VIP_ADDR, 40000, 80, PB_TCP_SYN);
	c->vary = 1;
	c->n_flows = MANY_FLOWS;
	c->picks_permille = 20;
	c->vip = VIP_TCP;

	c = add_case(b, "SYN, new flow every packet");
	c->len = frame(c->frame, PB_P_TCP, VIP_ADDR, 40001, 80, PB_TCP_SYN);
	c->vary = 1;
	c->vip = VIP_TCP;
	c->ring_picks = 1;

	c = add_case(b, "established UDP");
	c->len = frame(c->frame, PB_P_UDP, VIP_ADDR, 40000, 53, 0);
	c->prime_len = frame(c->prime, PB_P_UDP, VIP_ADDR, 40000, 53, 0);
	c->vip = VIP_UDP;

	c = add_case(b, "non-VIP (to exception port)");
	c->len = frame(c->frame, PB_P_TCP, "10.200.0.1", 40000, 80, PB_TCP_ACK);
	c->reason = LB_R_PASS_NOT_VIP;
	c->out_port = P_EXC;
	c->exc = 1;
}

/* --- Running the cases --------------------------------------------------- */

static void snap(struct bench *b, struct snapshot *s)
{
	const struct lb_dp_counters *c = &b->lc->worker.c;

	memset(s, 0, sizeof(*s));
	for (int r = 0; r < LB_R_MAX; r++)
		s->reason[r] = c->reason[r].packets;
	for (int v = 0; v < N_VIPS; v++) {
		s->vip[v].packets = c->vip[v].packets;
		s->vip[v].new_flows = c->vip[v].new_flows;
		s->vip[v].ring_picks = c->vip[v].ring_picks;
	}
	s->st = b->lc->st;
	for (unsigned int i = 0; i < N_PORTS; i++) {
		struct rte_eth_stats es;

		if (!rte_eth_stats_get(b->d.ports[i].id, &es))
			s->opackets[i] = es.opackets;
	}
}

static void delta(struct snapshot *d, const struct snapshot *s0, const struct snapshot *s1)
{
	for (int r = 0; r < LB_R_MAX; r++)
		d->reason[r] = s1->reason[r] - s0->reason[r];
	for (int v = 0; v < N_VIPS; v++) {
		d->vip[v].packets = s1->vip[v].packets - s0->vip[v].packets;
		d->vip[v].new_flows = s1->vip[v].new_flows - s0->vip[v].new_flows;
		d->vip[v].ring_picks = s1->vip[v].ring_picks - s0->vip[v].ring_picks;
	}
	d->st.tx_full = s1->st.tx_full - s0->st.tx_full;
	d->st.multiseg = s1->st.multiseg - s0->st.multiseg;
	d->st.unattached = s1->st.unattached - s0->st.unattached;
	d->st.no_port = s1->st.no_port - s0->st.no_port;
	d->st.exc_out = s1->st.exc_out - s0->st.exc_out;
	for (unsigned int i = 0; i < N_PORTS; i++)
		d->opackets[i] = s1->opackets[i] - s0->opackets[i];
}

#define WHY(...) do { if (!*why) snprintf(why, whylen, __VA_ARGS__); } while (0)

/* Did all n packets of the run take c's path? why: empty if so. */
static void check(const struct bcase *c, const struct snapshot *d, uint64_t n, char *why,
		  size_t whylen)
{
	*why = 0;
	for (int r = 0; r < LB_R_MAX; r++) {
		uint64_t want = r == c->reason ? n : 0;

		if (d->reason[r] != want)
			WHY("reason %s +%" PRIu64 ", want +%" PRIu64, reason_names[r], d->reason[r],
			    want);
	}
	for (int v = 0; v < N_VIPS; v++) {
		uint64_t want = v == c->vip ? n : 0;

		if (d->vip[v].packets != want)
			WHY("vip %d packets +%" PRIu64 ", want +%" PRIu64, v, d->vip[v].packets,
			    want);
		want = v == c->vip && c->ring_picks ? n : 0;
		if (v == c->vip && !c->ring_picks && c->picks_permille) {
			if (d->vip[v].ring_picks * 1000 > n * (uint64_t)c->picks_permille)
				WHY("vip %d ring_picks +%" PRIu64 ", want <= %d per 1000", v,
				    d->vip[v].ring_picks, c->picks_permille);
		} else if (d->vip[v].ring_picks != want)
			WHY("vip %d ring_picks +%" PRIu64 ", want +%" PRIu64, v,
			    d->vip[v].ring_picks, want);
	}
	for (int i = 0; i < N_PORTS; i++) {
		uint64_t want = i == c->out_port ? n : 0;

		if (d->opackets[i] != want)
			WHY("port %d sent +%" PRIu64 ", want +%" PRIu64, i, d->opackets[i], want);
	}
	if (d->st.exc_out != (c->exc ? n : 0))
		WHY("exc_out +%" PRIu64 ", want +%" PRIu64, d->st.exc_out, c->exc ? n : 0);
	if (d->st.tx_full || d->st.multiseg || d->st.unattached || d->st.no_port)
		WHY("tx_full +%" PRIu64 " multiseg +%" PRIu64 " unattached +%" PRIu64
		    " no_port +%" PRIu64, d->st.tx_full, d->st.multiseg, d->st.unattached,
		    d->st.no_port);
}

/* One frame through dp_burst() outside any timing: establishes a flow. */
static int send_one(struct bench *b, const uint8_t *f, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(b->pool);

	if (!m)
		return -ENOMEM;
	rte_memcpy(rte_pktmbuf_mtod(m, void *), f, len);
	m->data_len = len;
	m->pkt_len = len;
	dp_burst(b->lc, P_FP, &m, 1);
	dp_flush(b->lc);
	return 0;
}

/* Puts c's established flows in the table, outside any timing. */
static int prime(struct bench *b, const struct bcase *c)
{
	uint8_t f[FRAME_MAX];

	if (!c->prime_len)
		return 0;
	if (!c->n_flows)
		return send_one(b, c->prime, c->prime_len);
	memcpy(f, c->prime, c->prime_len);
	for (uint32_t k = 0; k < c->n_flows; k++) {
		vary(f, c->prime, k);
		if (send_one(b, f, c->prime_len))
			return -ENOMEM;
	}
	return 0;
}

/* One timed run of c: b->packets packets in bursts of LB_DP_BURST. Returns
 * cycles/packet; the counters' verdict goes to c (record) or is dropped. */
static double run_case(struct bench *b, struct bcase *c, int record)
{
	struct rte_mbuf *m[LB_DP_BURST];
	struct snapshot s0, s1, d;
	uint64_t n = 0, t0, t1;
	uint16_t port0 = b->d.ports[P_FP].id;
	char why[sizeof(c->why)];

	if (prime(b, c))
		b->alloc_fail++;
	snap(b, &s0);
	t0 = rte_rdtsc();
	while (n < b->packets) {
		if (rte_pktmbuf_alloc_bulk(b->pool, m, LB_DP_BURST)) {
			b->alloc_fail++;
			break;
		}
		for (int i = 0; i < LB_DP_BURST; i++) {
			uint8_t *f = rte_pktmbuf_mtod(m[i], uint8_t *);

			rte_memcpy(f, c->frame, c->len);
			if (c->vary)
				vary(f, c->frame, c->n_flows ? c->flow++ % c->n_flows : c->flow++);
			m[i]->data_len = c->len;
			m[i]->pkt_len = c->len;
		}
		if (c->harness) {
			uint16_t sent = rte_eth_tx_burst(port0, 0, m, LB_DP_BURST);

			if (sent < LB_DP_BURST)
				rte_pktmbuf_free_bulk(m + sent, LB_DP_BURST - sent);
		} else {
			dp_burst(b->lc, P_FP, m, LB_DP_BURST);
		}
		n += LB_DP_BURST;
	}
	dp_flush(b->lc);
	t1 = rte_rdtsc();
	snap(b, &s1);
	delta(&d, &s0, &s1);
	check(c, &d, n, why, sizeof(why));
	if (record) {
		c->last = d;
		c->last_n = n;
		if (*why && !c->invalid++)
			snprintf(c->why, sizeof(c->why), "%s", why);
	}
	return n ? (double)(t1 - t0) / (double)n : 0;
}

/* --- The testpmd floor --------------------------------------------------- */

/* The EAL's run directory of a prefix (it leaves it behind). */
static void rm_runtime_dir(const char *prefix)
{
	char dir[256];

	snprintf(dir, sizeof(dir), "/var/run/dpdk/%s", prefix);
	dp_remove_run_dir(dir);
}

/* Runs testpmd io forwarding for b->seconds (from its start, EAL init
 * included: the figure is cycles per packet, not a rate) and reads its
 * "CPU cycles/packet" line. 0, or -1 with b->floor_why set. */
static int run_floor(struct bench *b, struct floor_run *fr)
{
	char prefix[64], lcores[32], mainl[16], out[65536] = "";
	char *argv[MAX_EAL_ARGS + 32];
	int in[2], outp[2], argc = 0, status, rc = -1;
	unsigned int other = b->cpu == 0 ? 1 : 0;
	size_t len = 0;
	const char *line;
	pid_t pid;
	time_t deadline;

	snprintf(prefix, sizeof(prefix), "slb-testpmd-%d", (int)getpid());
	snprintf(lcores, sizeof(lcores), "%u,%u", other, b->cpu);
	snprintf(mainl, sizeof(mainl), "%u", other);
	/* Line-buffered, so that "Press enter to exit" arrives when said. */
	argv[argc++] = "stdbuf";
	argv[argc++] = "-oL";
	argv[argc++] = (char *)b->testpmd;
	argv[argc++] = "-l";
	argv[argc++] = lcores;
	argv[argc++] = "--main-lcore";
	argv[argc++] = mainl;
	argv[argc++] = "--no-pci";
	argv[argc++] = "--vdev=net_null0";
	argv[argc++] = "--vdev=net_null1";
	argv[argc++] = "--log-level=lib.eal:error";
	argv[argc++] = "--no-telemetry";
	for (int i = 0; i < b->n_mem_args; i++)
		argv[argc++] = b->mem_args[i];
	if (!b->no_huge)
		argv[argc++] = "--huge-unlink";
	argv[argc++] = "--file-prefix";
	argv[argc++] = prefix;
	argv[argc++] = "--";
	argv[argc++] = "--forward-mode=io";
	argv[argc++] = "--nb-cores=1";
	argv[argc++] = "--rxq=1";
	argv[argc++] = "--txq=1";
	argv[argc++] = "--burst=32";
	argv[argc++] = "--total-num-mbufs=8192";
	argv[argc++] = "--record-core-cycles";
	argv[argc] = NULL;

	if (pipe(in) || pipe(outp)) {
		snprintf(b->floor_why, sizeof(b->floor_why), "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		snprintf(b->floor_why, sizeof(b->floor_why), "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		cpu_set_t all;

		/* The EAL pinned this thread; testpmd pins its own lcores. */
		CPU_ZERO(&all);
		for (int i = 0; i < CPU_SETSIZE; i++)
			CPU_SET(i, &all);
		sched_setaffinity(0, sizeof(all), &all);
		dup2(in[0], 0);
		dup2(outp[1], 1);
		dup2(outp[1], 2);
		close(in[1]);
		close(outp[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	/* testpmd forwards until a line on stdin ("Press enter to exit"),
	 * reading its output meanwhile so that it never blocks on it. */
	/* Start-up (EAL, mempool) takes seconds, more with --no-huge: the
	 * clock starts when testpmd says it forwards. */
	deadline = time(NULL) + 60;
	for (int state = 0;;) {	/* 0: starting, 1: forwarding, 2: told to stop */
		struct pollfd pfd = { .fd = outp[0], .events = POLLIN };
		time_t now = time(NULL);
		ssize_t r;

		if (state == 0 && strstr(out, "Press enter to exit")) {
			state = 1;
			deadline = now + b->seconds;
		}
		if (state == 1 && now >= deadline) {
			if (write(in[1], "\n", 1) != 1)
				kill(pid, SIGTERM);
			state = 2;
			deadline = now + 60;
		} else if (state != 1 && now >= deadline) {
			kill(pid, SIGKILL);
			snprintf(b->floor_why, sizeof(b->floor_why), "testpmd %s within 60 s",
				 state ? "did not exit" : "did not start forwarding");
			break;
		}
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = read(outp[0], out + len, sizeof(out) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		out[len] = 0;
		if (len == sizeof(out) - 1) {	/* keep the end: the figure is last */
			memmove(out, out + sizeof(out) / 2, len - sizeof(out) / 2);
			len -= sizeof(out) / 2;
			out[len] = 0;
		}
	}
	out[len] = 0;
	close(in[1]);
	close(outp[0]);
	waitpid(pid, &status, 0);
	rm_runtime_dir(prefix);
	line = strstr(out, "CPU cycles/packet=");
	if (line && sscanf(line, "CPU cycles/packet=%lf (total cycles=%*u / total io "
			   "packets=%" SCNu64 ") at %u MHz", &fr->cyc, &fr->packets,
			   &fr->mhz) == 3 && fr->packets >= 1000000) {
		rc = 0;
	} else if (!*b->floor_why) {
		snprintf(b->floor_why, sizeof(b->floor_why),
			 "no 'CPU cycles/packet' line of >= 1M packets from testpmd "
			 "(exit status %d); its output ends:\n%.1500s",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			 len > 1500 ? out + len - 1500 : out);
	}
	return rc;
}

/* --- Report -------------------------------------------------------------- */

static int dbl_cmp(const void *pa, const void *pb)
{
	double a = *(const double *)pa, x = *(const double *)pb;

	return a < x ? -1 : a > x;
}

static double median(const double *v, int n, double *min, double *max)
{
	double s[MAX_ROUNDS + 1];

	if (!n) {
		*min = *max = 0;
		return 0;
	}
	memcpy(s, v, sizeof(*v) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), dbl_cmp);
	*min = s[0];
	*max = s[n - 1];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_row(const char *name, const double *cyc, int n, const double *ratio,
		      double hz)
{
	double lo, hi, med = median(cyc, n, &lo, &hi);

	printf("%-30s %7.1f %7.1f %7.1f %7.1f %7.2f", name, lo, med, hi, med / hz * 1e9,
	       hz / med / 1e6);
	if (ratio) {
		double rlo, rhi, rmed = median(ratio, n, &rlo, &rhi);

		char r[32];

		snprintf(r, sizeof(r), "%5.2fx (%.2f..%.2f)", rmed, rlo, rhi);
		printf("  %-21s", r);
	} else {
		printf("  %-21s", "floor");
	}
}

static void report(struct bench *b)
{
	double hz = (double)rte_get_tsc_hz(), fc[MAX_ROUNDS + 1];

	printf("\n%-30s %7s %7s %7s %7s %7s  %-21s %s\n", "case (cycles/packet)", "min",
	       "median", "max", "ns/pkt", "Mpps", "ratio (min..max)", "-harness");
	for (int i = 0; i < b->n_floor; i++)
		fc[i] = b->floor[i].cyc;
	if (b->n_floor) {
		print_row("floor: testpmd io, 2x net_null", fc, b->n_floor, NULL, hz);
		printf("\n");
	}
	for (int i = 0; i < b->n_cases; i++) {
		struct bcase *c = &b->cases[i];

		print_row(c->name, c->cyc, c->runs, b->n_floor ? c->ratio : NULL, hz);
		if (!b->n_floor)
			printf(" (no floor)");
		if (!c->harness && b->cases[0].harness) {
			double above[MAX_ROUNDS], lo, hi;

			for (int r = 0; r < c->runs; r++)
				above[r] = c->cyc[r] - b->cases[0].cyc[r];
			printf("  %+6.1f", median(above, c->runs, &lo, &hi));
		}
		if (i == 1)
			printf("  aim <= 2.50x");
		if (c->invalid)
			printf("  INVALID (%d/%d runs)", c->invalid, c->runs);
		printf("\n");
	}

	printf("\nwhere each case's packets went (last run, %" PRIu64 " packets; every run is "
	       "checked):\n", b->cases[0].last_n);
	for (int i = 0; i < b->n_cases; i++) {
		struct bcase *c = &b->cases[i];
		const struct snapshot *d = &c->last;
		int any = 0;

		printf("  %-28s reasons:", c->name);
		for (int r = 0; r < LB_R_MAX; r++)
			if (d->reason[r]) {
				printf(" %s +%" PRIu64, reason_names[r], d->reason[r]);
				any = 1;
			}
		if (!any)
			printf(" none");
		for (int v = 0; v < N_VIPS; v++)
			if (d->vip[v].packets || d->vip[v].ring_picks || d->vip[v].new_flows)
				printf("; %s VIP +%" PRIu64 " (ring picks +%" PRIu64
				       ", new flows +%" PRIu64 ")", v == VIP_TCP ? "TCP" : "UDP",
				       d->vip[v].packets, d->vip[v].ring_picks,
				       d->vip[v].new_flows);
		printf("; sent: port 0 +%" PRIu64 ", exception port +%" PRIu64, d->opackets[P_FP],
		       d->opackets[P_EXC]);
		if (d->st.no_port || d->st.tx_full || d->st.multiseg || d->st.unattached)
			printf("; no_port +%" PRIu64 " tx_full +%" PRIu64 " multiseg +%" PRIu64
			       " unattached +%" PRIu64, d->st.no_port, d->st.tx_full,
			       d->st.multiseg, d->st.unattached);
		printf("\n");
	}
	for (int i = 0; i < b->n_cases; i++) {
		struct bcase *c = &b->cases[i];

		if (c->invalid)
			printf("INVALID %s: %d of %d runs did not take the expected path; first: "
			       "%s\n", c->name, c->invalid, c->runs, c->why);
	}
	if (b->verbose) {
		printf("\nper round (cycles/packet):\n  floor:");
		for (int i = 0; i < b->n_floor; i++)
			printf(" %.1f (%" PRIu64 " pkts, %u MHz)", b->floor[i].cyc,
			       b->floor[i].packets, b->floor[i].mhz);
		printf("\n");
		for (int i = 0; i < b->n_cases; i++) {
			printf("  %s:", b->cases[i].name);
			for (int r = 0; r < b->cases[i].runs; r++)
				printf(" %.1f", b->cases[i].cyc[r]);
			printf("\n");
		}
	}
	if (b->alloc_fail)
		printf("NOTE: the mbuf pool ran dry %" PRIu64 " times\n", b->alloc_fail);
}

/* --- main ---------------------------------------------------------------- */

static void usage(const char *prog)
{
	printf("Usage: %s [-n rounds] [-p packets] [-s seconds] [-c cpu] [-t testpmd] [-v]\n"
	       "          [-- EAL memory args]\n"
	       "  Runs dp_burst() over in-memory mbufs on one lcore and dpdk-testpmd io\n"
	       "  forwarding over two net_null ports as the floor, interleaved, and prints\n"
	       "  cycles/packet per case and its ratio to the floor (docs/measuring.md).\n"
	       "  -n N  rounds, %d..%d (default %d); a warm-up round of the cases is discarded\n"
	       "  -p N  packets per case per round (default %llu)\n"
	       "  -s N  seconds per testpmd floor run, its start-up included (default %d)\n"
	       "  -c N  CPU of the measuring lcore and testpmd's forwarding lcore (default:\n"
	       "        the last online CPU; testpmd's main lcore takes another)\n"
	       "  -t P  testpmd binary (default dpdk-testpmd from PATH)\n"
	       "  -k S  only the cases whose name holds S (and the harness row): to profile one\n"
	       "  -v    print every round's figures\n"
	       "  EAL memory args: --huge-dir=DIR (a hugetlbfs mount), or --no-huge -m MB;\n"
	       "  the same go to testpmd. scripts/bench.sh dpdk reserves the hugepages.\n",
	       prog, MIN_ROUNDS, MAX_ROUNDS, DEF_ROUNDS, DEF_PACKETS, DEF_SECONDS);
}

static void print_machine(struct bench *b, int rounds)
{
	char line[256], model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && p) {
			snprintf(model, sizeof(model), "%s", p + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	printf("bench_dpdk: dp_burst() on one lcore over in-memory mbufs (no NIC), floor\n"
	       "  testpmd io forwarding over two net_null ports (docs/measuring.md, DPDK)\n");
	printf("machine: %s, %ld CPUs online, TSC %.3f GHz; %s\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), (double)rte_get_tsc_hz() / 1e9, rte_version());
	printf("memory: %s\n", b->no_huge ?
	       "--no-huge (NO hugepages: DPDK runs 1.6-2.9x slower so, docs/measuring.md)" :
	       "2 MB hugepages");
	printf("lcore on CPU %u, testpmd forwarding lcore on the same CPU; %d rounds (+1\n"
	       "  warm-up of the cases) x %" PRIu64 " packets per case, testpmd %u s per floor\n",
	       b->cpu, rounds, b->packets, b->seconds);
}

/* -k: the harness row and the cases whose name holds only (to profile one
 * case: perf sees nothing of the others). */
static void keep_cases(struct bench *b, const char *only)
{
	int n = 0;

	for (int i = 0; i < b->n_cases; i++)
		if (b->cases[i].harness || strstr(b->cases[i].name, only))
			b->cases[n++] = b->cases[i];
	b->n_cases = n;
}

int main(int argc, char **argv)
{
	static struct bench b;
	char prefix[64], lcore[16];
	char *eal[MAX_EAL_ARGS + 16];
	int rounds = DEF_ROUNDS, opt, n_eal = 0, err, status = 0;
	const char *only = NULL;
	char **mem;
	int n_mem;

	b.packets = DEF_PACKETS;
	b.seconds = DEF_SECONDS;
	b.testpmd = "dpdk-testpmd";
	b.cpu = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	while ((opt = getopt(argc, argv, "n:p:s:c:t:k:vh")) != -1) {
		switch (opt) {
		case 'n': rounds = atoi(optarg); break;
		case 'p': b.packets = strtoull(optarg, NULL, 0); break;
		case 's': b.seconds = (unsigned int)atoi(optarg); break;
		case 'c': b.cpu = (unsigned int)atoi(optarg); break;
		case 't': b.testpmd = optarg; break;
		case 'k': only = optarg; break;
		case 'v': b.verbose = 1; break;
		case 'h': usage(argv[0]); return 0;
		default: usage(argv[0]); return 2;
		}
	}
	mem = argv + optind;
	n_mem = argc - optind;
	if (rounds < MIN_ROUNDS || rounds > MAX_ROUNDS || b.packets < LB_DP_BURST ||
	    n_mem > MAX_EAL_ARGS || !b.seconds) {
		fprintf(stderr, "bench_dpdk: rounds in %d..%d, packets >= %d, seconds >= 1\n",
			MIN_ROUNDS, MAX_ROUNDS, LB_DP_BURST);
		return 2;
	}
	b.packets -= b.packets % LB_DP_BURST;
	for (int i = 0; i < n_mem; i++) {
		b.mem_args[b.n_mem_args++] = mem[i];
		if (!strcmp(mem[i], "--no-huge"))
			b.no_huge = 1;
	}

	snprintf(prefix, sizeof(prefix), "slb-bench-%d", (int)getpid());
	snprintf(lcore, sizeof(lcore), "%u", b.cpu);
	eal[n_eal++] = argv[0];
	eal[n_eal++] = "-l";
	eal[n_eal++] = lcore;
	eal[n_eal++] = "--no-pci";
	eal[n_eal++] = "--vdev=net_null0";	/* port 0: the fast-path port */
	eal[n_eal++] = "--vdev=net_null1";	/* port 1: the exception port */
	eal[n_eal++] = "--log-level=lib.eal:error";
	eal[n_eal++] = "--no-telemetry";
	eal[n_eal++] = "--file-prefix";
	eal[n_eal++] = prefix;
	if (!b.no_huge)
		eal[n_eal++] = "--huge-unlink";
	for (int i = 0; i < n_mem; i++)
		eal[n_eal++] = mem[i];
	eal[n_eal] = NULL;
	if (rte_eal_init(n_eal, eal) < 0) {
		fprintf(stderr, "bench_dpdk: the EAL does not start: %s%s\n",
			rte_strerror(rte_errno), b.no_huge ? "" :
			" (no hugepages? scripts/bench.sh dpdk reserves them, or pass -- "
			"--no-huge -m 1024)");
		rm_runtime_dir(prefix);
		return 1;
	}
	b.d.exc = -1;
	b.d.first_fp = -1;
	err = setup_ports(&b);
	if (!err)
		err = setup_tables(&b);
	if (err) {
		status = 1;
		goto out;
	}
	make_cases(&b);
	if (only)
		keep_cases(&b, only);

	print_machine(&b, rounds);
	printf("frames: %u B (Ethernet, no FCS) IPv4 TCP/UDP; bursts of %d; %d backends, "
	       "Maglev M=%u,\n  IPIP to IPv4 backends with a cached next hop\n", FRAME_LEN,
	       LB_DP_BURST, N_BACKENDS, RING_M);
	printf("per packet the harness does what a NIC's RX would: an mbuf from the pool\n"
	       "  (alloc_bulk of %d) and the case's frame copied into it (the pipeline\n"
	       "  rewrites headers in place); that is inside the timing. TX is net_null's,\n"
	       "  which frees the mbufs.\n", LB_DP_BURST);
	if (access(b.testpmd, X_OK) && !strchr(b.testpmd, '/')) {
		/* execvp searches PATH; say early if it will not find it. */
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", b.testpmd);
		if (system(cmd)) {
			b.floor_failed = 1;
			snprintf(b.floor_why, sizeof(b.floor_why), "%s not found (Debian "
				 "package dpdk)", b.testpmd);
		}
	}
	fflush(stdout);

	/* Warm-up: every case once, not recorded. */
	for (int i = 0; i < b.n_cases; i++)
		run_case(&b, &b.cases[i], 0);
	for (int r = 0; r <= rounds; r++) {
		struct floor_run fr;

		if (!b.floor_failed) {
			if (run_floor(&b, &fr) == 0)
				b.floor[b.n_floor++] = fr;
			else
				b.floor_failed = 1;
		}
		if (r == rounds)
			break;
		for (int k = 0; k < b.n_cases; k++) {
			struct bcase *c = &b.cases[(k + r) % b.n_cases];

			c->cyc[c->runs++] = run_case(&b, c, 1);
		}
		printf(".");
		fflush(stdout);
	}
	printf("\n");
	if (b.floor_failed) {
		printf("FLOOR NOT MEASURED: %s\n", b.floor_why);
		b.n_floor = 0;
		status = 1;
	} else {
		for (int i = 0; i < b.n_cases; i++)
			for (int r = 0; r < b.cases[i].runs; r++)
				b.cases[i].ratio[r] = b.cases[i].cyc[r] /
					((b.floor[r].cyc + b.floor[r + 1].cyc) / 2);
	}
	report(&b);
	printf("\nratio: median over rounds of (case / mean of the testpmd floors just before\n"
	       "  and after its round); ns/pkt and Mpps from the median cycles and the TSC;\n"
	       "  -harness: median over rounds of (case - harness only), the pipeline's own.\n"
	       "The floor is testpmd's own 'CPU cycles/packet' (--record-core-cycles: TSC\n"
	       "  cycles in its forwarding function / packets received): net_null RX (mbuf\n"
	       "  alloc, no data written) and TX (free), nothing else.\n"
	       "Ours include what the 'harness only' row costs (alloc, 64 B copy, TX) plus\n"
	       "  dp_burst(); not the poll loop's rx_burst, drain check or qsbr report.\n"
	       "Established flows are put in the table (a SYN, or the UDP datagram) before\n"
	       "  every run; 'SYN, new flow' gives every packet a new source address/port\n"
	       "  (checksums patched per packet, in the timing).\n");
	if (b.floor[0].mhz)
		printf("testpmd's clock: %u MHz (ours %.0f MHz)\n", b.floor[0].mhz,
		       (double)rte_get_tsc_hz() / 1e6);
	for (int i = 0; i < b.n_cases; i++)
		if (b.cases[i].invalid)
			status = 1;
out:
	dp_runtime_free(&b.d);
	for (unsigned int i = 0; i < b.d.n_ports; i++) {
		rte_eth_dev_stop(b.d.ports[i].id);
		rte_eth_dev_close(b.d.ports[i].id);
	}
	rte_mempool_free(b.pool);
	rte_eal_cleanup();
	rm_runtime_dir(prefix);
	return status;
}
