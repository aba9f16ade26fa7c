/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_xdp_lb.c - sluice.bpf.c through BPF_PROG_TEST_RUN.
 *
 * Each fixture is {description, input packet, expected action, expected
 * output packet, expected reason}. The runner asserts the action, the
 * output length and every byte (a hex diff on mismatch), and the counters
 * afterwards: exactly one reason moved, by one packet and the frame's
 * length; the VIP counters {packets, bytes, new_flows, ring_picks, flow_misses} and the
 * chosen backend's {packets, bytes} moved as expected, and nothing else.
 *
 * Expected packets come from pktbuild.h (its own header and checksum
 * code, nothing from lib/parse.h or lib/encap.h). The expected backend is
 * computed here: rings from lib/maglev (lb_maglev_build), the flow hash
 * from lib/hash.h (lb_flow_hash, lb_hash_range: the shared definitions),
 * and a small model of the connection table written from the semantics
 * in DESIGN.md (SYN always picks and overwrites; other packets keep their
 * flow while its backend is the same gen and up or draining).
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
#include "maglev.h"
#include "viptable.h"
#include "loader.h"
#include "pktbuild.h"

#define PKT_MAX 2048
#define OUT_MAX 4096
#define N_VIPS 8
#define BE_PER_VIP 5
#define N_BACKENDS 48
#define FLOW_BUCKETS 256
#define RING_BIG 65537
#define NH_MTU 1500
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

/* --- the world every test starts from ---------------------------------- */

#define CLIENT4 "198.51.100.7"
#define CLIENT6 "2001:db8:c1::7"
#define ROUTER4 "203.0.113.1"
#define ROUTER6 "2001:db8:ff::1"
#define OTHER4 "10.9.9.9"
#define OTHER6 "2001:db8:9::9"
#define ENCAP4 "172.16.0.1"
#define ENCAP6 "fc00::1"

