/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_xdp_lb.c - sluice.bpf.c through BPF_PROG_TEST_RUN.
 *
 * Each fixture is {description, input packet, expected action, expected
 * output packet, expected reason}. The runner asserts the action, the
 * output length and every byte (a hex diff on mismatch), and the counters
 * afterwards: exactly one reason moved, by one packet and the frame's
 * length; the VIP counters {packets, bytes, new_flows, ring_picks, flow_misses,
 * flow_evictions} and the chosen backend's {packets, bytes} moved as
 * expected, and nothing else.
 *
 * Expected packets come from pktbuild.h (its own header and checksum
 * code, nothing from lib/parse.h or lib/encap.h). The expected backend is
 * computed here: rings from lib/maglev (lb_maglev_build), the flow hash
 * from lib/hash.h (lb_flow_hash, lb_hash_range: the shared definitions),
 * and a small model of the connection table written from the semantics
 * in docs/forwarding.md (SYN always picks and overwrites; other packets
 * keep their flow while its backend is the same gen and up or draining).
 * The model knows the table's 4-way sets: a new flow whose set already
 * holds LB_FLOW_WAYS flows evicts one (counted). Which one depends on jiffies,
 * so after such a packet the model drops the flow the program no longer
 * holds. Fixture TTLs (fixtures.c) are far longer than a run: nothing
 * expires unless a test back-dates an entry (test_expiry).
 *
 * The fixture table, its packets and the world are in fixtures.h, shared
 * with the parity suite (tests/parity), which runs the same packets
 * through the DPDK worker; the expectations and the model stay here.
 *
 * Every test gets a fresh program (cmocka setup): 8 VIPs, 5 backends each
 * with distinct addresses and next-hop MACs, so a wrong pick shows in the
 * bytes. The process is pinned to one CPU: the connection table is per
 * CPU, and a flow must meet its own entry from one run to the next.
 *
 * BPF_PROG_TEST_RUN without a context reports the ingress ifindex of the
 * namespace's loopback (the rx queue it uses is lo's), not 0; backends'
 * nh_ifindex is set to that so the program answers XDP_TX.
 *
 * Needs root (exits 77 with the reason when loading is refused).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd.h"
#include "hash.h"
#include "viptable.h"
#include "loader.h"
#include "pktbuild.h"
#include "fixtures.h"

#define OUT_MAX 4096
#define FLOW_BUCKETS 256
#define MODEL_FLOWS 512

/* vip in struct expect */
#define VIP_NONE (-1)		/* no VIP counter moves */
#define VIP_ANY (-2)		/* VIP counters not asserted */

static const char *const reason_names[] = LB_REASON_NAMES;

static const char *action_name(__u32 a)
{
	static const char *const n[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					 "XDP_REDIRECT" };

	return a < 5 ? n[a] : "?";
}

struct mflow {
	struct lb_flow_key key;
	__u32 backend;
	__u32 gen;
	int used;
};

struct world {
	struct fx_world fw;		/* as last written to the program */
	struct lb_xdp *x;
	int prog_fd;
	const void *fx;			/* the table fixture this test runs, if any */
	struct mflow flows[MODEL_FLOWS];	/* model of the connection table */
};

static unsigned int ingress_ifindex;
static int test_cpu;		/* the CPU the process is pinned to: its table slice */

/* --- counters ----------------------------------------------------------- */

struct counters {
	struct lb_reason_stats r[LB_R_MAX];
	struct lb_vip_stats v[N_VIPS];
	struct lb_backend_stats b[N_BACKENDS];
};

static void snapshot(struct world *w, struct counters *c)
{
	__u32 i;

	assert_int_equal(lb_xdp_reason_stats(w->x, c->r), 0);
	for (i = 0; i < N_VIPS; i++)
		assert_int_equal(lb_xdp_vip_stats(w->x, i, &c->v[i]), 0);
	for (i = 0; i < N_BACKENDS; i++)
		assert_int_equal(lb_xdp_backend_stats(w->x, i, &c->b[i]), 0);
}

/* --- world set-up ------------------------------------------------------- */

static void publish_ring(struct world *w, int v)
{
	fx_publish_ring(&w->fw, v);
}

static void set_backend(struct world *w, __u32 id)
{
	fx_set_backend(&w->fw, id);
}

static void set_state(struct world *w, __u32 id, __u8 state)
{
	fx_set_state(&w->fw, id, state);
}

static void set_config(struct world *w, __u32 flags, __u32 mask4)
{
	fx_set_config(&w->fw, flags, mask4);
}

static int setup(void **state)
{
	struct lb_params params;
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	fx_params(&params, FLOW_BUCKETS);
	w->fx = *state;
	w->x = lb_xdp_open(&params);
	if (!w->x) {
		print_error("lb_xdp_open: %s\n", strerror(errno));
		free(w);
		return -1;
	}
	w->prog_fd = lb_xdp_prog_fd(w->x);
	fx_world_init(&w->fw, &fx_xdp_ops, w->x, ingress_ifindex);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	if (!w)
		return 0;
	fx_world_fini(&w->fw);
	lb_xdp_close(w->x);
	free(w);
	return 0;
}

/* --- the test's own view of VIPs, flows and backends -------------------- */

static int addr_eq(const char *a, const char *b)
{
	uint8_t x[16], y[16];
	int fa = pb_addr(a, x);

	return fa && fa == pb_addr(b, y) && !memcmp(x, y, 16);
}

/* VIP of (dst, port, proto): the exact key, else the port wildcard. */
static int find_vip(const char *dst, uint16_t port, uint8_t proto)
{
	int v, pass;

	for (pass = 0; pass < 2; pass++)
		for (v = 0; v < N_VIPS; v++)
			if (addr_eq(vip_defs[v].addr, dst) && vip_defs[v].proto == proto &&
			    vip_defs[v].port == (pass ? 0 : port))
				return v;
	return -1;
}

static struct lb_flow_key flow_key(const char *src, const char *dst, uint16_t sport,
				   uint16_t dport, uint8_t proto)
{
	struct lb_flow_key k;
	int fam;

	memset(&k, 0, sizeof(k));
	fam = pb_addr(src, (uint8_t *)&k.src);
	pb_addr(dst, (uint8_t *)&k.dst);
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	k.family = fam == 4 ? LB_FAMILY_V4 : LB_FAMILY_V6;
	return k;
}

/* The key the program should use for this client->VIP packet. */
static struct lb_flow_key vip_flow_key(int vip, const char *src, const char *dst, uint16_t sport,
				       uint16_t dport, uint8_t proto)
{
	return flow_key(src, dst, vip_defs[vip].flags & LB_VIP_F_AFFINITY ? 0 : sport, dport,
			proto);
}

static struct mflow *model_find(struct world *w, const struct lb_flow_key *k)
{
	int i;

