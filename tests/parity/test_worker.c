/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_worker.c - the DPDK worker's connection table (dataplane/worker.c
 * over lib/pipeline.h), without BPF or root: a SYN inserts, the next
 * packet hits, a backend that went down or changed gen is re-picked, a
 * draining one keeps its flows but gets no new ones, an entry idle for
 * longer than its protocol's TTL expires (a miss that re-picks, in its own
 * way), a full bucket reuses an expired way or else evicts its least
 * recently seen one, and the VIP counters new_flows, ring_picks,
 * flow_misses and flow_evictions count what happened. A burst
 * (lb_dp_process_burst) gives what its frames give one at a time.
 *
 * Two VIPs, 10.1.0.1:80/TCP (vip 0) and 10.1.0.1:53/UDP (vip 1), whose
 * rings have 3 entries, all naming one backend, so which backend a ring
 * pick gives is chosen by the test and a pick shows as a change of
 * backend. Flow TTLs are 0 (never expire) unless a test sets them; the
 * clock is the worker's now, at LB_DP_HZ. Frames come from
 * tests/bpf/pktbuild.h.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fwd.h"
#include "hash.h"
#include "tables.h"
#include "worker.h"
#include "pktbuild.h"

#define INGRESS 1		/* the port frames come in on; next hops too */
#define N_BACKENDS 4
#define RING 3			/* the smallest ring (odd, >= 3) */
#define CLIENT "198.51.100.7"
#define VIP "10.1.0.1"
#define VIP_PORT 80
#define UDP_PORT 53
#define HZ LB_DP_HZ		/* the worker's clock: LB_ENV_HZ of worker.c */
#define FRAME_SZ 4096
#define HEADROOM 256

struct env {
	struct lb_tables t;
	struct lb_dp_worker w;
	struct lb_backend be[N_BACKENDS];	/* as last written */
	uint8_t buf[FRAME_SZ];
	struct lb_dp_frame f;
};

static int grace_none(void *arg)
{
	(void)arg;
	return 0;	/* one thread: no reader outlives a write */
}

static void set_ring_to(struct env *e, __u32 id)
{
	__u32 ring[RING] = { id, id, id };

	assert_int_equal(lb_tables_set_ring(&e->t, 0, ring, RING), 0);
	assert_int_equal(lb_tables_set_ring(&e->t, 1, ring, RING), 0);
}

/* Flow TTLs in seconds, as `node set --flow-ttl-*` pushes them. */
static void set_ttl(struct env *e, __u32 tcp, __u32 udp)
{
	struct lb_config cfg = *e->t.cfg;

	cfg.flow_ttl_tcp = tcp;
	cfg.flow_ttl_udp = udp;
	assert_int_equal(lb_tables_set_config(&e->t, &cfg), 0);
}

static void set_backend(struct env *e, __u32 id)
{
	assert_int_equal(lb_tables_set_backend(&e->t, id, &e->be[id]), 0);
}

static void set_state(struct env *e, __u32 id, __u8 state)
{
	assert_int_equal(lb_tables_set_backend_state(&e->t, id, state), 0);
	e->be[id].state = state;
}

static void tables_alloc(struct lb_tables *t, const struct lb_params *p)
{
	memset(t, 0, sizeof(*t));
	t->cfg = calloc(1, sizeof(*t->cfg));
	t->vip_table = calloc(2 * (size_t)p->vip_slots, sizeof(*t->vip_table));
	t->vip_meta = calloc(p->max_vips, sizeof(*t->vip_meta));
	t->rings = malloc(lb_tables_rings_bytes(p));
	t->backends = calloc(p->max_backends, sizeof(*t->backends));
	assert_true(t->cfg && t->vip_table && t->vip_meta && t->rings && t->backends);
	t->grace = grace_none;
	lb_tables_init(t, p, 1);
}