static const uint8_t lb_mac[6] = { 0x02, 0x1b, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t client_mac[6] = { 0x02, 0xc1, 0x00, 0x00, 0x00, 0x07 };

struct vip_def {
	const char *addr;
	uint16_t port;		/* 0: port wildcard */
	uint8_t proto;
	uint32_t flags;		/* LB_VIP_F_* */
	uint32_t m;		/* ring size, prime */
	int be_family;		/* of its 5 backends, ids vip * 5 .. vip * 5 + 4 */
	int usable;		/* 0: every backend has weight 0 (empty ring) */
};

static const struct vip_def vip_defs[N_VIPS] = {
	{ "10.1.0.1", 80, PB_P_TCP, 0, 251, 4, 1 },
	{ "10.1.0.1", 53, PB_P_UDP, 0, RING_BIG, 4, 1 },
	{ "2001:db8:1::1", 443, PB_P_TCP, 0, 251, 6, 1 },
	{ "10.1.0.3", 443, PB_P_TCP, 0, 251, 6, 1 },	/* v4 VIP, v6 backends */
	{ "2001:db8:1::4", 80, PB_P_TCP, 0, 251, 4, 1 },	/* v6 VIP, v4 backends */
	{ "10.1.0.5", 0, PB_P_TCP, 0, 251, 4, 1 },	/* port wildcard */
	{ "10.1.0.5", 22, PB_P_TCP, LB_VIP_F_AFFINITY, 251, 4, 1 },	/* exact, affinity */
	{ "10.1.0.7", 80, PB_P_TCP, 0, 251, 4, 0 },	/* no usable backend */
};

#define VIP_A "10.1.0.1"
#define VIP6_A "2001:db8:1::1"
#define VIP_C "10.1.0.3"
#define VIP6_D "2001:db8:1::4"
#define VIP_E "10.1.0.5"
#define VIP_G "10.1.0.7"

static const __u32 be_weights[BE_PER_VIP] = { 1, 2, 1, 3, 1 };

struct mflow {
	struct lb_flow_key key;
	__u32 backend;
	__u32 gen;
	int used;
};

struct world {
	struct lb_xdp *x;
	int prog_fd;
	const void *fx;			/* the table fixture this test runs, if any */
	struct lb_config cfg;
	struct lb_backend be[N_BACKENDS];	/* as last written to the program */
	char be_addr[N_BACKENDS][INET6_ADDRSTRLEN];
	__u32 *ring[N_VIPS];		/* as last published */
	struct mflow flows[MODEL_FLOWS];	/* model of the connection table */
};

static unsigned int ingress_ifindex;

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

/* Rebuilds a VIP's ring over its backends that are UP (draining, down and
 * unused ones get weight 0) and publishes it. */
static void publish_ring(struct world *w, int v)
{
	struct lb_maglev_backend mb[BE_PER_VIP];
	int i;

	memset(mb, 0, sizeof(mb));
	for (i = 0; i < BE_PER_VIP; i++) {
		__u32 id = (__u32)(v * BE_PER_VIP + i);

		mb[i].addr = w->be[id].addr;
		mb[i].family = w->be[id].family;
		mb[i].weight = vip_defs[v].usable && w->be[id].state == LB_BACKEND_UP ?
			       be_weights[i] : 0;
		mb[i].id = id;
	}
	assert_int_equal(lb_maglev_build(mb, BE_PER_VIP, w->ring[v], vip_defs[v].m), 0);
	assert_int_equal(lb_xdp_set_ring(w->x, (__u32)v, w->ring[v], vip_defs[v].m), 0);
}

static void set_backend(struct world *w, __u32 id)
{
	assert_int_equal(lb_xdp_set_backend(w->x, id, &w->be[id]), 0);
}

static void set_state(struct world *w, __u32 id, __u8 state)
{
	assert_int_equal(lb_xdp_set_backend_state(w->x, id, state), 0);
	w->be[id].state = state;
}

static void set_config(struct world *w, __u32 flags, __u32 mask4)
{
	memset(&w->cfg, 0, sizeof(w->cfg));
	assert_int_equal(inet_pton(AF_INET, ENCAP4, &w->cfg.encap_src4), 1);
	assert_int_equal(inet_pton(AF_INET6, ENCAP6, &w->cfg.encap_src6), 1);
	w->cfg.flags = flags;
	w->cfg.entropy_mask4 = mask4;
	assert_int_equal(lb_xdp_set_config(w->x, &w->cfg), 0);
}

/* Every VIP key, and per VIP address the ICMP entry that marks it. */
static void publish_vips(struct world *w)
{
	struct lb_vip_entry e[2 * N_VIPS];
	size_t n = 0, j;
	int v;

	memset(e, 0, sizeof(e));
	for (v = 0; v < N_VIPS; v++) {
		int fam = pb_addr(vip_defs[v].addr, (uint8_t *)&e[n].key.addr);

		e[n].key.port = htons(vip_defs[v].port);
		e[n].key.proto = vip_defs[v].proto;
		e[n].key.family = fam == 4 ? LB_FAMILY_V4 : LB_FAMILY_V6;
		e[n].vip_id = (__u32)v;
		n++;
	}
	for (v = 0; v < N_VIPS; v++) {
		struct lb_vip_key k;
		int fam, dup = 0;

		memset(&k, 0, sizeof(k));
		fam = pb_addr(vip_defs[v].addr, (uint8_t *)&k.addr);
		k.proto = fam == 4 ? PB_P_ICMP : PB_P_ICMPV6;
		k.family = fam == 4 ? LB_FAMILY_V4 : LB_FAMILY_V6;
		for (j = 0; j < n; j++)
			dup |= !memcmp(&e[j].key, &k, sizeof(k));
		if (dup)
			continue;
		e[n].key = k;
		e[n].vip_id = LB_VIP_ID_ADDR;
		n++;
	}
	assert_int_equal(lb_xdp_set_vips(w->x, e, n), 0);
}

static int setup(void **state)
{
	struct lb_params params = {
		.vip_slots = 64,
		.max_vips = N_VIPS,
		.max_ring = RING_BIG,
		.max_backends = N_BACKENDS,
		.flow_buckets = FLOW_BUCKETS,
	};
	struct world *w = calloc(1, sizeof(*w));
	int v, i;

	assert_non_null(w);
	w->fx = *state;
	w->x = lb_xdp_open(&params);
	if (!w->x) {
		print_error("lb_xdp_open: %s\n", strerror(errno));
		free(w);
		return -1;
	}
	w->prog_fd = lb_xdp_prog_fd(w->x);
	set_config(w, 0, 0);

	for (v = 0; v < N_VIPS; v++) {
		for (i = 0; i < BE_PER_VIP; i++) {
			__u32 id = (__u32)(v * BE_PER_VIP + i);
			struct lb_backend *b = &w->be[id];

			if (vip_defs[v].be_family == 4)
				snprintf(w->be_addr[id], sizeof(w->be_addr[id]), "192.168.%d.%d",
					 10 * (v + 1), i + 1);
			else
				snprintf(w->be_addr[id], sizeof(w->be_addr[id]), "2001:db8:be%d::%d",
					 v, i + 1);
			pb_addr(w->be_addr[id], (uint8_t *)&b->addr);
			b->family = vip_defs[v].be_family == 4 ? LB_FAMILY_V4 : LB_FAMILY_V6;
			b->state = vip_defs[v].usable ? LB_BACKEND_UP : LB_BACKEND_DOWN;
			b->flags = LB_BACKEND_F_NH_VALID;
			b->gen = 1000 + id;
			b->nh_ifindex = ingress_ifindex;
			b->nh_mtu = NH_MTU;
			memcpy(b->nh_dmac, (uint8_t[6]){ 0x02, 0xbe, 0x00, 0x00, (uint8_t)v,
							 (uint8_t)(i + 1) }, 6);
			memcpy(b->nh_smac, (uint8_t[6]){ 0x02, 0x5e, 0x00, 0x00, 0x00,
							 (uint8_t)id }, 6);
			set_backend(w, id);
		}
		w->ring[v] = calloc(vip_defs[v].m, sizeof(__u32));
		assert_non_null(w->ring[v]);
		publish_ring(w, v);
		assert_int_equal(lb_xdp_set_vip_flags(w->x, (__u32)v, vip_defs[v].flags), 0);
	}
	publish_vips(w);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	int v;

	if (!w)
		return 0;
	for (v = 0; v < N_VIPS; v++)
		free(w->ring[v]);
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
};

static struct pick model_choose(struct world *w, int vip, const struct lb_flow_key *k, int syn,
				int insert)
{
	struct mflow *f = model_find(w, k);
	struct pick p = { .hash = lb_flow_hash(k), .flow_miss = !f && !syn };
	int i;

	if (f && !syn) {
		const struct lb_backend *b = &w->be[f->backend];

		if (b->gen == f->gen &&
		    (b->state == LB_BACKEND_UP || b->state == LB_BACKEND_DRAINING)) {
			p.backend = f->backend;
			return p;
		}
	}
	p.ring_pick = 1;
	p.backend = w->ring[vip][lb_hash_range(p.hash, vip_defs[vip].m)];
	if (p.backend == LB_BACKEND_NONE || !insert)
		return p;
	if (!f) {
		p.new_flow = 1;
		for (i = 0; i < MODEL_FLOWS && w->flows[i].used; i++)
			;
		assert_true(i < MODEL_FLOWS);
		f = &w->flows[i];
		f->used = 1;
		f->key = *k;
	}
	f->backend = p.backend;
	f->gen = w->be[p.backend].gen;
	return p;
}

/* Outer source for a backend family, with the configured entropy. */
static void encap_source(const struct world *w, int fam, __u32 hash, char *buf)
{
	if (fam == 4) {
		uint32_t s = ntohl(w->cfg.encap_src4);
		struct in_addr a;

		if (w->cfg.flags & LB_CFG_F_ENTROPY_V4)
			s = (s & ~w->cfg.entropy_mask4) | (hash & w->cfg.entropy_mask4);
		a.s_addr = htonl(s);
		inet_ntop(AF_INET, &a, buf, INET6_ADDRSTRLEN);
	} else {
		struct lb_addr a = w->cfg.encap_src6;

		if (w->cfg.flags & LB_CFG_F_ENTROPY_V6)
			a.w[3] = htonl((ntohl(a.w[3]) & ~w->cfg.entropy_mask6) |
				       (hash & w->cfg.entropy_mask6));
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
		if (w->be[id].family && !memcmp(&w->be[id].addr, &a, sizeof(a)))
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
	int backend;		/* backend whose counters move, or -1 */
	__u32 hash;		/* flow hash (forwarded packets) */
	struct lb_flow_key key;	/* flow key (forwarded packets) */
};

struct fixture {
	const char *name;
	void (*pkt)(struct pb_pkt *p);	/* the input packet */
	__u32 action;
	/* Fills the expected output and counters; NULL: output == input and
	 * no VIP or backend counter moves. */
	void (*expect)(struct world *w, const struct pb_pkt *p, const uint8_t *in, size_t len,
		       struct expect *e);
	__u32 reason;
	size_t (*mutate)(uint8_t *frame, size_t len);	/* malformed inputs */
	void (*prep)(struct world *w);	/* earlier packets, state changes */
	void (*check)(struct world *w, const struct expect *e);	/* more asserts */
};

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

		if (dp != (me ? 1u : 0u) || db != (me ? len : 0) ||
		    dn != (me ? (__u64)e->new_flow : 0) || dr != (me ? (__u64)e->ring_pick : 0) ||
		    dm != (me ? (__u64)e->flow_miss : 0))
			MISMATCH("vip %d stats: +%llu packets +%llu bytes +%llu new_flows +%llu ring_picks +%llu flow_misses, expected +%d +%zu +%d +%d +%d",
				 i, (unsigned long long)dp, (unsigned long long)db,
				 (unsigned long long)dn, (unsigned long long)dr,
				 (unsigned long long)dm, me, me ? len : 0,
				 me ? e->new_flow : 0, me ? e->ring_pick : 0, me ? e->flow_miss : 0);
	}
	for (i = 0; i < N_BACKENDS; i++) {
		int me = i == e->backend;
		__u64 dp = b->b[i].packets - a->b[i].packets, db = b->b[i].bytes - a->b[i].bytes;

		if (dp != (me ? 1u : 0u) || db != (me ? len : 0))
			MISMATCH("backend %d stats: +%llu packets +%llu bytes, expected +%d +%zu", i,
				 (unsigned long long)dp, (unsigned long long)db, me, me ? len : 0);
	}
	return bad;
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

	memset(&p, 0, sizeof(p));
	f->pkt(&p);
	len = pb_frame(in, sizeof(in), &p);
	assert_true(len > 0);
	if (f->mutate)
		len = f->mutate(in, len);

	memset(&e, 0, sizeof(e));
	e.action = f->action;
	e.reason = f->reason;
	e.vip = VIP_NONE;
	e.backend = -1;
	memcpy(e.out, in, len);
	e.out_len = len;
	if (f->expect)
		f->expect(w, &p, in, len, &e);
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
				 got, got >= 0 ? w->be_addr[got] : "?", e.backend,
				 w->be_addr[e.backend]);
	}
	bad += check_counters(name, &before, &after, &e, len);
	if (bad)
		fail_msg("[%s] %d mismatch(es), see above", name, bad);
	if (e_out)
		*e_out = e;
}