	for (i = 0; i < MODEL_FLOWS; i++)
		if (w->flows[i].used && !memcmp(&w->flows[i].key, k, sizeof(*k)))
			return &w->flows[i];
	return NULL;
}

/* Expected backend of a flow, from the semantics: a SYN always picks from
 * the ring and (over)writes the entry; any other packet keeps its entry
 * while the backend has the same gen and is up or draining, else picks
 * and stores. insert 0: look only (ICMP errors about a flow). */
struct pick {
	__u32 backend;
	__u32 hash;
	int new_flow;
	int ring_pick;
	int flow_miss;
	int flow_evict;
};

/* The set (bucket) a flow hash maps to. */
static __u32 model_bucket(__u32 hash)
{
	return hash & (FLOW_BUCKETS - 1);
}

static struct pick model_choose(struct world *w, int vip, const struct lb_flow_key *k, int syn,
				int insert)
{
	struct mflow *f = model_find(w, k);
	struct pick p = { .hash = lb_flow_hash(k), .flow_miss = !f && !syn };
	int i;

	if (f && !syn) {
		const struct lb_backend *b = &w->fw.be[f->backend];

		if (b->gen == f->gen &&
		    (b->state == LB_BACKEND_UP || b->state == LB_BACKEND_DRAINING)) {
			p.backend = f->backend;
			return p;
		}
	}
	p.ring_pick = 1;
	p.backend = w->fw.ring[vip][lb_hash_range(p.hash, vip_defs[vip].m)];
	if (p.backend == LB_BACKEND_NONE || !insert)
		return p;
	if (!f) {
		int in_set = 0;

		for (i = 0; i < MODEL_FLOWS; i++)
			in_set += w->flows[i].used &&
				  model_bucket(lb_flow_hash(&w->flows[i].key)) ==
					  model_bucket(p.hash);
		p.flow_evict = in_set >= LB_FLOW_WAYS;
		p.new_flow = 1;
		for (i = 0; i < MODEL_FLOWS && w->flows[i].used; i++)
			;
		assert_true(i < MODEL_FLOWS);
		f = &w->flows[i];
		f->used = 1;
		f->key = *k;
	}
	f->backend = p.backend;
	f->gen = w->fw.be[p.backend].gen;
	return p;
}

/* Outer source for a backend family, with the configured entropy. */
static void encap_source(const struct world *w, int fam, __u32 hash, char *buf)
{
	if (fam == 4) {
		uint32_t s = ntohl(w->fw.cfg.encap_src4);
		struct in_addr a;

		if (w->fw.cfg.flags & LB_CFG_F_ENTROPY_V4)
			s = (s & ~w->fw.cfg.entropy_mask4) | (hash & w->fw.cfg.entropy_mask4);
		a.s_addr = htonl(s);
		inet_ntop(AF_INET, &a, buf, INET6_ADDRSTRLEN);
	} else {
		struct lb_addr a = w->fw.cfg.encap_src6;

		if (w->fw.cfg.flags & LB_CFG_F_ENTROPY_V6)
			a.w[3] = htonl((ntohl(a.w[3]) & ~w->fw.cfg.entropy_mask6) |
				       (hash & w->fw.cfg.entropy_mask6));
		inet_ntop(AF_INET6, &a, buf, INET6_ADDRSTRLEN);
	}
}

/* Backend id whose address is the outer destination of a frame, or -1. */
static int outer_backend(const struct world *w, const uint8_t *f, size_t len)
{
	struct pb_info in;
	struct lb_addr a;
	__u32 id;

	if (pb_parse(f, len, &in) || !in.family)
		return -1;
	memset(&a, 0, sizeof(a));
	if (in.family == 4)
		memcpy(&a, f + in.l2_len + 16, 4);
	else
		memcpy(&a, f + in.l2_len + 24, 16);
	for (id = 0; id < N_BACKENDS; id++)
		if (w->fw.be[id].family && !memcmp(&w->fw.be[id].addr, &a, sizeof(a)))
			return (int)id;
	return -1;
}

/* --- fixtures and the runner -------------------------------------------- */

struct expect {
	__u32 action;
	__u32 reason;
	uint8_t out[OUT_MAX];
	size_t out_len;
	int vip;		/* VIP whose counters move, VIP_NONE or VIP_ANY */
	int new_flow;		/* expected increments of that VIP's counters */
	int ring_pick;
	int flow_miss;
	int flow_evict;
	int backend;		/* backend whose counters move, or -1 */
	__u32 hash;		/* flow hash (forwarded packets) */
	struct lb_flow_key key;	/* flow key (forwarded packets) */
};

static void expect_fill(struct world *w, enum fx_expect x, const struct pb_pkt *p,
			const uint8_t *in, size_t len, struct expect *e);

static void hexdiff(const uint8_t *exp, size_t elen, const uint8_t *act, size_t alen)
{
	size_t n = elen > alen ? elen : alen, off, i;

	printf("      offset  expected (%zu bytes)                              | actual (%zu bytes)\n",
	       elen, alen);
	for (off = 0; off < n; off += 16) {
		char l[64] = "", r[64] = "";
		int diff = 0;

		for (i = off; i < off + 16 && i < n; i++) {
			char b[4];

			if (i < elen)
				snprintf(b, sizeof(b), "%02x ", exp[i]);
			else
				snprintf(b, sizeof(b), "-- ");
			strcat(l, b);
			if (i < alen)
				snprintf(b, sizeof(b), "%02x ", act[i]);
			else
				snprintf(b, sizeof(b), "-- ");
			strcat(r, b);
			if (i >= elen || i >= alen || exp[i] != act[i])
				diff = 1;
		}
		printf("    %s %04zx  %-48s | %s\n", diff ? "!!" : "  ", off, l, r);
	}
}

static int prog_run(struct world *w, const uint8_t *in, size_t len, uint8_t *out,
		    size_t *out_len, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = in,
		.data_size_in = (__u32)len,
		.data_out = out,
		.data_size_out = OUT_MAX,
		.repeat = 1,
	);
	int err = bpf_prog_test_run_opts(w->prog_fd, &o);

	if (err)
		return err < 0 ? err : -errno;
	*out_len = o.data_size_out;
	*retval = o.retval;
	return 0;
}

#define MISMATCH(...)					\
	do {						\
		printf("    [%s] ", name);		\
		printf(__VA_ARGS__);			\
		printf("\n");				\
		bad++;					\
	} while (0)

/* A drop after the pick (LB_BACKEND_DROP_FIRST..) moves exactly one
 * backend's counter of that reason (the expected backend's, when known);
 * any other packet moves none. */