/* The world with flow_buckets buckets; every backend up, ring -> 0. */
static struct env *env_new(__u32 flow_buckets)
{
	struct lb_params p = {
		.vip_slots = 16,
		.max_vips = 2,
		.max_ring = RING,
		.max_backends = N_BACKENDS,
		.flow_buckets = flow_buckets,
		.nr_cpus = 1,
	};
	struct lb_vip_entry vip[2] = { { .vip_id = 0 }, { .vip_id = 1 } };
	struct lb_config cfg = { 0 };
	struct env *e = calloc(1, sizeof(*e));
	__u32 id;

	assert_non_null(e);
	tables_alloc(&e->t, &p);
	assert_int_equal(inet_pton(AF_INET, "172.16.0.1", &cfg.encap_src4), 1);
	assert_int_equal(lb_tables_set_config(&e->t, &cfg), 0);
	for (id = 0; id < N_BACKENDS; id++) {
		struct lb_backend *b = &e->be[id];

		b->addr.w[0] = htonl(0xc0a80000u | (10 + id));	/* 192.168.0.10 + id */
		b->family = LB_FAMILY_V4;
		b->state = LB_BACKEND_UP;
		b->flags = LB_BACKEND_F_NH_VALID;
		b->gen = 100 + id;
		b->nh_ifindex = INGRESS;
		b->nh_mtu = 1500;
		b->nh_dmac[5] = (__u8)id;
		set_backend(e, id);
	}
	set_ring_to(e, 0);
	pb_addr(VIP, (uint8_t *)&vip[0].key.addr);
	vip[0].key.port = htons(VIP_PORT);
	vip[0].key.proto = PB_P_TCP;
	vip[0].key.family = LB_FAMILY_V4;
	vip[1].key = vip[0].key;
	vip[1].key.port = htons(UDP_PORT);
	vip[1].key.proto = PB_P_UDP;
	assert_int_equal(lb_tables_set_vips(&e->t, vip, 2), 0);
	assert_int_equal(lb_dp_worker_init(&e->w, &e->t), 0);
	e->w.now = 1000;
	return e;
}

static int setup(void **state)
{
	*state = env_new(256);
	return 0;
}

/* One bucket: every flow collides. */
static int setup_one_bucket(void **state)
{
	*state = env_new(1);
	return 0;
}

/* No bucket: flow_buckets 0 (lb_tables_params refuses it; the pipeline
 * must still not read past the table). */
static int setup_no_bucket(void **state)
{
	*state = env_new(0);
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	lb_dp_worker_fini(&e->w);
	free(e->t.cfg);
	free(e->t.vip_table);
	free(e->t.vip_meta);
	free(e->t.rings);
	free(e->t.backends);
	free(e);
	return 0;
}

/* CLIENT:sport -> VIP (TCP with these flags, or UDP) in buf, as f. */
static void load_l4(uint8_t *buf, struct lb_dp_frame *f, uint8_t proto, uint16_t sport,
		    uint8_t flags)
{
	struct pb_pkt p = {
		.src = CLIENT,
		.dst = VIP,
		.proto = proto,
		.sport = sport,
		.dport = proto == PB_P_TCP ? VIP_PORT : UDP_PORT,
		.tcp_flags = flags,
		.df = 1,
	};
	size_t len;

	memset(buf, 0, FRAME_SZ);
	len = pb_frame(buf + HEADROOM, FRAME_SZ - HEADROOM, &p);
	assert_true(len > 0);
	memset(f, 0, sizeof(*f));
	f->head = buf;
	f->end = buf + FRAME_SZ;
	f->data = buf + HEADROOM;
	f->data_end = f->data + len;
	f->ingress_ifindex = INGRESS;
}

/* Sends CLIENT:sport -> VIP (TCP with these flags, or UDP); returns
 * the reason. */
static int send_l4(struct env *e, uint8_t proto, uint16_t sport, uint8_t flags)
{
	load_l4(e->buf, &e->f, proto, sport, flags);
	return lb_dp_process(&e->w, &e->f);
}