/* --- packets ------------------------------------------------------------ */

static uint8_t pattern[1600];

static void base(struct pb_pkt *p, const char *src, const char *dst, uint8_t proto,
		 uint16_t sport, uint16_t dport)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->dmac, lb_mac, 6);
	memcpy(p->smac, client_mac, 6);
	p->src = src;
	p->dst = dst;
	p->proto = proto;
	p->sport = sport;
	p->dport = dport;
	p->tos = 0x28;
	p->ttl = 57;
	p->ip_id = 0x4d2e;
	p->df = 1;
	p->flow_label = 0x9abcd;
	p->seq = 0x1a2b3c4d;
	p->window = 64240;
	p->payload = pattern;
}

static void tcp(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport,
		uint16_t dport, uint8_t flags, size_t paylen)
{
	base(p, src, dst, PB_P_TCP, sport, dport);
	p->tcp_flags = flags;
	if (flags & PB_TCP_ACK)
		p->ack = 0x0badf00d;
	p->payload_len = paylen;
}

static void syn(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport,
		uint16_t dport)
{
	tcp(p, src, dst, sport, dport, PB_TCP_SYN, 0);
}

static void ack(struct pb_pkt *p, const char *src, const char *dst, uint16_t sport,
		uint16_t dport)
{
	tcp(p, src, dst, sport, dport, PB_TCP_ACK | PB_TCP_PSH, 100);
}

static void icmp(struct pb_pkt *p, const char *src, const char *dst, uint8_t type,
		 uint8_t code, uint32_t rest)
{
	base(p, src, dst, strchr(src, ':') ? PB_P_ICMPV6 : PB_P_ICMP, 0, 0);
	p->icmp_type = type;
	p->icmp_code = code;
	p->icmp_rest = rest;
}