static int check_backend_drops(const char *name, const struct counters *a,
			       const struct counters *b, const struct expect *e)
{
	int bad = 0;

	for (int r = 0; r < LB_BACKEND_DROPS; r++) {
		__u64 want = e->reason == (__u32)(LB_BACKEND_DROP_FIRST + r), sum = 0;

		for (int i = 0; i < N_BACKENDS; i++) {
			__u64 d = b->b[i].dropped[r] - a->b[i].dropped[r];

			sum += d;
			if (d && e->backend >= 0 && i != e->backend)
				MISMATCH("backend %d dropped %s +%llu, expected backend %d's", i,
					 reason_names[LB_BACKEND_DROP_FIRST + r],
					 (unsigned long long)d, e->backend);
		}
		if (sum != want)
			MISMATCH("backends dropped %s +%llu in all, expected +%llu",
				 reason_names[LB_BACKEND_DROP_FIRST + r], (unsigned long long)sum,
				 (unsigned long long)want);
	}
	return bad;
}

/* Asserts the counter deltas of one packet of len bytes. Returns the
 * number of mismatches (printed). */
static int check_counters(const char *name, const struct counters *a, const struct counters *b,
			  const struct expect *e, size_t len)
{
	int bad = 0, i;

	for (i = 0; i < LB_R_MAX; i++) {
		__u64 dp = b->r[i].packets - a->r[i].packets, db = b->r[i].bytes - a->r[i].bytes;
		__u64 ep = (__u32)i == e->reason ? 1 : 0, eb = ep ? len : 0;

		if (dp != ep || db != eb)
			MISMATCH("reason %s: +%llu packets +%llu bytes, expected +%llu +%llu",
				 reason_names[i], (unsigned long long)dp, (unsigned long long)db,
				 (unsigned long long)ep, (unsigned long long)eb);
	}
	for (i = 0; i < N_VIPS && e->vip != VIP_ANY; i++) {
		const struct lb_vip_stats *x = &a->v[i], *y = &b->v[i];
		int me = i == e->vip;
		__u64 dp = y->packets - x->packets, db = y->bytes - x->bytes;
		__u64 dn = y->new_flows - x->new_flows, dr = y->ring_picks - x->ring_picks;
		__u64 dm = y->flow_misses - x->flow_misses;
		__u64 de = y->flow_evictions - x->flow_evictions;

		if (dp != (me ? 1u : 0u) || db != (me ? len : 0) ||
		    dn != (me ? (__u64)e->new_flow : 0) || dr != (me ? (__u64)e->ring_pick : 0) ||
		    dm != (me ? (__u64)e->flow_miss : 0) || de != (me ? (__u64)e->flow_evict : 0))
			MISMATCH("vip %d stats: +%llu packets +%llu bytes +%llu new_flows +%llu ring_picks +%llu flow_misses +%llu flow_evictions, expected +%d +%zu +%d +%d +%d +%d",
				 i, (unsigned long long)dp, (unsigned long long)db,
				 (unsigned long long)dn, (unsigned long long)dr,
				 (unsigned long long)dm, (unsigned long long)de, me, me ? len : 0,
				 me ? e->new_flow : 0, me ? e->ring_pick : 0, me ? e->flow_miss : 0,
				 me ? e->flow_evict : 0);
	}
	for (i = 0; i < N_BACKENDS; i++) {
		int me = i == e->backend;
		__u64 dp = b->b[i].packets - a->b[i].packets, db = b->b[i].bytes - a->b[i].bytes;

		if (dp != (me ? 1u : 0u) || db != (me ? len : 0))
			MISMATCH("backend %d stats: +%llu packets +%llu bytes, expected +%d +%zu", i,
				 (unsigned long long)dp, (unsigned long long)db, me, me ? len : 0);
	}
	return bad + check_backend_drops(name, a, b, e);
}

/* After an eviction: the model forgets the flow of that set the program
 * dropped (exactly one). */
static void model_evicted(struct world *w, __u32 hash, const char *name)
{
	int i, gone = 0;
	__u32 id;

	for (i = 0; i < MODEL_FLOWS; i++) {
		struct mflow *f = &w->flows[i];

		if (!f->used || model_bucket(lb_flow_hash(&f->key)) != model_bucket(hash))
			continue;
		if (lb_xdp_flow_lookup(w->x, &f->key, &id) == -ENOENT) {
			f->used = 0;
			gone++;
		}
	}
	if (gone != 1)
		fail_msg("[%s] an eviction dropped %d flows of the set, expected 1", name, gone);
}

/* Runs one fixture: builds the input, computes the expectation, runs the
 * program once and asserts action, bytes and counters. e_out (optional)
 * gets the expectation (chosen backend, key, hash) for further asserts. */
static void run_fixture(struct world *w, const struct fixture *f, struct expect *e_out)
{
	const char *name = f->name;
	static uint8_t in[PKT_MAX], out[OUT_MAX];
	static struct expect e;
	struct counters before, after;
	struct pb_pkt p;
	size_t len, out_len = 0;
	__u32 retval = 0;
	int err, bad = 0;

	len = fx_frame(f, &p, in, sizeof(in));

	memset(&e, 0, sizeof(e));
	e.action = f->action;
	e.reason = f->reason;
	e.vip = VIP_NONE;
	e.backend = -1;
	memcpy(e.out, in, len);
	e.out_len = len;
	expect_fill(w, f->expect, &p, in, len, &e);
	assert_true(e.out_len > 0);

	snapshot(w, &before);
	err = prog_run(w, in, len, out, &out_len, &retval);
	if (err)
		fail_msg("[%s] bpf_prog_test_run_opts: %s", name, strerror(-err));
	snapshot(w, &after);

	if (retval != e.action)
		MISMATCH("action %s, expected %s", action_name(retval), action_name(e.action));
	if (out_len != e.out_len || memcmp(out, e.out, out_len)) {
		MISMATCH("output differs from the expected packet");
		hexdiff(e.out, e.out_len, out, out_len);
	}
	if (e.backend >= 0 && retval == XDP_TX) {
		int got = outer_backend(w, out, out_len);

		if (got != e.backend)
			MISMATCH("program chose backend %d (%s), expected %d (%s) from maglev + lb_flow_hash",
				 got, got >= 0 ? w->fw.be_addr[got] : "?", e.backend,
				 w->fw.be_addr[e.backend]);
	}
	bad += check_counters(name, &before, &after, &e, len);
	if (bad)
		fail_msg("[%s] %d mismatch(es), see above", name, bad);
	if (e.flow_evict)
		model_evicted(w, e.hash, name);
	if (e_out)
		*e_out = e;
}

/* --- expectations ------------------------------------------------------- */

static int is_syn(const struct pb_pkt *p)
{
	return p->proto == PB_P_TCP && (p->tcp_flags & PB_TCP_SYN) && !(p->tcp_flags & PB_TCP_ACK);
}

/* The encapsulated frame toward backend id for flow hash `hash`. */
static void expect_encap(struct world *w, __u32 id, __u32 hash, const uint8_t *in, size_t len,
			 struct expect *e)
{
	const struct lb_backend *b = &w->fw.be[id];
	char src[INET6_ADDRSTRLEN];
	struct pb_outer o;