static int syn(struct env *e, uint16_t sport)
{
	return send_l4(e, PB_P_TCP, sport, PB_TCP_SYN);
}

static int ack(struct env *e, uint16_t sport)
{
	return send_l4(e, PB_P_TCP, sport, PB_TCP_ACK);
}

static int udp(struct env *e, uint16_t sport)
{
	return send_l4(e, PB_P_UDP, sport, 0);
}

/* The backend the last frame was encapsulated to (outer IPv4 dst). */
static int sent_to(const struct env *e)
{
	__be32 dst;
	__u32 id;

	assert_true(e->f.data_end - e->f.data >= 14 + 20);
	memcpy(&dst, e->f.data + 14 + 16, 4);
	for (id = 0; id < N_BACKENDS; id++)
		if (e->be[id].addr.w[0] == dst)
			return (int)id;
	return -1;
}

/* Sends and asserts it was forwarded to backend id. */
#define FORWARDED_TO(e, call, id)                                   \
	do {                                                        \
		assert_int_equal((call), LB_R_FWD_TX);              \
		assert_int_equal(sent_to(e), (id));                 \
	} while (0)

static struct lb_flow_key key_of_proto(uint8_t proto, uint16_t sport)
{
	struct lb_flow_key k;

	memset(&k, 0, sizeof(k));
	pb_addr(CLIENT, (uint8_t *)&k.src);
	pb_addr(VIP, (uint8_t *)&k.dst);
	k.sport = htons(sport);
	k.dport = htons(proto == PB_P_TCP ? VIP_PORT : UDP_PORT);
	k.proto = proto;
	k.family = LB_FAMILY_V4;
	return k;
}

static struct lb_flow_key key_of(uint16_t sport)
{
	return key_of_proto(PB_P_TCP, sport);
}

/* The way holding the flow (proto, sport), or -1; *bk its bucket. */
static int flow_way_proto(const struct env *e, uint8_t proto, uint16_t sport,
			  const struct lb_flow_bucket **bk)
{
	struct lb_flow_key k = key_of_proto(proto, sport);
	__u32 b, w;

	for (b = 0; b < e->t.params.flow_buckets; b++) {
		for (w = 0; w < LB_FLOW_WAYS; w++) {
			if (!memcmp(&e->w.flows[b].key[w], &k, sizeof(k))) {
				*bk = &e->w.flows[b];
				return (int)w;
			}
		}
	}
	return -1;
}

static int flow_way(const struct env *e, uint16_t sport, const struct lb_flow_bucket **bk)
{
	return flow_way_proto(e, PB_P_TCP, sport, bk);
}

/* Asserts sport's flow is stored on backend id with gen. */
static void assert_flow(const struct env *e, uint16_t sport, __u32 id, __u32 gen)
{
	const struct lb_flow_bucket *bk = NULL;
	int w = flow_way(e, sport, &bk);
	struct lb_flow_key k = key_of(sport);

	assert_true(w >= 0);
	assert_int_equal(bk->backend_id[w], id);
	assert_int_equal(bk->backend_gen[w], gen);
	assert_int_equal(bk->tag[w], lb_flow_hash(&k));
}

static void assert_no_flow(const struct env *e, uint16_t sport)
{
	const struct lb_flow_bucket *bk = NULL;

	assert_int_equal(flow_way(e, sport, &bk), -1);
}

static __u32 last_seen(const struct env *e, uint16_t sport)
{
	const struct lb_flow_bucket *bk = NULL;
	int w = flow_way(e, sport, &bk);

	assert_true(w >= 0);
	return bk->last_seen[w];
}

/* The VIP's counters so far. */
static void assert_vip(const struct env *e, __u64 packets, __u64 new_flows, __u64 ring_picks,
		       __u64 flow_misses)
{
	const struct lb_vip_stats *s = &e->w.c.vip[0];

	assert_int_equal(s->packets, packets);
	assert_int_equal(s->new_flows, new_flows);
	assert_int_equal(s->ring_picks, ring_picks);
	assert_int_equal(s->flow_misses, flow_misses);
}