static void pkt_syn4(struct pb_pkt *p) { syn(p, CLIENT4, VIP_A, 40000, 80); }
static void pkt_ack4(struct pb_pkt *p) { ack(p, CLIENT4, VIP_A, 40000, 80); }
static void pkt_udp4(struct pb_pkt *p)
{
	base(p, CLIENT4, VIP_A, PB_P_UDP, 5353, 53);
	p->df = 0;
	p->tos = 0;
	p->payload_len = 37;	/* odd: the checksum pads */
}
static void pkt_syn6(struct pb_pkt *p) { syn(p, CLIENT6, VIP6_A, 40000, 443); }
static void pkt_ack6(struct pb_pkt *p) { ack(p, CLIENT6, VIP6_A, 40000, 443); }
static void pkt_syn4_to6(struct pb_pkt *p) { syn(p, CLIENT4, VIP_C, 40000, 443); }
static void pkt_syn6_to4(struct pb_pkt *p) { syn(p, CLIENT6, VIP6_D, 40000, 80); }
static void pkt_wildcard(struct pb_pkt *p) { syn(p, CLIENT4, VIP_E, 40000, 8443); }
static void pkt_exact_before_wildcard(struct pb_pkt *p) { syn(p, CLIENT4, VIP_E, 40000, 22); }
static void pkt_udp_wildcard_addr(struct pb_pkt *p)
{
	base(p, CLIENT4, VIP_E, PB_P_UDP, 5353, 8443);
	p->payload_len = 20;
}
static void pkt_ack_no_flow(struct pb_pkt *p) { ack(p, CLIENT4, VIP_A, 40001, 80); }
static void pkt_synack(struct pb_pkt *p)
{
	tcp(p, CLIENT4, VIP_A, 40002, 80, PB_TCP_SYN | PB_TCP_ACK, 0);
}

static void pkt_not_vip4(struct pb_pkt *p) { syn(p, CLIENT4, OTHER4, 40000, 80); }
static void pkt_not_vip_port(struct pb_pkt *p) { syn(p, CLIENT4, VIP_A, 40000, 81); }
static void pkt_not_vip6(struct pb_pkt *p) { syn(p, CLIENT6, OTHER6, 40000, 443); }
static void pkt_udp_to_tcp_vip(struct pb_pkt *p)
{
	base(p, CLIENT4, VIP_A, PB_P_UDP, 5353, 80);
	p->payload_len = 8;
}
static void pkt_gre(struct pb_pkt *p)
{
	base(p, CLIENT4, VIP_A, 47, 0, 0);
	p->payload_len = 24;
}

static const uint8_t arp_body[28] = {
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,	/* Ethernet/IPv4, request */
	0x02, 0xc1, 0x00, 0x00, 0x00, 0x07, 198, 51, 100, 7,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 1, 0, 1,
};

static void pkt_arp(struct pb_pkt *p)
{
	memset(p, 0, sizeof(*p));
	memset(p->dmac, 0xff, 6);
	memcpy(p->smac, client_mac, 6);
	p->ethertype = PB_ETH_ARP;
	p->payload = arp_body;
	p->payload_len = sizeof(arp_body);
	p->pad_to = 60;
}

static void pkt_frag4_first(struct pb_pkt *p)
{
	ack(p, CLIENT4, VIP_A, 40000, 80);
	p->df = 0;
	p->mf = 1;
	p->payload_len = 64;
}

/* A later fragment: protocol TCP, no TCP header, offset 1480 bytes. */
static void pkt_frag4_last(struct pb_pkt *p)
{
	base(p, CLIENT4, VIP_A, PB_P_TCP, 0, 0);
	p->df = 0;
	p->frag_off = 185;
	p->payload_len = 40;
}

/* The same for IPv6: fragment header with an offset, no TCP header. */
static void pkt_frag6_later(struct pb_pkt *p)
{
	base(p, CLIENT6, VIP6_A, PB_P_TCP, 0, 0);
	p->frag6 = 1;
	p->frag6_id = 0xdeadbeef;
	p->frag_off = 181;
	p->payload_len = 40;
}

static void pkt_frag6(struct pb_pkt *p)
{
	ack(p, CLIENT6, VIP6_A, 40000, 443);
	p->frag6 = 1;
	p->frag6_id = 0xdeadbeef;
	p->mf = 1;
	p->payload_len = 64;
}

static void pkt_frag4_not_vip(struct pb_pkt *p)
{
	pkt_frag4_first(p);
	p->dst = OTHER4;
}

static void pkt_frag6_not_vip(struct pb_pkt *p)
{
	pkt_frag6(p);
	p->dst = OTHER6;
}

static void pkt_vlan1(struct pb_pkt *p)
{
	pkt_syn4(p);
	p->tags = 1;
	p->tci[0] = 100;
}

static void pkt_vlan2(struct pb_pkt *p)
{
	pkt_syn4(p);
	p->tags = 2;
	p->tci[0] = 100;
	p->tci[1] = 0x2000 | 200;	/* PCP 1 */
}

static void pkt_vlan2_6to4(struct pb_pkt *p)
{
	pkt_syn6_to4(p);
	p->tags = 2;
	p->tci[0] = 100;
	p->tci[1] = 200;
}

static void pkt_vlan3(struct pb_pkt *p)
{
	pkt_syn4(p);
	p->tags = 3;
	p->tci[0] = 100;
	p->tci[1] = 200;
	p->tci[2] = 300;
}

static void pkt_echo4(struct pb_pkt *p)
{
	icmp(p, CLIENT4, VIP_A, 8, 0, 0x1234u << 16 | 7);
	p->payload_len = 56;
}

static void pkt_echo6(struct pb_pkt *p)
{
	icmp(p, CLIENT6, VIP6_A, 128, 0, 0x4321u << 16 | 9);
	p->payload_len = 56;
}

static void pkt_echo4_vlan(struct pb_pkt *p)
{
	pkt_echo4(p);
	p->dst = VIP_G;		/* any VIP address answers, even with no backend */
	p->tags = 1;
	p->tci[0] = 100;
}

static void pkt_echo4_not_vip(struct pb_pkt *p)
{
	pkt_echo4(p);
	p->dst = OTHER4;
}

static void pkt_timestamp4(struct pb_pkt *p)
{
	icmp(p, CLIENT4, VIP_A, 13, 0, 0x1234u << 16 | 1);
	p->payload_len = 12;
}