	encap_source(w, b->family == LB_FAMILY_V4 ? 4 : 6, hash, src);
	memset(&o, 0, sizeof(o));
	memcpy(o.dmac, b->nh_dmac, 6);
	memcpy(o.smac, b->nh_smac, 6);
	o.src = src;
	o.dst = w->fw.be_addr[id];
	o.hash = hash;
	e->out_len = pb_encap(e->out, sizeof(e->out), in, len, &o);
	e->backend = (int)id;
	e->hash = hash;
}

/* A client -> VIP packet, encapsulated toward the flow's backend. */
static void exp_forward(struct world *w, const struct pb_pkt *p, const uint8_t *in, size_t len,
			struct expect *e)
{
	int vip = find_vip(p->dst, p->dport, p->proto);
	struct pick k;

	assert_true(vip >= 0);
	e->key = vip_flow_key(vip, p->src, p->dst, p->sport, p->dport, p->proto);
	k = model_choose(w, vip, &e->key, is_syn(p), 1);
	assert_true(k.backend != LB_BACKEND_NONE);
	e->vip = vip;
	e->new_flow = k.new_flow;
	e->ring_pick = k.ring_pick;
	e->flow_miss = k.flow_miss;
	e->flow_evict = k.flow_evict;
	expect_encap(w, k.backend, k.hash, in, len, e);
}

/* An ICMP error about a VIP -> client packet, sent whole to the backend of
 * the client -> VIP flow: its entry if any, else the ring; not inserted. */
static void exp_icmp_forward(struct world *w, const struct pb_pkt *p, const uint8_t *in,
			     size_t len, struct expect *e)
{
	const struct pb_pkt *q = p->quote;
	int vip = find_vip(q->src, q->sport, q->proto);
	struct pick k;

	assert_true(vip >= 0);
	e->key = vip_flow_key(vip, q->dst, q->src, q->dport, q->sport, q->proto);
	k = model_choose(w, vip, &e->key, 0, 0);
	assert_true(k.backend != LB_BACKEND_NONE);
	e->vip = vip;
	e->new_flow = 0;
	e->ring_pick = k.ring_pick;
	e->flow_miss = k.flow_miss;
	expect_encap(w, k.backend, k.hash, in, len, e);
}

/* The same frame with MACs and addresses swapped, TTL 64, reply type. */
static void exp_echo_reply(struct world *w, const struct pb_pkt *p, const uint8_t *in,
			   size_t len, struct expect *e)
{
	struct pb_pkt r = *p;

	(void)w;
	(void)in;
	(void)len;
	memcpy(r.dmac, p->smac, 6);
	memcpy(r.smac, p->dmac, 6);
	r.src = p->dst;
	r.dst = p->src;
	r.ttl = 64;
	r.icmp_type = p->proto == PB_P_ICMP ? 0 : 129;
	e->out_len = pb_frame(e->out, sizeof(e->out), &r);
}

/* Frag-needed / packet-too-big back to the client: MACs swapped, VIP ->
 * client, MTU = nh_mtu - outer header, quoting the IP header (with
 * options) and 8 bytes of L4 (IPv6: at most 112 bytes). */
static void exp_too_big(struct world *w, const struct pb_pkt *p, const uint8_t *in, size_t len,
			struct expect *e)
{
	int vip = find_vip(p->dst, p->dport, p->proto);
	struct pb_info info;
	struct pb_pkt r;
	size_t q;
	__u32 mtu;

	(void)w;
	assert_true(vip >= 0);
	assert_int_equal(pb_parse(in, len, &info), 0);
	mtu = NH_MTU - (vip_defs[vip].be_family == 4 ? 20 : 40);
	q = info.ip_hdr_len + 8;
	if (info.family == 6 && q > 112)
		q = 112;

	memset(&r, 0, sizeof(r));
	memcpy(r.dmac, p->smac, 6);
	memcpy(r.smac, p->dmac, 6);
	r.tags = p->tags;
	memcpy(r.tpid, p->tpid, sizeof(r.tpid));
	memcpy(r.tci, p->tci, sizeof(r.tci));
	r.src = p->dst;
	r.dst = p->src;
	r.ttl = 64;
	if (info.family == 4) {
		r.proto = PB_P_ICMP;
		r.icmp_type = 3;
		r.icmp_code = 4;
	} else {
		r.proto = PB_P_ICMPV6;
		r.icmp_type = 2;
	}
	r.icmp_rest = mtu;
	r.payload = in + info.l2_len;
	r.payload_len = q;
	e->out_len = pb_frame(e->out, sizeof(e->out), &r);
	/* The flow's VIP counts the packet; whether an entry is created for
	 * a packet that never reached a backend is not specified. */
	e->vip = VIP_ANY;
}

/* A packet to a VIP dropped after the backend was chosen: the VIP's
 * counters are not specified for it (the program counts the packet and
 * inserts the flow). */
static void exp_vip_unspecified(struct world *w, const struct pb_pkt *p, const uint8_t *in,
				size_t len, struct expect *e)
{
	(void)w;
	(void)p;
	(void)in;
	(void)len;
	e->vip = VIP_ANY;
}

static void exp_no_backend(struct world *w, const struct pb_pkt *p, const uint8_t *in,
			   size_t len, struct expect *e)
{
	int vip = find_vip(p->dst, p->dport, p->proto);

	(void)w;
	(void)in;
	(void)len;
	assert_true(vip >= 0);
	e->vip = vip;
	e->ring_pick = 1;	/* consulted, found LB_BACKEND_NONE */
	e->new_flow = 0;
	e->flow_miss = !is_syn(p);
}

/* --- checks and preparations ------------------------------------------- */

static void check_flow_stored(struct world *w, const struct expect *e)
{
	__u32 id = LB_BACKEND_NONE;

	assert_int_equal(lb_xdp_flow_lookup(w->x, &e->key, &id), 0);
	assert_int_equal(id, (__u32)e->backend);
}

static void check_flow_not_stored(struct world *w, const struct expect *e)
{
	__u32 id;

	assert_int_equal(lb_xdp_flow_lookup(w->x, &e->key, &id), -ENOENT);
}
/* Fills the expected output and counters of a fixture; FX_SAME: output
 * == input and no VIP or backend counter moves. */
static void expect_fill(struct world *w, enum fx_expect x, const struct pb_pkt *p,
			const uint8_t *in, size_t len, struct expect *e)
{
	switch (x) {
	case FX_SAME:
		break;
	case FX_FORWARD:
		exp_forward(w, p, in, len, e);
		break;
	case FX_ICMP_FORWARD:
		exp_icmp_forward(w, p, in, len, e);
		break;
	case FX_ECHO_REPLY:
		exp_echo_reply(w, p, in, len, e);
		break;
	case FX_TOO_BIG:
		exp_too_big(w, p, in, len, e);
		break;
	case FX_VIP_UNSPECIFIED:
		exp_vip_unspecified(w, p, in, len, e);
		break;
	case FX_NO_BACKEND:
		exp_no_backend(w, p, in, len, e);
		break;
	}
}