/* Evictions counted on VIP vip so far. */
static void assert_evictions(const struct env *e, __u32 vip, __u64 n)
{
	assert_int_equal(e->w.c.vip[vip].flow_evictions, n);
}

/* --- tests ---------------------------------------------------------------- */

static void test_syn_inserts(void **state)
{
	struct env *e = *state;
	size_t len;

	FORWARDED_TO(e, syn(e, 40000), 0);
	assert_flow(e, 40000, 0, 100);
	assert_int_equal(last_seen(e, 40000), 1000);
	assert_vip(e, 1, 1, 1, 0);
	len = (size_t)(e->f.data_end - e->f.data) - 20;	/* the frame that came in */
	assert_int_equal(e->w.c.reason[LB_R_FWD_TX].packets, 1);
	assert_int_equal(e->w.c.reason[LB_R_FWD_TX].bytes, len);
	assert_int_equal(e->w.c.backend[0].packets, 1);
	assert_int_equal(e->w.c.backend[0].bytes, len);
}

/* A drop after the pick counts against the backend picked, by reason,
 * and not as its forwarded traffic: no next hop (the worker has no FIB)
 * for a new flow, no encap source for an established one. */
static void test_drops_count_on_backend(void **state)
{
	struct env *e = *state;
	struct lb_config cfg;
	const int nn = LB_R_DROP_NO_NEIGH - LB_BACKEND_DROP_FIRST;
	const int ns = LB_R_DROP_NO_SOURCE - LB_BACKEND_DROP_FIRST;

	FORWARDED_TO(e, syn(e, 40000), 0);
	e->be[1].flags = 0;
	set_backend(e, 1);
	set_ring_to(e, 1);
	assert_int_equal(syn(e, 40001), LB_R_DROP_NO_NEIGH);
	assert_int_equal(e->w.c.backend[1].dropped[nn], 1);
	assert_int_equal(e->w.c.backend[1].packets, 0);

	cfg = *e->t.cfg;
	cfg.encap_src4 = 0;
	assert_int_equal(lb_tables_set_config(&e->t, &cfg), 0);
	assert_int_equal(ack(e, 40000), LB_R_DROP_NO_SOURCE);
	assert_int_equal(e->w.c.backend[0].dropped[ns], 1);
	assert_int_equal(e->w.c.backend[0].packets, 1);
	for (int i = 0; i < N_BACKENDS; i++)
		for (int r = 0; r < LB_BACKEND_DROPS; r++)
			if (!(i == 1 && r == nn) && !(i == 0 && r == ns))
				assert_int_equal(e->w.c.backend[i].dropped[r], 0);
}

/* The next packet uses the entry, not the ring (which now says 1). */
static void test_ack_hits(void **state)
{
	struct env *e = *state;

	FORWARDED_TO(e, syn(e, 40000), 0);
	set_ring_to(e, 1);
	e->w.now += 10;
	FORWARDED_TO(e, ack(e, 40000), 0);
	FORWARDED_TO(e, ack(e, 40000), 0);
	assert_vip(e, 3, 1, 1, 0);
	/* Younger than LB_FLOW_TOUCH_JIFFIES: not rewritten. */
	assert_int_equal(last_seen(e, 40000), 1000);
	e->w.now = 1000 + LB_FLOW_TOUCH_JIFFIES;
	FORWARDED_TO(e, ack(e, 40000), 0);
	assert_int_equal(last_seen(e, 40000), 1000 + LB_FLOW_TOUCH_JIFFIES);
}