/* IPv6 next header 1 (ICMP for IPv4) carrying an "echo request" type 128:
 * not ICMPv6, just another protocol for IPv6. */
static void pkt_icmp4_in_ip6(struct pb_pkt *p)
{
	pkt_echo6(p);
	p->proto = PB_P_ICMP;
}

/* The same the other way round: next header 58 in IPv4, type 8. */
static void pkt_icmp6_in_ip4(struct pb_pkt *p)
{
	pkt_echo4(p);
	p->proto = PB_P_ICMPV6;
}

/* ICMP errors from a router about a VIP -> client packet. */
static struct pb_pkt quoted;

static void frag_needed4(struct pb_pkt *p, const char *vip, uint16_t vport, uint16_t cport)
{
	tcp(&quoted, vip, CLIENT4, vport, cport, PB_TCP_ACK, 1400);
	icmp(p, ROUTER4, vip, 3, 4, 1400);
	p->tos = 0xc0;
	p->df = 0;
	p->ttl = 254;
	p->quote = &quoted;	/* IP header + 8 bytes */
}

static void too_big6(struct pb_pkt *p, const char *vip, uint16_t vport, uint16_t cport)
{
	tcp(&quoted, vip, CLIENT6, vport, cport, PB_TCP_ACK, 64);
	icmp(p, ROUTER6, vip, 2, 0, 1280);
	p->tos = 0xe0;
	p->quote = &quoted;
	p->quote_len = PB_QUOTE_ALL;
}

static void pkt_frag_needed4(struct pb_pkt *p) { frag_needed4(p, VIP_A, 80, 40000); }
static void pkt_frag_needed4_noflow(struct pb_pkt *p) { frag_needed4(p, VIP_A, 80, 40123); }
static void pkt_too_big6(struct pb_pkt *p) { too_big6(p, VIP6_A, 443, 40000); }
static void pkt_too_big6_noflow(struct pb_pkt *p) { too_big6(p, VIP6_A, 443, 40123); }
static void pkt_frag_needed4_bad_quote(struct pb_pkt *p) { frag_needed4(p, VIP_A, 9999, 40000); }

/* Oversize packets: IP length ip_len. */
static void big(struct pb_pkt *p, const char *src, const char *dst, uint16_t dport, size_t ip_len)
{
	size_t hdr = strchr(src, ':') ? 40 + 20 : 20 + 20;

	ack(p, src, dst, 40000, dport);
	p->payload_len = ip_len - hdr;
}

static void pkt_big4(struct pb_pkt *p) { big(p, CLIENT4, VIP_A, 80, 1500); }
static void pkt_fits4(struct pb_pkt *p) { big(p, CLIENT4, VIP_A, 80, NH_MTU - 20); }
static void pkt_big4_nodf(struct pb_pkt *p)
{
	pkt_big4(p);
	p->df = 0;
}
static void pkt_big6(struct pb_pkt *p) { big(p, CLIENT6, VIP6_A, 443, 1500); }
static void pkt_fits6(struct pb_pkt *p) { big(p, CLIENT6, VIP6_A, 443, NH_MTU - 40); }
static void pkt_big4_to6(struct pb_pkt *p) { big(p, CLIENT4, VIP_C, 443, NH_MTU - 39); }
static void pkt_big6_to4(struct pb_pkt *p) { big(p, CLIENT6, VIP6_D, 80, NH_MTU - 19); }
static void pkt_big4_vlan(struct pb_pkt *p)
{
	pkt_big4(p);
	p->tags = 1;
	p->tci[0] = 100;
}

/* Record route (7), length 11, pointer 4, two empty slots; then EOL. */
static const uint8_t ip_opts_rr[12] = { 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

static void pkt_opts4(struct pb_pkt *p)
{
	pkt_ack4(p);
	p->ip_opts = ip_opts_rr;
	p->ip_opts_len = sizeof(ip_opts_rr);
}

static void pkt_big4_opts(struct pb_pkt *p)
{
	pkt_big4(p);
	p->ip_opts = ip_opts_rr;
	p->ip_opts_len = sizeof(ip_opts_rr);
	p->payload_len -= sizeof(ip_opts_rr);
}

/* A 40-byte IPv4 TCP packet in a 60-byte frame. */
static void pkt_padded(struct pb_pkt *p)
{
	pkt_syn4(p);
	p->pad_to = 60;
	p->pad_byte = 0;
}

static void pkt_padded_junk(struct pb_pkt *p)
{
	pkt_padded(p);
	p->pad_byte = 0xa5;
}

static void pkt_empty_ring(struct pb_pkt *p) { syn(p, CLIENT4, VIP_G, 40000, 80); }

/* Malformed inputs (built valid, then broken). */
static size_t mut_ihl4(uint8_t *f, size_t len)
{
	f[14] = 0x44;
	return len;
}

static size_t mut_tot_len_short(uint8_t *f, size_t len)
{
	pb_put16(f + 14 + 2, 19);	/* less than the header */
	return len;
}

static size_t mut_version(uint8_t *f, size_t len)
{
	f[14] = (uint8_t)(0x60 | (f[14] & 0xf));
	return len;
}

static size_t mut_doff4(uint8_t *f, size_t len)
{
	f[14 + 20 + 12] = 4 << 4;
	return len;
}

/* IP length ends inside the TCP header; the frame still holds it all. */
static size_t mut_tcp_cut_by_ip_len(uint8_t *f, size_t len)
{
	pb_put16(f + 14 + 2, 20 + 12);
	f[14 + 10] = f[14 + 11] = 0;
	pb_put16(f + 14 + 10, pb_csum(f + 14, 20));
	return len;
}

static size_t mut_v6_version(uint8_t *f, size_t len)
{
	f[14] = (uint8_t)(0x40 | (f[14] & 0xf));
	return len;
}

static size_t mut_v6_udp_cut(uint8_t *f, size_t len)
{
	pb_put16(f + 14 + 4, 4);	/* payload length: half a UDP header */
	return len;
}

static void pkt_udp6(struct pb_pkt *p)
{
	base(p, CLIENT6, VIP6_A, PB_P_UDP, 5353, 443);
	p->payload_len = 16;
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
	const struct lb_backend *b = &w->be[id];
	char src[INET6_ADDRSTRLEN];
	struct pb_outer o;

	encap_source(w, b->family == LB_FAMILY_V4 ? 4 : 6, hash, src);
	memset(&o, 0, sizeof(o));
	memcpy(o.dmac, b->nh_dmac, 6);
	memcpy(o.smac, b->nh_smac, 6);
	o.src = src;
	o.dst = w->be_addr[id];
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

#define FX_SYN4 { "v4 TCP SYN to a VIP", pkt_syn4, XDP_TX, exp_forward, LB_R_FWD_TX, \
		  .check = check_flow_stored }
#define FX_SYN6 { "v6 TCP SYN to a VIP", pkt_syn6, XDP_TX, exp_forward, LB_R_FWD_TX, \
		  .check = check_flow_stored }