static void test_fixture(void **state)
{
	struct world *w = *state;
	const struct fixture *f = w->fx;
	struct expect e;

	if (f->prep)
		run_fixture(w, f->prep, NULL);
	run_fixture(w, f, &e);
	if (f->check == FX_CHECK_STORED)
		check_flow_stored(w, &e);
	else if (f->check == FX_CHECK_NOT_STORED)
		check_flow_not_stored(w, &e);
}

/* --- scenarios ------------------------------------------------------------ */

/* Source port of the parameterised packets below. */
static uint16_t cur_sport;

static void pkt_syn4_port(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_A, cur_sport, 80); }
static void pkt_ack4_port(struct pb_pkt *p) { fx_ack(p, CLIENT4, VIP_A, cur_sport, 80); }

/* SYN from a port to VIP 0: returns the backend it went to. */
static __u32 open_flow(struct world *w, __u32 port)
{
	const struct fixture f = { "SYN opening the flow", pkt_syn4_port, XDP_TX, FX_FORWARD,
				   LB_R_FWD_TX };
	struct expect e;

	cur_sport = (uint16_t)port;
	run_fixture(w, &f, &e);
	check_flow_stored(w, &e);
	return (__u32)e.backend;
}

static struct expect ack_flow(struct world *w, __u32 port, const char *name)
{
	const struct fixture f = { name, pkt_ack4_port, XDP_TX, FX_FORWARD, LB_R_FWD_TX };
	struct expect e;

	cur_sport = (uint16_t)port;
	run_fixture(w, &f, &e);
	check_flow_stored(w, &e);
	return e;
}

/* A flow stays on its backend even when the ring no longer has it. */
static void test_established_uses_flow_table(void **state)
{
	struct world *w = *state;
	__u32 b = open_flow(w, 40000);
	struct expect e;

	w->fw.be[b].state = LB_BACKEND_DOWN;	/* only to leave it out of the ring */
	publish_ring(w, 0);
	w->fw.be[b].state = LB_BACKEND_UP;		/* the program still has it up */
	e = ack_flow(w, 40000, "ACK after the ring lost its backend (still up)");
	assert_int_equal(e.backend, b);
	assert_int_equal(e.ring_pick, 0);
}

/* A drop after the pick is the backend's too: with the IPv4 encap
 * source gone, an established flow's packet is drop_no_source, counted
 * against the flow's backend (and check_counters asserts no other moved). */
static void test_drop_counted_on_backend(void **state)
{
	struct world *w = *state;
	__u32 b = open_flow(w, 40000);
	struct counters c0, c1;
	struct fixture f = { "ACK with no IPv4 encap source", pkt_ack4_port, XDP_DROP,
			     FX_VIP_UNSPECIFIED, LB_R_DROP_NO_SOURCE };

	w->fw.cfg.encap_src4 = 0;
	assert_int_equal(lb_xdp_set_config(w->x, &w->fw.cfg), 0);
	snapshot(w, &c0);
	cur_sport = 40000;
	run_fixture(w, &f, NULL);
	snapshot(w, &c1);
	assert_int_equal(c1.b[b].dropped[LB_R_DROP_NO_SOURCE - LB_BACKEND_DROP_FIRST] -
			 c0.b[b].dropped[LB_R_DROP_NO_SOURCE - LB_BACKEND_DROP_FIRST], 1);
	assert_int_equal(c1.b[b].packets, c0.b[b].packets);
}

static void test_draining_keeps_flow(void **state)
{
	struct world *w = *state;
	__u32 b = open_flow(w, 40000), p;
	struct expect e;
	int others = 0;

	set_state(w, b, LB_BACKEND_DRAINING);
	publish_ring(w, 0);
	e = ack_flow(w, 40000, "ACK to a draining backend");
	assert_int_equal(e.backend, b);
	assert_int_equal(e.new_flow, 0);
	assert_int_equal(e.ring_pick, 0);

	/* New connections never go to it. */
	for (p = 41000; p < 41032; p++) {
		__u32 nb = open_flow(w, p);

		assert_int_not_equal(nb, b);
		others++;
	}
	assert_int_equal(others, 32);
	/* A SYN on the old tuple is a new connection: picked again. */
	assert_int_not_equal(open_flow(w, 40000), b);
}

static void test_down_repicks(void **state)
{
	struct world *w = *state;
	__u32 b = open_flow(w, 40000), id = 0;
	struct expect e;

	set_state(w, b, LB_BACKEND_DOWN);
	publish_ring(w, 0);
	e = ack_flow(w, 40000, "ACK after its backend went down: re-picked");
	assert_int_not_equal(e.backend, b);
	assert_int_equal(e.ring_pick, 1);
	assert_int_equal(e.new_flow, 0);
	assert_int_equal(lb_xdp_flow_lookup(w->x, &e.key, &id), 0);
	assert_int_equal(id, (__u32)e.backend);
	e = ack_flow(w, 40000, "next ACK: the new entry, no ring pick");
	assert_int_equal(e.ring_pick, 0);
	assert_int_equal(e.backend, id);
}

static void test_gen_change_repicks(void **state)
{
	struct world *w = *state;
	__u32 b = open_flow(w, 40000);
	struct expect e;

	w->fw.be[b].gen += 7;	/* same id and address, another incarnation */
	set_backend(w, b);
	e = ack_flow(w, 40000, "ACK after the backend's gen changed: re-picked");
	assert_int_equal(e.ring_pick, 1);
	assert_int_equal(e.new_flow, 0);
	assert_int_equal(e.backend, b);	/* the unchanged ring still maps it there */
	e = ack_flow(w, 40000, "next ACK: the new entry");
	assert_int_equal(e.ring_pick, 0);
}

static void test_syn_overwrites_flow(void **state)
{
	struct world *w = *state;
	__u32 b = open_flow(w, 40000), nb, id = 0;
	struct lb_flow_key k = flow_key(CLIENT4, VIP_A, 40000, 80, PB_P_TCP);

	w->fw.be[b].state = LB_BACKEND_DOWN;
	publish_ring(w, 0);
	w->fw.be[b].state = LB_BACKEND_UP;
	nb = open_flow(w, 40000);	/* model: hit, so new_flows stays */
	assert_int_not_equal(nb, b);
	assert_int_equal(lb_xdp_flow_lookup(w->x, &k, &id), 0);
	assert_int_equal(id, nb);
}

/* --- connection-table expiry and eviction ---------------------------------- */