static void test_down_repicks(void **state)
{
	struct env *e = *state;

	FORWARDED_TO(e, syn(e, 40000), 0);
	set_state(e, 0, LB_BACKEND_DOWN);
	set_ring_to(e, 1);
	FORWARDED_TO(e, ack(e, 40000), 1);
	/* A hit whose backend is unusable: picked again, not a new flow,
	 * not a miss; the entry now names the new backend. */
	assert_vip(e, 2, 1, 2, 0);
	assert_flow(e, 40000, 1, 101);
	FORWARDED_TO(e, ack(e, 40000), 1);
	assert_vip(e, 3, 1, 2, 0);
}

static void test_gen_repicks(void **state)
{
	struct env *e = *state;

	FORWARDED_TO(e, syn(e, 40000), 0);
	e->be[0].gen = 200;	/* same id and address, another incarnation */
	set_backend(e, 0);
	FORWARDED_TO(e, ack(e, 40000), 0);	/* the ring still names it */
	assert_vip(e, 2, 1, 2, 0);
	assert_flow(e, 40000, 0, 200);
	FORWARDED_TO(e, ack(e, 40000), 0);
	assert_vip(e, 3, 1, 2, 0);
}

static void test_draining_keeps_flow(void **state)
{
	struct env *e = *state;

	FORWARDED_TO(e, syn(e, 40000), 0);
	set_state(e, 0, LB_BACKEND_DRAINING);
	set_ring_to(e, 1);	/* what the control plane does on drain */
	FORWARDED_TO(e, ack(e, 40000), 0);
	assert_vip(e, 2, 1, 1, 0);
	/* New connections go elsewhere, a SYN on the old tuple too. */
	FORWARDED_TO(e, syn(e, 40001), 1);
	FORWARDED_TO(e, syn(e, 40000), 1);
	assert_flow(e, 40000, 1, 101);
	assert_flow(e, 40001, 1, 101);
	/* 40001 new; 40000's SYN hit its entry: picked, not new. */
	assert_vip(e, 4, 2, 3, 0);
}

/* An ACK with no entry: a miss, picked and inserted (a new flow). */
static void test_miss_counts(void **state)
{
	struct env *e = *state;

	FORWARDED_TO(e, ack(e, 40000), 0);
	assert_vip(e, 1, 1, 1, 1);
	assert_flow(e, 40000, 0, 100);
	FORWARDED_TO(e, ack(e, 40000), 0);
	assert_vip(e, 2, 1, 1, 1);
	/* Out of service (ring of 0): counted on the VIP, no pick. */
	assert_int_equal(lb_tables_set_ring(&e->t, 0, NULL, 0), 0);
	assert_int_equal(ack(e, 40001), LB_R_DROP_NO_BACKEND);
	assert_int_equal(lb_reason_action(LB_R_DROP_NO_BACKEND), LB_ACT_DROP);
	assert_vip(e, 3, 1, 1, 2);
	assert_no_flow(e, 40001);
	assert_int_equal(e->w.c.reason[LB_R_DROP_NO_BACKEND].packets, 1);
}

/* A connection table with no bucket for the flow (here: none at all, as a
 * CPU beyond XDP's slices would find): dropped under its own reason, not
 * drop_no_vip_meta; the VIP counts it, nothing else moves. */
static void test_no_flow_bucket(void **state)
{
	struct env *e = *state;
	uint8_t in[FRAME_SZ];
	size_t len;

	load_l4(e->buf, &e->f, PB_P_TCP, 40000, PB_TCP_SYN);
	len = (size_t)(e->f.data_end - e->f.data);
	memcpy(in, e->f.data, len);
	assert_int_equal(lb_dp_process(&e->w, &e->f), LB_R_DROP_NO_FLOW_BUCKET);
	assert_int_equal(lb_reason_action(LB_R_DROP_NO_FLOW_BUCKET), LB_ACT_DROP);
	assert_int_equal(e->f.data_end - e->f.data, len);
	assert_memory_equal(e->f.data, in, len);
	assert_int_equal(e->w.c.reason[LB_R_DROP_NO_FLOW_BUCKET].packets, 1);
	assert_int_equal(e->w.c.reason[LB_R_DROP_NO_FLOW_BUCKET].bytes, len);
	assert_int_equal(e->w.c.reason[LB_R_DROP_NO_VIP_META].packets, 0);
	assert_vip(e, 1, 0, 0, 0);
	assert_int_equal(e->w.c.backend[0].packets, 0);
}