static const struct fixture fx_syn4 = FX_SYN4;
static const struct fixture fx_syn6 = FX_SYN6;

static void prep_syn4(struct world *w) { run_fixture(w, &fx_syn4, NULL); }
static void prep_syn6(struct world *w) { run_fixture(w, &fx_syn6, NULL); }

/* --- the table ------------------------------------------------------------ */

static const struct fixture fixtures[] = {
	FX_SYN4,
	{ "v4 TCP ACK of the established flow: same backend, no new flow, no ring pick",
	  pkt_ack4, XDP_TX, exp_forward, LB_R_FWD_TX, .prep = prep_syn4,
	  .check = check_flow_stored },
	{ "v4 TCP ACK with no flow entry: ring pick, inserted", pkt_ack_no_flow, XDP_TX,
	  exp_forward, LB_R_FWD_TX, .check = check_flow_stored },
	{ "v4 TCP SYN+ACK is not a new connection: ring pick as a miss", pkt_synack, XDP_TX,
	  exp_forward, LB_R_FWD_TX, .check = check_flow_stored },
	{ "v4 UDP to a VIP, M = 65537, no DF (outer ID from the hash)", pkt_udp4, XDP_TX,
	  exp_forward, LB_R_FWD_TX, .check = check_flow_stored },
	FX_SYN6,
	{ "v6 TCP ACK of the established flow", pkt_ack6, XDP_TX, exp_forward, LB_R_FWD_TX,
	  .prep = prep_syn6 },
	{ "v6 UDP to a TCP-only v6 VIP: not a VIP", pkt_udp6, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "v4 VIP, v6 backends", pkt_syn4_to6, XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "v6 VIP, v4 backends", pkt_syn6_to4, XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "port wildcard VIP: any port", pkt_wildcard, XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "exact port before the wildcard (affinity VIP)", pkt_exact_before_wildcard, XDP_TX,
	  exp_forward, LB_R_FWD_TX, .check = check_flow_stored },
	{ "UDP to a TCP-wildcard address: not a VIP", pkt_udp_wildcard_addr, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "v4 TCP to a non-VIP address: passed", pkt_not_vip4, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "v4 TCP to a VIP address, port not a VIP: passed", pkt_not_vip_port, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "v4 UDP to a TCP VIP's port: passed", pkt_udp_to_tcp_vip, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "v6 TCP to a non-VIP address: passed", pkt_not_vip6, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "GRE to a VIP address: other protocol, passed", pkt_gre, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "ICMPv4 protocol (1) in IPv6 to a v6 VIP, type 128: other protocol, passed",
	  pkt_icmp4_in_ip6, XDP_PASS, NULL, LB_R_PASS_NOT_VIP },
	{ "ICMPv6 protocol (58) in IPv4 to a v4 VIP, type 8: other protocol, passed",
	  pkt_icmp6_in_ip4, XDP_PASS, NULL, LB_R_PASS_NOT_VIP },
	{ "ARP: passed", pkt_arp, XDP_PASS, NULL, LB_R_PASS_NOT_IP },
	{ "v4 first fragment (MF) to a VIP: dropped", pkt_frag4_first, XDP_DROP, NULL,
	  LB_R_DROP_FRAGMENT },
	{ "v4 last fragment (offset) to a VIP: dropped", pkt_frag4_last, XDP_DROP, NULL,
	  LB_R_DROP_FRAGMENT },
	{ "v6 later fragment (offset) to a VIP: dropped", pkt_frag6_later, XDP_DROP, NULL,
	  LB_R_DROP_FRAGMENT },
	{ "v6 first fragment (fragment header, M) to a VIP: dropped", pkt_frag6, XDP_DROP, NULL,
	  LB_R_DROP_FRAGMENT },
	{ "v4 fragment to a non-VIP address: passed", pkt_frag4_not_vip, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "v6 fragment to a non-VIP address: passed", pkt_frag6_not_vip, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "1 VLAN tag: forwarded, tag kept", pkt_vlan1, XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "2 VLAN tags: forwarded, tags kept", pkt_vlan2, XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "2 VLAN tags, v6 VIP to v4 backend: inner ethertype rewritten", pkt_vlan2_6to4,
	  XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "3 VLAN tags: dropped", pkt_vlan3, XDP_DROP, NULL, LB_R_DROP_BAD_L2 },
	{ "ICMP echo to a v4 VIP: answered", pkt_echo4, XDP_TX, exp_echo_reply,
	  LB_R_ICMP_ECHO_REPLY },
	{ "ICMPv6 echo to a v6 VIP: answered", pkt_echo6, XDP_TX, exp_echo_reply,
	  LB_R_ICMP_ECHO_REPLY },
	{ "ICMP echo, VLAN tag, VIP without backends: answered", pkt_echo4_vlan, XDP_TX,
	  exp_echo_reply, LB_R_ICMP_ECHO_REPLY },
	{ "ICMP echo to a non-VIP address: passed", pkt_echo4_not_vip, XDP_PASS, NULL,
	  LB_R_PASS_NOT_VIP },
	{ "ICMP timestamp to a VIP address: passed", pkt_timestamp4, XDP_PASS, NULL,
	  LB_R_PASS_ICMP_OTHER },
	{ "frag-needed about a VIP flow with no entry: ring pick, not inserted",
	  pkt_frag_needed4_noflow, XDP_TX, exp_icmp_forward, LB_R_FWD_TX,
	  .check = check_flow_not_stored },
	{ "packet-too-big about a VIP flow with no entry: ring pick, not inserted",
	  pkt_too_big6_noflow, XDP_TX, exp_icmp_forward, LB_R_FWD_TX,
	  .check = check_flow_not_stored },
	{ "frag-needed quoting no VIP: dropped", pkt_frag_needed4_bad_quote, XDP_DROP, NULL,
	  LB_R_DROP_ICMP_QUOTE },
	{ "oversize v4 DF: frag-needed back", pkt_big4, XDP_TX, exp_too_big,
	  LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v4 DF with a VLAN tag: frag-needed back, tag kept", pkt_big4_vlan, XDP_TX,
	  exp_too_big, LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v4 DF with options: quote has the options", pkt_big4_opts, XDP_TX,
	  exp_too_big, LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v6: packet-too-big back", pkt_big6, XDP_TX, exp_too_big,
	  LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v4 DF to v6 backends: MTU - 40", pkt_big4_to6, XDP_TX, exp_too_big,
	  LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v6 to v4 backends: MTU - 20", pkt_big6_to4, XDP_TX, exp_too_big,
	  LB_R_ICMP_TOO_BIG_SENT },
	{ "oversize v4 without DF: dropped", pkt_big4_nodf, XDP_DROP, exp_vip_unspecified,
	  LB_R_DROP_TOO_BIG },
	{ "v4 DF exactly at the MTU: forwarded", pkt_fits4, XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "v6 exactly at the MTU: forwarded", pkt_fits6, XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "IPv4 with options: forwarded", pkt_opts4, XDP_TX, exp_forward, LB_R_FWD_TX },
	{ "Ethernet padding kept after the outer packet (60-byte frame, 40-byte packet)", pkt_padded, XDP_TX,
	  exp_forward, LB_R_FWD_TX },
	{ "Ethernet padding of non-zero bytes kept as it was", pkt_padded_junk, XDP_TX, exp_forward,
	  LB_R_FWD_TX },
	{ "VIP with no usable backend (empty ring): dropped", pkt_empty_ring, XDP_DROP,
	  exp_no_backend, LB_R_DROP_NO_BACKEND },
	{ "IPv4 ihl 4: dropped", pkt_syn4, XDP_DROP, NULL, LB_R_DROP_BAD_L3,
	  .mutate = mut_ihl4 },
	{ "IPv4 total length below the header: dropped", pkt_syn4, XDP_DROP, NULL,
	  LB_R_DROP_BAD_L3, .mutate = mut_tot_len_short },
	{ "version 6 under ethertype IPv4: dropped", pkt_syn4, XDP_DROP, NULL,
	  LB_R_DROP_BAD_L3, .mutate = mut_version },
	{ "version 4 under ethertype IPv6: dropped", pkt_syn6, XDP_DROP, NULL,
	  LB_R_DROP_BAD_L3, .mutate = mut_v6_version },
	{ "TCP data offset 4: dropped", pkt_syn4, XDP_DROP, NULL, LB_R_DROP_BAD_L4,
	  .mutate = mut_doff4 },
	{ "TCP header cut by the IPv4 length: dropped", pkt_syn4, XDP_DROP, NULL,
	  LB_R_DROP_BAD_L4, .mutate = mut_tcp_cut_by_ip_len },
	{ "UDP header cut by the IPv6 payload length: dropped", pkt_udp6, XDP_DROP, NULL,
	  LB_R_DROP_BAD_L4, .mutate = mut_v6_udp_cut },
};