/* The kernel's HZ as libbpf gives it to the program (CONFIG_HZ from
 * /boot/config-$(uname -r) or /proc/config.gz), or the program's fallback
 * of 250 when neither says. */
static unsigned int kernel_hz(void)
{
	static const char *const cmds[] = {
		"grep -h '^CONFIG_HZ=' /boot/config-$(uname -r) 2>/dev/null",
		"zcat /proc/config.gz 2>/dev/null | grep '^CONFIG_HZ='",
	};
	unsigned int hz = 0;
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && !hz; i++) {
		FILE *p = popen(cmds[i], "r");

		if (!p)
			continue;
		if (fscanf(p, "CONFIG_HZ=%u", &hz) != 1)
			hz = 0;
		pclose(p);
	}
	return hz ? hz : 250;
}

static void set_ttl(struct world *w, __u32 tcp, __u32 udp)
{
	w->fw.cfg.flow_ttl_tcp = tcp;
	w->fw.cfg.flow_ttl_udp = udp;
	assert_int_equal(lb_xdp_set_config(w->x, &w->fw.cfg), 0);
}

/* The way of this CPU's slice holding k (asserted), with its bucket and
 * the bucket's index in the flows map. */
static int flow_slot(struct world *w, const struct lb_flow_key *k, struct lb_flow_bucket *bk,
		     __u32 *idx)
{
	int fd = lb_xdp_map_fd(w->x, LB_MAP_FLOWS), i;

	assert_true(fd >= 0);
	*idx = (__u32)test_cpu * FLOW_BUCKETS + model_bucket(lb_flow_hash(k));
	assert_int_equal(bpf_map_lookup_elem(fd, idx, bk), 0);
	for (i = 0; i < LB_FLOW_WAYS; i++)
		if (!memcmp(&bk->key[i], k, sizeof(*k)))
			return i;
	fail_msg("flow not in its bucket");
	return -1;
}

/* Rewrites k's last_seen to what it was minus ticks; returns the way. */
static int backdate(struct world *w, const struct lb_flow_key *k, __u32 ticks)
{
	int fd = lb_xdp_map_fd(w->x, LB_MAP_FLOWS);
	struct lb_flow_bucket bk;
	__u32 idx;
	int way = flow_slot(w, k, &bk, &idx);

	bk.last_seen[way] -= ticks;
	assert_int_equal(bpf_map_update_elem(fd, &idx, &bk, BPF_EXIST), 0);
	return way;
}

/* The model's side of an entry the test made expire: gone. */
static void model_forget(struct world *w, const struct lb_flow_key *k)
{
	struct mflow *f = model_find(w, k);

	assert_non_null(f);
	f->used = 0;
}

/* The real program on the kernel's jiffies: an entry 9.5 s old (TTL
 * 10 s) hits; one older than the TTL misses, re-picks from the ring into
 * its own way and is a new flow, not an eviction; TTL 0 never expires.
 * Jiffies cannot be read from userspace, so the test moves the entry's
 * stamp back instead of waiting. */
static void test_expiry(void **state)
{
	struct world *w = *state;
	struct lb_flow_key k = flow_key(CLIENT4, VIP_A, 40000, 80, PB_P_TCP);
	unsigned int hz = kernel_hz();
	struct lb_flow_bucket bk;
	__u32 b, idx, stamp;
	struct expect e;
	int way;

	set_ttl(w, 10, 10);
	b = open_flow(w, 40000);
	w->fw.be[b].state = LB_BACKEND_DOWN;	/* only to leave it out of the ring */
	publish_ring(w, 0);
	w->fw.be[b].state = LB_BACKEND_UP;	/* the program still has it up */

	way = backdate(w, &k, 10 * hz - hz / 2);
	e = ack_flow(w, 40000, "ACK 9.5 s after the last packet, TTL 10 s: a hit");
	assert_int_equal(e.backend, b);
	assert_int_equal(e.ring_pick, 0);
	assert_int_equal(e.flow_miss, 0);
	/* The hit refreshed the stamp (it was older than a touch). */
	assert_int_equal(flow_slot(w, &k, &bk, &idx), way);
	stamp = bk.last_seen[way];

	assert_int_equal(backdate(w, &k, 10 * hz + 1), way);
	model_forget(w, &k);
	e = ack_flow(w, 40000, "ACK 10 s and a tick after the last packet: expired, a miss");
	assert_int_not_equal(e.backend, b);
	assert_int_equal(e.ring_pick, 1);
	assert_int_equal(e.new_flow, 1);
	assert_int_equal(e.flow_miss, 1);
	assert_int_equal(e.flow_evict, 0);
	assert_int_equal(flow_slot(w, &k, &bk, &idx), way);
	assert_true(bk.last_seen[way] - stamp < (__u32)hz);	/* stamped now again */

	/* TTL 0: never, however old. */
	set_ttl(w, 0, 0);
	backdate(w, &k, 0x7fffffffu);
	e = ack_flow(w, 40000, "ACK after 2^31 ticks, TTL 0: a hit");
	assert_int_equal(e.ring_pick, 0);
}

/* Five flows into one 4-way set: the fifth evicts the least recently
 * seen (the first; ties go to the lowest way) and is counted once. An
 * expired way is then reused without counting an eviction. */
static void test_full_set_evicts(void **state)
{
	struct world *w = *state;
	uint16_t ports[LB_FLOW_WAYS + 2];
	unsigned int hz = kernel_hz();
	struct lb_flow_key k0 = flow_key(CLIENT4, VIP_A, 41000, 80, PB_P_TCP), k;
	__u32 set = model_bucket(lb_flow_hash(&k0)), id, port;
	struct lb_vip_stats vs;
	size_t n = 0, i;

	for (port = 41000; port < 65536 && n < sizeof(ports) / sizeof(ports[0]); port++) {
		k = flow_key(CLIENT4, VIP_A, (uint16_t)port, 80, PB_P_TCP);
		if (model_bucket(lb_flow_hash(&k)) == set)
			ports[n++] = (uint16_t)port;
	}
	assert_int_equal(n, sizeof(ports) / sizeof(ports[0]));

	for (i = 0; i < LB_FLOW_WAYS; i++)
		open_flow(w, ports[i]);
	open_flow(w, ports[LB_FLOW_WAYS]);	/* the model expects one eviction */
	k = flow_key(CLIENT4, VIP_A, ports[0], 80, PB_P_TCP);
	assert_int_equal(lb_xdp_flow_lookup(w->x, &k, &id), -ENOENT);
	assert_int_equal(lb_xdp_vip_stats(w->x, 0, &vs), 0);
	assert_int_equal(vs.flow_evictions, 1);

	/* ports[1] idle past its TTL: the next new flow takes its way. */
	set_ttl(w, 10, 10);
	k = flow_key(CLIENT4, VIP_A, ports[1], 80, PB_P_TCP);
	backdate(w, &k, 10 * hz + 1);
	model_forget(w, &k);
	open_flow(w, ports[LB_FLOW_WAYS + 1]);	/* the model expects none */
	assert_int_equal(lb_xdp_flow_lookup(w->x, &k, &id), -ENOENT);
	assert_int_equal(lb_xdp_vip_stats(w->x, 0, &vs), 0);
	assert_int_equal(vs.flow_evictions, 1);
}