/* One bucket of 4 ways: the fifth flow evicts the least recently seen,
 * where a touch (a hit LB_FLOW_TOUCH_JIFFIES after the last stamp)
 * counts as seen. */
static void test_lru_eviction(void **state)
{
	struct env *e = *state;
	uint16_t port;

	for (port = 1; port <= LB_FLOW_WAYS; port++) {
		e->w.now = 100 + port;	/* 101 .. 104 */
		FORWARDED_TO(e, syn(e, port), 0);
	}
	for (port = 1; port <= LB_FLOW_WAYS; port++)
		assert_flow(e, port, 0, 100);
	assert_vip(e, 4, 4, 4, 0);

	e->w.now = 101 + LB_FLOW_TOUCH_JIFFIES;
	FORWARDED_TO(e, ack(e, 1), 0);		/* 1 is now the most recent */
	assert_int_equal(last_seen(e, 1), 101 + LB_FLOW_TOUCH_JIFFIES);

	e->w.now++;
	assert_evictions(e, 0, 0);
	FORWARDED_TO(e, syn(e, 5), 0);		/* evicts 2 (seen at 102) */
	assert_evictions(e, 0, 1);
	assert_no_flow(e, 2);
	assert_flow(e, 1, 0, 100);
	assert_flow(e, 3, 0, 100);
	assert_flow(e, 4, 0, 100);
	assert_flow(e, 5, 0, 100);
	assert_vip(e, 6, 5, 5, 0);

	/* 2 comes back without a SYN: a miss, inserted over 3 (103). */
	e->w.now++;
	FORWARDED_TO(e, ack(e, 2), 0);
	assert_vip(e, 7, 6, 6, 1);
	assert_evictions(e, 0, 2);
	assert_no_flow(e, 3);
	assert_flow(e, 2, 0, 100);
}

/* Every way the same age: the first is taken, and a SYN for a stored
 * flow overwrites its own way, never another. */
static void test_syn_reuses_its_way(void **state)
{
	struct env *e = *state;
	const struct lb_flow_bucket *bk = NULL;
	uint16_t port;

	for (port = 1; port <= LB_FLOW_WAYS; port++)
		FORWARDED_TO(e, syn(e, port), 0);
	set_ring_to(e, 2);
	FORWARDED_TO(e, syn(e, 3), 2);
	assert_evictions(e, 0, 0);		/* its own way: not an eviction */
	for (port = 1; port <= LB_FLOW_WAYS; port++)
		assert_flow(e, port, port == 3 ? 2 : 0, port == 3 ? 102 : 100);
	FORWARDED_TO(e, syn(e, 9), 2);		/* all the same age: way 0 */
	assert_int_equal(flow_way(e, 9, &bk), 0);
	assert_no_flow(e, 1);
	assert_evictions(e, 0, 1);
}

/* TCP TTL 10 s: an entry exactly 10 s old still hits (expiry is "older
 * than"); one a tick older misses, counts as a miss and a new flow (not
 * an eviction: it is the same flow) and re-picks into its own way. */