#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

static void test_fixture(void **state)
{
	struct world *w = *state;
	const struct fixture *f = w->fx;
	struct expect e;

	if (f->prep)
		f->prep(w);
	run_fixture(w, f, &e);
	if (f->check)
		f->check(w, &e);
}

/* --- scenarios ------------------------------------------------------------ */

/* Source port of the parameterised packets below. */
static uint16_t cur_sport;

static void pkt_syn4_port(struct pb_pkt *p) { syn(p, CLIENT4, VIP_A, cur_sport, 80); }
static void pkt_ack4_port(struct pb_pkt *p) { ack(p, CLIENT4, VIP_A, cur_sport, 80); }

/* SYN from a port to VIP 0: returns the backend it went to. */
static __u32 open_flow(struct world *w, __u32 port)
{
	const struct fixture f = { "SYN opening the flow", pkt_syn4_port, XDP_TX, exp_forward,
				   LB_R_FWD_TX };
	struct expect e;

	cur_sport = (uint16_t)port;
	run_fixture(w, &f, &e);
	check_flow_stored(w, &e);
	return (__u32)e.backend;
}

static struct expect ack_flow(struct world *w, __u32 port, const char *name)
{
	const struct fixture f = { name, pkt_ack4_port, XDP_TX, exp_forward, LB_R_FWD_TX };
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

	w->be[b].state = LB_BACKEND_DOWN;	/* only to leave it out of the ring */
	publish_ring(w, 0);
	w->be[b].state = LB_BACKEND_UP;		/* the program still has it up */
	e = ack_flow(w, 40000, "ACK after the ring lost its backend (still up)");
	assert_int_equal(e.backend, b);
	assert_int_equal(e.ring_pick, 0);
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