static void pkt_aff(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_E, cur_sport, 22); }
static void pkt_aff_ack(struct pb_pkt *p) { fx_ack(p, CLIENT4, VIP_E, cur_sport, 22); }
static void pkt_spread4(struct pb_pkt *p) { fx_syn(p, CLIENT4, VIP_A, cur_sport, 80); }
static void pkt_spread_udp(struct pb_pkt *p)
{
	fx_pkt_udp4(p);
	p->sport = cur_sport;
}

/* Source affinity: every connection of a client shares one key with
 * sport 0, and so one backend. */
static void test_affinity(void **state)
{
	struct world *w = *state;
	static const uint16_t ports[] = { 40000, 40001, 51234 };
	struct lb_flow_key k0 = flow_key(CLIENT4, VIP_E, 0, 22, PB_P_TCP);
	struct lb_flow_key k1 = flow_key(CLIENT4, VIP_E, 40000, 22, PB_P_TCP);
	const struct fixture fs = { "SYN to an affinity VIP", pkt_aff, XDP_TX, FX_FORWARD,
				    LB_R_FWD_TX };
	const struct fixture fa = { "ACK to an affinity VIP, another source port", pkt_aff_ack,
				    XDP_TX, FX_FORWARD, LB_R_FWD_TX };
	struct expect e;
	int first = -1;
	__u32 id = 0;
	size_t i;

	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		cur_sport = ports[i];
		run_fixture(w, &fs, &e);
		assert_int_equal(e.key.sport, 0);
		if (first < 0)
			first = e.backend;
		assert_int_equal(e.backend, first);
	}
	assert_int_equal(lb_xdp_flow_lookup(w->x, &k0, &id), 0);
	assert_int_equal(id, (__u32)first);
	assert_int_equal(lb_xdp_flow_lookup(w->x, &k1, &id), -ENOENT);

	cur_sport = 60000;	/* no SYN from this port: the shared entry */
	run_fixture(w, &fa, &e);
	assert_int_equal(e.backend, first);
	assert_int_equal(e.ring_pick, 0);
}

/* ICMP errors about a flow go to the flow's backend even when the ring
 * would now pick another one. */
static void test_frag_needed_follows_flow(void **state)
{
	struct world *w = *state;
	const struct fixture f = { "frag-needed about the flow: to its backend",
				   fx_pkt_frag_needed4, XDP_TX, FX_ICMP_FORWARD, LB_R_FWD_TX };
	__u32 b = open_flow(w, 40000);
	struct expect e;

	w->fw.be[b].state = LB_BACKEND_DOWN;
	publish_ring(w, 0);
	w->fw.be[b].state = LB_BACKEND_UP;
	run_fixture(w, &f, &e);
	assert_int_equal(e.backend, b);
	assert_int_equal(e.ring_pick, 0);
}

static void test_too_big6_follows_flow(void **state)
{
	struct world *w = *state;
	const struct fixture f = { "packet-too-big about the flow: to its backend",
				   fx_pkt_too_big6, XDP_TX, FX_ICMP_FORWARD, LB_R_FWD_TX };
	struct expect e;
	__u32 b;

	run_fixture(w, &fx_fixture_syn6, &e);
	b = (__u32)e.backend;
	w->fw.be[b].state = LB_BACKEND_DOWN;
	publish_ring(w, 2);
	w->fw.be[b].state = LB_BACKEND_UP;
	run_fixture(w, &f, &e);
	assert_int_equal(e.backend, b);
	assert_int_equal(e.ring_pick, 0);
}

/* LB_CFG_F_ENTROPY_V4, mask 0xff: the outer v4 source's low byte is the
 * flow hash's; v6 sources are untouched. */
static void test_entropy_source(void **state)
{
	struct world *w = *state;
	const struct fixture f4 = { "SYN with v4 source entropy", pkt_spread4, XDP_TX,
				    FX_FORWARD, LB_R_FWD_TX };
	const struct fixture f6 = { "SYN to v6 backends with v4 entropy only", fx_pkt_syn4_to6,
				    XDP_TX, FX_FORWARD, LB_R_FWD_TX };
	static const uint8_t src6[16] = { 0xfc, [15] = 1 };
	struct expect e;
	int i;

	set_config(w, LB_CFG_F_ENTROPY_V4, 0xff);
	for (i = 0; i < 8; i++) {
		cur_sport = (uint16_t)(45000 + i);
		run_fixture(w, &f4, &e);
		assert_int_equal(e.out[14 + 12], 172);
		assert_int_equal(e.out[14 + 13], 16);
		assert_int_equal(e.out[14 + 14], 0);
		assert_int_equal(e.out[14 + 15], e.hash & 0xff);
	}
	run_fixture(w, &f6, &e);
	assert_memory_equal(e.out + 14 + 8, src6, 16);
}

/* A next hop on another interface: the same bytes, XDP_REDIRECT. */
static void test_redirect(void **state)
{
	struct world *w = *state;
	const struct fixture f = { "SYN, next hop on another port: redirected", fx_pkt_syn4,
				   XDP_REDIRECT, FX_FORWARD, LB_R_FWD_REDIRECT };
	__u32 id;

	for (id = 0; id < BE_PER_VIP; id++) {
		w->fw.be[id].nh_ifindex = ingress_ifindex + 1000;
		set_backend(w, id);
	}
	run_fixture(w, &f, NULL);
}

/* Many flows, each checked byte for byte: a program that ignored the
 * hash (always ring[0], say) would fail here if not before. */
static void test_spread(void **state)
{
	struct world *w = *state;
	const struct fixture ft = { "SYN, one of many flows", pkt_spread4, XDP_TX, FX_FORWARD,
				    LB_R_FWD_TX };
	const struct fixture fu = { "UDP (M = 65537), one of many flows", pkt_spread_udp,
				    XDP_TX, FX_FORWARD, LB_R_FWD_TX };
	int seen_t[N_BACKENDS] = { 0 }, seen_u[N_BACKENDS] = { 0 }, nt = 0, nu = 0, i;
	struct expect e;

	for (i = 0; i < 32; i++) {
		cur_sport = (uint16_t)(50000 + 7 * i);
		run_fixture(w, &ft, &e);
		nt += !seen_t[e.backend]++;
		run_fixture(w, &fu, &e);
		nu += !seen_u[e.backend]++;
	}
	assert_true(nt >= 3);
	assert_true(nu >= 3);
}