static void test_expiry_repicks(void **state)
{
	struct env *e = *state;
	const struct lb_flow_bucket *bk = NULL;
	int way;

	set_ttl(e, 10, 5);
	FORWARDED_TO(e, syn(e, 40000), 0);
	way = flow_way(e, 40000, &bk);
	set_ring_to(e, 1);
	e->w.now = 1000 + 10 * HZ;
	FORWARDED_TO(e, ack(e, 40000), 0);	/* within the TTL: hit, touched */
	assert_vip(e, 2, 1, 1, 0);
	assert_int_equal(last_seen(e, 40000), 1000 + 10 * HZ);
	e->w.now += 10 * HZ + 1;
	FORWARDED_TO(e, ack(e, 40000), 1);	/* expired: the ring's pick */
	assert_vip(e, 3, 2, 2, 1);
	assert_evictions(e, 0, 0);
	assert_flow(e, 40000, 1, 101);
	assert_int_equal(flow_way(e, 40000, &bk), way);
	assert_int_equal(last_seen(e, 40000), e->w.now);
	FORWARDED_TO(e, ack(e, 40000), 1);	/* and the new entry hits */
	assert_vip(e, 4, 2, 2, 1);

	/* A SYN over an expired entry is a new flow, not a miss. */
	e->w.now += 10 * HZ + 1;
	set_ring_to(e, 2);
	FORWARDED_TO(e, syn(e, 40000), 2);
	assert_vip(e, 5, 3, 3, 1);
	assert_evictions(e, 0, 0);
}

/* Each protocol has its TTL: after 5 s and a tick, the UDP flow (TTL 5)
 * has expired and the TCP flow (TTL 10) has not. */
static void test_expiry_per_protocol(void **state)
{
	struct env *e = *state;
	const struct lb_flow_bucket *bk = NULL;

	set_ttl(e, 10, 5);
	FORWARDED_TO(e, syn(e, 40000), 0);
	FORWARDED_TO(e, udp(e, 40000), 0);
	assert_true(flow_way_proto(e, PB_P_UDP, 40000, &bk) >= 0);
	assert_int_equal(e->w.c.vip[1].new_flows, 1);
	set_ring_to(e, 1);
	e->w.now = 1000 + 5 * HZ + 1;
	FORWARDED_TO(e, ack(e, 40000), 0);
	FORWARDED_TO(e, udp(e, 40000), 1);
	assert_vip(e, 2, 1, 1, 0);
	assert_int_equal(e->w.c.vip[1].new_flows, 2);
	assert_int_equal(e->w.c.vip[1].flow_misses, 2);	/* UDP: every first datagram */
	assert_evictions(e, 1, 0);

	/* Swap the TTLs: now TCP expires first. */
	set_ttl(e, 5, 10);
	e->w.now += 5 * HZ + 1;
	set_ring_to(e, 2);
	FORWARDED_TO(e, ack(e, 40000), 2);
	FORWARDED_TO(e, udp(e, 40000), 1);
}

/* TTL 0 never expires, however old (up to half the 32-bit clock). */
static void test_ttl_zero_never_expires(void **state)
{
	struct env *e = *state;

	set_ttl(e, 0, 0);
	FORWARDED_TO(e, syn(e, 40000), 0);
	FORWARDED_TO(e, udp(e, 40000), 0);
	set_ring_to(e, 1);
	e->w.now += 0x7fffffffu;
	FORWARDED_TO(e, ack(e, 40000), 0);
	FORWARDED_TO(e, udp(e, 40000), 0);
	assert_vip(e, 2, 1, 1, 0);
	assert_int_equal(e->w.c.vip[1].new_flows, 1);
}

/* One bucket, TCP TTL 10 s: a new flow takes an empty way before an
 * expired one, an expired one before a live one, and only replacing a
 * live flow is an eviction. */
static void test_full_set_prefers_expired(void **state)
{
	struct env *e = *state;
	const struct lb_flow_bucket *bk = NULL;
	uint16_t port;
	int way1;

	set_ttl(e, 10, 10);
	for (port = 1; port <= 3; port++) {
		e->w.now = 100 + port;	/* 101 .. 103 */
		FORWARDED_TO(e, syn(e, port), 0);
	}
	way1 = flow_way(e, 1, &bk);
	e->w.now = 101 + 10 * HZ + 1;	/* 1 expired; 2 exactly at its TTL */
	FORWARDED_TO(e, syn(e, 5), 0);	/* the empty way */
	assert_flow(e, 1, 0, 100);
	assert_evictions(e, 0, 0);
	FORWARDED_TO(e, syn(e, 6), 0);	/* 1's expired way */
	assert_no_flow(e, 1);
	assert_int_equal(flow_way(e, 6, &bk), way1);
	assert_evictions(e, 0, 0);
	FORWARDED_TO(e, syn(e, 7), 0);	/* full, none expired: evicts 2 */
	assert_no_flow(e, 2);
	assert_flow(e, 3, 0, 100);
	assert_evictions(e, 0, 1);
	assert_vip(e, 6, 6, 6, 0);
}