	w->be[b].gen += 7;	/* same id and address, another incarnation */
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

	w->be[b].state = LB_BACKEND_DOWN;
	publish_ring(w, 0);
	w->be[b].state = LB_BACKEND_UP;
	nb = open_flow(w, 40000);	/* model: hit, so new_flows stays */
	assert_int_not_equal(nb, b);
	assert_int_equal(lb_xdp_flow_lookup(w->x, &k, &id), 0);
	assert_int_equal(id, nb);
}


static void pkt_aff(struct pb_pkt *p) { syn(p, CLIENT4, VIP_E, cur_sport, 22); }
static void pkt_aff_ack(struct pb_pkt *p) { ack(p, CLIENT4, VIP_E, cur_sport, 22); }
static void pkt_spread4(struct pb_pkt *p) { syn(p, CLIENT4, VIP_A, cur_sport, 80); }
static void pkt_spread_udp(struct pb_pkt *p)
{
	pkt_udp4(p);
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
	const struct fixture fs = { "SYN to an affinity VIP", pkt_aff, XDP_TX, exp_forward,
				    LB_R_FWD_TX };
	const struct fixture fa = { "ACK to an affinity VIP, another source port", pkt_aff_ack,
				    XDP_TX, exp_forward, LB_R_FWD_TX };
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
				   pkt_frag_needed4, XDP_TX, exp_icmp_forward, LB_R_FWD_TX };
	__u32 b = open_flow(w, 40000);
	struct expect e;

	w->be[b].state = LB_BACKEND_DOWN;
	publish_ring(w, 0);
	w->be[b].state = LB_BACKEND_UP;
	run_fixture(w, &f, &e);
	assert_int_equal(e.backend, b);
	assert_int_equal(e.ring_pick, 0);
}

static void test_too_big6_follows_flow(void **state)
{
	struct world *w = *state;
	const struct fixture f = { "packet-too-big about the flow: to its backend",
				   pkt_too_big6, XDP_TX, exp_icmp_forward, LB_R_FWD_TX };
	struct expect e;
	__u32 b;

	run_fixture(w, &fx_syn6, &e);
	b = (__u32)e.backend;
	w->be[b].state = LB_BACKEND_DOWN;
	publish_ring(w, 2);
	w->be[b].state = LB_BACKEND_UP;
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
				    exp_forward, LB_R_FWD_TX };
	const struct fixture f6 = { "SYN to v6 backends with v4 entropy only", pkt_syn4_to6,
				    XDP_TX, exp_forward, LB_R_FWD_TX };
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
	const struct fixture f = { "SYN, next hop on another port: redirected", pkt_syn4,
				   XDP_REDIRECT, exp_forward, LB_R_FWD_REDIRECT };
	__u32 id;

	for (id = 0; id < BE_PER_VIP; id++) {
		w->be[id].nh_ifindex = ingress_ifindex + 1000;
		set_backend(w, id);
	}
	run_fixture(w, &f, NULL);
}

/* Many flows, each checked byte for byte: a program that ignored the
 * hash (always ring[0], say) would fail here if not before. */
static void test_spread(void **state)
{
	struct world *w = *state;
	const struct fixture ft = { "SYN, one of many flows", pkt_spread4, XDP_TX, exp_forward,
				    LB_R_FWD_TX };
	const struct fixture fu = { "UDP (M = 65537), one of many flows", pkt_spread_udp,
				    XDP_TX, exp_forward, LB_R_FWD_TX };
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
static void exp_out_of_service(struct world *w, const struct pb_pkt *p, const uint8_t *in,
			       size_t len, struct expect *e)
{
	(void)w;
	(void)p;
	(void)in;
	(void)len;
	e->vip = VIP_ANY;
}

static void test_out_of_service(void **state)
{
	struct world *w = *state;
	const struct fixture f = { "SYN to a VIP out of service (ring size 0)", pkt_syn4,
				   XDP_DROP, exp_out_of_service, LB_R_DROP_NO_BACKEND };

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
		{ "base: v4 SYN", pkt_syn4, XDP_TX, exp_forward, LB_R_FWD_TX },
		{ "base: v4 SYN, 2 tags", pkt_vlan2, XDP_TX, exp_forward, LB_R_FWD_TX },
		{ "base: v4 ACK with options", pkt_opts4, XDP_TX, exp_forward, LB_R_FWD_TX },
		{ "base: v4 UDP", pkt_udp4, XDP_TX, exp_forward, LB_R_FWD_TX },
		{ "base: v6 SYN", pkt_syn6, XDP_TX, exp_forward, LB_R_FWD_TX },
		{ "base: v6 SYN to v4 backends, 2 tags", pkt_vlan2_6to4, XDP_TX, exp_forward,
		  LB_R_FWD_TX },
		{ "base: v4 SYN to v6 backends", pkt_syn4_to6, XDP_TX, exp_forward,
		  LB_R_FWD_TX },
		{ "base: ICMP echo", pkt_echo4, XDP_TX, exp_echo_reply, LB_R_ICMP_ECHO_REPLY },
		{ "base: frag-needed", pkt_frag_needed4_noflow, XDP_TX, exp_icmp_forward,
		  LB_R_FWD_TX },
		{ "base: packet-too-big", pkt_too_big6_noflow, XDP_TX, exp_icmp_forward,
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
	};
	struct CMUnitTest tests[N_FIXTURES + sizeof(scenarios) / sizeof(scenarios[0])];
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
	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);

	for (i = 0; i < N_FIXTURES; i++)
		tests[n++] = (struct CMUnitTest){
			.name = fixtures[i].name,
			.test_func = test_fixture,
			.setup_func = setup,
			.teardown_func = teardown,
			.initial_state = (void *)&fixtures[i],
		};
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		tests[n++] = scenarios[i];
	return _cmocka_run_group_tests("test_xdp_lb", tests, n, NULL, NULL);
}