/* m == 0 takes a VIP out of service (loader.h): drop_no_backend. */
static void test_out_of_service(void **state)
{
	struct world *w = *state;
	const struct fixture f = { "SYN to a VIP out of service (ring size 0)", fx_pkt_syn4,
				   XDP_DROP, FX_VIP_UNSPECIFIED, LB_R_DROP_NO_BACKEND };

	assert_int_equal(lb_xdp_set_ring(w->x, 0, NULL, 0), 0);
	run_fixture(w, &f, NULL);
}

/*
 * Every truncation of valid frames, at every byte offset, is refused and
 * counted. The frame's own length fields always promise more than is
 * there, so from the IP header on the reason is drop_bad_l3 (the IPv4
 * total length or IPv6 payload length runs past the frame); before it,
 * inside a VLAN tag, drop_bad_l2. Frames under 14 bytes (ETH_HLEN) cannot
 * be tested: BPF_PROG_TEST_RUN refuses them with -EINVAL before the
 * program runs; they are skipped, and asserted to be refused.
 */
static void test_truncated(void **state)
{
	struct world *w = *state;
	const struct fixture bases[] = {
		{ "base: v4 SYN", fx_pkt_syn4, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
		{ "base: v4 SYN, 2 tags", fx_pkt_vlan2, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
		{ "base: v4 ACK with options", fx_pkt_opts4, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
		{ "base: v4 UDP", fx_pkt_udp4, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
		{ "base: v6 SYN", fx_pkt_syn6, XDP_TX, FX_FORWARD, LB_R_FWD_TX },
		{ "base: v6 SYN to v4 backends, 2 tags", fx_pkt_vlan2_6to4, XDP_TX, FX_FORWARD,
		  LB_R_FWD_TX },
		{ "base: v4 SYN to v6 backends", fx_pkt_syn4_to6, XDP_TX, FX_FORWARD,
		  LB_R_FWD_TX },
		{ "base: ICMP echo", fx_pkt_echo4, XDP_TX, FX_ECHO_REPLY, LB_R_ICMP_ECHO_REPLY },
		{ "base: frag-needed", fx_pkt_frag_needed4_noflow, XDP_TX, FX_ICMP_FORWARD,
		  LB_R_FWD_TX },
		{ "base: packet-too-big", fx_pkt_too_big6_noflow, XDP_TX, FX_ICMP_FORWARD,
		  LB_R_FWD_TX },
	};
	static uint8_t in[PKT_MAX], out[OUT_MAX];
	static struct expect e;
	size_t i, n, runs = 0, skipped = 0;
	int bad = 0;

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		struct pb_pkt p;
		struct pb_info info;
		size_t len;

		run_fixture(w, &bases[i], NULL);	/* whole, it is forwarded */
		bases[i].pkt(&p);
		len = pb_frame(in, sizeof(in), &p);
		assert_true(len > 0);
		assert_int_equal(pb_parse(in, len, &info), 0);

		for (n = 1; n < len; n++) {
			char name[128];
			struct counters before, after;
			size_t out_len = 0;
			__u32 retval = 0;
			int err;

			snprintf(name, sizeof(name), "%s, cut to %zu of %zu bytes", bases[i].name, n,
				 len);
			snapshot(w, &before);
			err = prog_run(w, in, n, out, &out_len, &retval);
			if (n < 14 && err == -EINVAL) {
				skipped++;
				continue;
			}
			if (err)
				fail_msg("[%s] bpf_prog_test_run_opts: %s", name, strerror(-err));
			snapshot(w, &after);
			runs++;
			memset(&e, 0, sizeof(e));
			e.action = XDP_DROP;
			e.reason = n < info.l2_len ? LB_R_DROP_BAD_L2 : LB_R_DROP_BAD_L3;
			e.vip = VIP_NONE;
			e.backend = -1;
			if (retval == XDP_TX || retval == XDP_REDIRECT) {
				printf("    [%s] forwarded (%s)\n", name, action_name(retval));
				bad++;
			} else if (retval != e.action) {
				printf("    [%s] action %s, expected %s\n", name, action_name(retval),
				       action_name(e.action));
				bad++;
			}
			if (out_len != n || memcmp(out, in, n)) {
				printf("    [%s] output changed\n", name);
				bad++;
			}
			bad += check_counters(name, &before, &after, &e, n);
		}
	}
	printf("    %zu truncated frames run, %zu under ETH_HLEN refused by the kernel (skipped)\n",
	       runs, skipped);
	if (bad)
		fail_msg("%d mismatch(es) on truncated frames, see above", bad);
}

/* --- main ----------------------------------------------------------------- */

int main(void)
{
	static const struct CMUnitTest scenarios[] = {
		cmocka_unit_test_setup_teardown(test_established_uses_flow_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_counted_on_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_draining_keeps_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_repicks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gen_change_repicks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_overwrites_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_affinity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frag_needed_follows_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big6_follows_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entropy_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_set_evicts, setup, teardown),
	};
	struct CMUnitTest tests[fx_count + sizeof(scenarios) / sizeof(scenarios[0])];
	struct lb_params probe = { .vip_slots = 64, .max_vips = 1, .max_ring = 3,
				   .max_backends = 1, .flow_buckets = 1 };
	struct lb_xdp *x;
	cpu_set_t cpus;
	size_t i, n = 0;
	int cpu;

	setvbuf(stdout, NULL, _IOLBF, 0);

	/* The connection table is per CPU: keep every run on one. */
	cpu = sched_getcpu();
	if (cpu < 0)
		cpu = 0;
	test_cpu = cpu;
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus)) {
		printf("sched_setaffinity(CPU %d): %s\n", cpu, strerror(errno));
		return 1;
	}

	x = lb_xdp_open(&probe);
	if (!x) {
		int err = errno;

		if (err == EPERM || err == EACCES) {
			printf("SKIP: loading sluice.bpf.o was refused (%s): BPF_PROG_TEST_RUN needs root or CAP_BPF + CAP_NET_ADMIN\n",
			       strerror(err));
			return 77;
		}
		printf("lb_xdp_open: %s\n", strerror(err));
		return 1;
	}
	lb_xdp_close(x);

	/* The ingress ifindex BPF_PROG_TEST_RUN reports without a context:
	 * the namespace's loopback (its rx queue is the one used). */
	ingress_ifindex = if_nametoindex("lo");
	if (!ingress_ifindex) {
		printf("if_nametoindex(lo): %s\n", strerror(errno));
		return 1;
	}
	fx_init();

	for (i = 0; i < fx_count; i++)
		tests[n++] = (struct CMUnitTest){
			.name = fx_table[i].name,
			.test_func = test_fixture,
			.setup_func = setup,
			.teardown_func = teardown,
			.initial_state = (void *)&fx_table[i],
		};
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		tests[n++] = scenarios[i];
	return _cmocka_run_group_tests("test_xdp_lb", tests, n, NULL, NULL);
}