/* Frame i of the burst test: six TCP flows and a UDP one over one
 * 4-way bucket, SYNs first, then ACKs that may find their entry evicted. */
static void burst_frame(int i, uint8_t *buf, struct lb_dp_frame *f)
{
	if (i % 5 == 4)
		load_l4(buf, f, PB_P_UDP, 7, 0);
	else
		load_l4(buf, f, PB_P_TCP, (uint16_t)(1 + i % 6), i < 6 ? PB_TCP_SYN : PB_TCP_ACK);
}

#define BURST_FRAMES 45	/* more than LB_DP_BURST: two groups */

/* lb_dp_process_burst() prepares every frame (parse, VIP, hash) before
 * any looks up its flow; the result must still be one frame after
 * another's: in one bucket, a frame sees the entries earlier frames of
 * its burst stored and evicted. The same frames one at a time in
 * another world must give the same reasons, bytes, table and counters. */
static void test_burst_as_one_at_a_time(void **state)
{
	static uint8_t bufs[BURST_FRAMES][FRAME_SZ];
	struct env *e = *state, *one = env_new(1);
	struct lb_dp_frame f[BURST_FRAMES];
	int reasons[BURST_FRAMES], i;

	for (i = 0; i < BURST_FRAMES; i++)
		burst_frame(i, bufs[i], &f[i]);
	lb_dp_process_burst(&e->w, f, reasons, BURST_FRAMES);
	for (i = 0; i < BURST_FRAMES; i++) {
		burst_frame(i, one->buf, &one->f);
		assert_int_equal(lb_dp_process(&one->w, &one->f), reasons[i]);
		assert_int_equal(one->f.data_end - one->f.data, f[i].data_end - f[i].data);
		assert_memory_equal(one->f.data, f[i].data, (size_t)(f[i].data_end - f[i].data));
	}
	assert_memory_equal(one->w.flows, e->w.flows, sizeof(*e->w.flows));
	assert_memory_equal(one->w.c.reason, e->w.c.reason, sizeof(e->w.c.reason));
	assert_memory_equal(one->w.c.vip, e->w.c.vip, 2 * sizeof(*e->w.c.vip));
	assert_memory_equal(one->w.c.backend, e->w.c.backend, N_BACKENDS * sizeof(*e->w.c.backend));
	/* The order mattered: entries were evicted and then missed. */
	assert_true(e->w.c.vip[0].flow_evictions > 0);
	assert_true(e->w.c.vip[0].flow_misses > 0);
	assert_int_equal(e->w.c.reason[LB_R_FWD_TX].packets, BURST_FRAMES);
	teardown((void **)&one);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_syn_inserts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_hits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drops_count_on_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_repicks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gen_repicks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_draining_keeps_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_miss_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_flow_bucket, setup_no_bucket, teardown),
		cmocka_unit_test_setup_teardown(test_lru_eviction, setup_one_bucket, teardown),
		cmocka_unit_test_setup_teardown(test_syn_reuses_its_way, setup_one_bucket,
						teardown),
		cmocka_unit_test_setup_teardown(test_expiry_repicks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_per_protocol, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_zero_never_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_set_prefers_expired, setup_one_bucket,
						teardown),
		cmocka_unit_test_setup_teardown(test_burst_as_one_at_a_time, setup_one_bucket,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
