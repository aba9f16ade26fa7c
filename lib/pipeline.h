/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pipeline.h - Sluice's forwarding decision and packet rewrite, written
 * once for both fast paths: sluice.bpf.c (XDP) and dataplane/ (DPDK)
 * include it. Each frame: parse (parse.h); find the VIP in the
 * open-addressed VIP table; find the flow in this CPU's (lcore's) slice of
 * the connection table or pick a backend from the VIP's Maglev ring;
 * encapsulate IP-in-IP (encap.h) toward the backend's next hop. Every
 * frame is counted under exactly one reason (fwd.h LB_R_*); lb_process()
 * returns the reason and the includer turns it into an action.
 * lb_process() is lb_prepare() then lb_finish(): the first half never
 * reads the connection table, so the DPDK worker runs it over a whole
 * burst first and prefetches the buckets the second half will read.
 *
 * Semantics: docs/forwarding.md; deviations and their reasons:
 * docs/architecture.md.
 *
 * The includer defines, before including this file, its environment:
 *
 *   LB_ENV_CTX                       the packet context type
 *   LB_ENV_PARAMS                    a struct lb_params lvalue (sizes)
 *   lb_env_data(ctx), lb_env_data_end(ctx)        the frame's bounds
 *   lb_env_adjust_head(ctx, delta), lb_env_adjust_tail(ctx, delta)
 *                                    grow (delta < 0) / shrink the frame
 *                                    at its front / back; 0 or nonzero
 *   lb_env_ingress_ifindex(ctx)      the receiving interface
 *   lb_env_redirect(ctx, ifindex)    send out another interface; 0 or error
 *   lb_env_fib(ctx, b, src, len, nh) next hop without the backend's cache:
 *                                    LB_OK or a drop reason (as lb_nexthop)
 *   lb_env_cpu(), lb_env_now()       the connection-table slice, jiffies
 *   LB_ENV_HZ                        ticks of lb_env_now() per second
 *                                    (converts lb_config.flow_ttl_*)
 *   lb_env_config(&zero), lb_env_vip_slot(&i), lb_env_vip_meta(&id),
 *   lb_env_ring_pair(&i), lb_env_backend(&id), lb_env_flow_bucket(&i),
 *   lb_env_reason_stats(&r), lb_env_vip_stats(&id), lb_env_backend_stats(&id)
 *                                    pointers into the tables (fwd.h), or
 *                                    NULL when out of range
 *
 * All of it is __always_inline: in BPF each lookup must stay a direct
 * map access for the verifier, and in C the compiler sees one function.
 *
 * Returns, here and in icmp.h: a step that can end the frame returns
 * LB_OK (parse.h: "go on") or the LB_R_* reason it ends with, its
 * results in out-parameters; a yes/no question is named as one
 * (lb_is_*, *_is_*, *_eq) and returns 1 or 0; a computation (a hash, an
 * index, a way, a ring entry) returns its value. Nothing returns -1.
 */
#ifndef SLUICE_LIB_PIPELINE_H
#define SLUICE_LIB_PIPELINE_H

#include "fwd.h"
#include "hash.h"
#include "parse.h"
#include "encap.h"
#include "icmp.h"
#include "viptable.h"

/* Where the chosen backend is reached. */
struct lb_nexthop {
	__u32 ifindex;
	__u32 mtu;
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
};

/* What the forwarding decision produced; carried to the counters. */
struct lb_verdict {
	__u32 vip_id;
	__u32 backend_id;
	__u32 hash;
	__u8 new_flow;
	__u8 ring_pick;
	__u8 counted_vip;	/* vip_id is valid for the VIP counters */
	__u8 flow_miss;		/* no entry, and not a SYN */
	__u8 flow_evict;	/* stored over another flow that had not expired */
};

static __always_inline void lb_count_reason(__u32 reason, __u64 bytes)
{
	struct lb_reason_stats *rs = lb_env_reason_stats(&reason);

	if (rs) {
		rs->packets++;
		rs->bytes += bytes;
	}
}

/* --- VIP lookup -------------------------------------------------------- */

/* key's vip_id in the live half of the VIP table: LB_OK, or
 * LB_R_PASS_NOT_VIP. */
static __always_inline int lb_vip_find(const struct lb_config *cfg,
				       const struct lb_vip_key *key, __u32 *vip_id)
{
	__u32 gen = cfg->vip_gen & 1;
	__u32 slots = LB_ENV_PARAMS.vip_slots;
	__u32 home = lb_vip_hash(key, cfg->vip_seed[gen]) & (slots - 1);
	int i;

	LB_UNROLL
	for (i = 0; i < LB_VIP_PROBES; i++) {
		__u32 idx = gen * slots + lb_vip_slot_index(home, i, slots);
		struct lb_vip_slot *s = lb_env_vip_slot(&idx);

		if (!s || s->key.family == LB_FAMILY_NONE)
			return LB_R_PASS_NOT_VIP;
		if (lb_vip_key_eq(&s->key, key)) {
			*vip_id = s->vip_id;
			return LB_OK;
		}
	}
	return LB_R_PASS_NOT_VIP;
}

/* The VIP of (dst, port, proto), trying the port wildcard second: LB_OK,
 * or LB_R_PASS_NOT_VIP. */
static __always_inline int lb_vip_match(const struct lb_config *cfg, const struct lb_addr *dst,
					__u8 family, __be16 port, __u8 proto, __u32 *vip_id)
{
	struct lb_vip_key key;

	lb_vip_key_set(&key, dst, port, proto, family);
	if (lb_vip_find(cfg, &key, vip_id) == LB_OK)
		return LB_OK;
	if (!((cfg->vip_wild >> (cfg->vip_gen & 1)) & 1))
		return LB_R_PASS_NOT_VIP;
	lb_vip_key_set(&key, dst, 0, proto, family);
	return lb_vip_find(cfg, &key, vip_id);
}

/* Is the packet's destination the address of any VIP? (the per-address
 * ICMP entry) */
static __always_inline int lb_is_vip_addr(const struct lb_config *cfg,
					  const struct lb_flow_key *k)
{
	struct lb_vip_key key;
	__u32 id;

	lb_vip_key_set(&key, &k->dst, 0,
		       k->family == LB_FAMILY_V4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, k->family);
	return lb_vip_find(cfg, &key, &id) == LB_OK;
}

/* --- Backend selection ------------------------------------------------- */

static __always_inline int lb_flow_key_eq(const struct lb_flow_key *a, const struct lb_flow_key *b)
{
	const lb_alias_u32 *x = (const void *)a, *y = (const void *)b;
	__u32 diff = 0;
	int i;

	LB_UNROLL
	for (i = 0; i < (int)(sizeof(*a) / 4); i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* Backend id at the flow's position in the live ring of the VIP. */
static __always_inline __u32 lb_ring_pick(__u32 vip_id, __u32 ring_word, __u32 hash)
{
	__u32 stride = LB_RING_STRIDE(LB_ENV_PARAMS.max_ring);
	__u32 pos = lb_hash_range(hash, LB_RING_SIZE(ring_word));
	__u32 flat = (vip_id * 2 + LB_RING_HALF(ring_word)) * stride + pos;
	__u32 pair = flat / 2;
	struct lb_ring_pair *p = lb_env_ring_pair(&pair);

	if (!p)
		return LB_BACKEND_NONE;
	return p->backend_id[flat & 1];
}

/* May a flow stored with backend b's incarnation gen stay on it? While
 * b is that incarnation and still serves flows (up, or draining). state
 * is read before gen: the loader writes gen first and state last, so a
 * state that says "in use" guarantees the gen we then read belongs to
 * it. */
static __always_inline int lb_backend_is_usable(const struct lb_backend *b, __u32 gen)
{
	__u8 state = *(const volatile __u8 *)&b->state;

	if (state != LB_BACKEND_UP && state != LB_BACKEND_DRAINING)
		return 0;
	return *(const volatile __u32 *)&b->gen == gen;
}

/* Idle timeout of a flow of protocol proto in lb_env_now() ticks; 0:
 * never. One multiply per lookup; 64 bits, so no value of the config
 * word can wrap it. */
static __always_inline __u64 lb_flow_ttl(const struct lb_config *cfg, __u8 proto)
{
	__u32 s = proto == IPPROTO_TCP ? cfg->flow_ttl_tcp : cfg->flow_ttl_udp;

	return (__u64)s * LB_ENV_HZ;
}

/* Has a way last seen age ticks ago outlived ttl (0: never)? */
#define LB_FLOW_EXPIRED(age, ttl) ((ttl) && (__u64)(age) > (ttl))

/* Way of the bucket holding key (*hit = 1), or the way a new flow should
 * take (*hit = 0): the key's own way if it expired, else an empty one,
 * else the least recently seen. The least recently seen is expired if any
 * way is, so "expired before live" needs no pass of its own. *evict says
 * whether that way holds another flow that has not expired. */
static __always_inline __u32 lb_flow_way(struct lb_flow_bucket *bk, const struct lb_flow_key *key,
					 __u32 hash, __u32 now, __u64 ttl, int *hit, int *evict)
{
	__u32 victim = 0, oldest = 0;
	int w;

	*hit = 0;
	*evict = 0;
	LB_UNROLL
	for (w = 0; w < LB_FLOW_WAYS; w++) {
		if (bk->tag[w] == hash && lb_flow_key_eq(&bk->key[w], key)) {
			*hit = !LB_FLOW_EXPIRED(now - bk->last_seen[w], ttl);
			return w;
		}
	}
	LB_UNROLL
	for (w = 0; w < LB_FLOW_WAYS; w++) {
		__u32 age = now - bk->last_seen[w];

		if (bk->key[w].family == LB_FAMILY_NONE)
			return w;
		if (age > oldest) {
			oldest = age;
			victim = w;
		}
	}
	*evict = !LB_FLOW_EXPIRED(oldest, ttl);
	return victim;
}

static __always_inline void lb_flow_store(struct lb_flow_bucket *bk, __u32 w,
					  const struct lb_flow_key *key, __u32 hash,
					  __u32 backend_id, __u32 gen, __u32 now)
{
	w &= LB_FLOW_WAYS - 1;
	bk->key[w] = *key;
	bk->tag[w] = hash;
	bk->backend_id[w] = backend_id;
	bk->backend_gen[w] = gen;
	bk->last_seen[w] = now;
}

/* The flow as the VIP sees it (source port dropped under affinity) and
 * its hash, in v; the VIP's meta in *metap. Reads only the packet and the
 * meta, never the connection table: a burst can hash all its flows
 * before any of them looks up (lb_prepare). */
static __always_inline int lb_flow_prepare(struct lb_flow_key *key, __u32 vip_id,
					   struct lb_verdict *v, struct lb_vip_meta **metap)
{
	struct lb_vip_meta *meta = lb_env_vip_meta(&vip_id);

	if (!meta)
		return LB_R_DROP_NO_VIP_META;
	*metap = meta;
	if (meta->flags & LB_VIP_F_AFFINITY)
		lb_key_set_tail(key, 0, key->dport, key->proto, key->family);
	v->vip_id = vip_id;
	v->counted_vip = 1;
	v->hash = lb_flow_hash(key);
	return LB_OK;
}

/* Index of the flow's bucket in the connection table (lb_env_flow_bucket). */
static __always_inline __u32 lb_flow_bucket_index(__u32 hash)
{
	return lb_env_cpu() * LB_ENV_PARAMS.flow_buckets +
	       (hash & (LB_ENV_PARAMS.flow_buckets - 1));
}

/* Chooses the backend for a flow lb_flow_prepare() has hashed into v: the
 * connection table first (unless a SYN opens a new connection; an entry
 * older than its protocol's TTL is no entry), then the ring. insert == 0
 * looks only (ICMP errors about a flow must not create one, nor evict
 * another). */
static __always_inline int lb_flow_choose(const struct lb_config *cfg,
					  const struct lb_vip_meta *meta,
					  const struct lb_flow_key *key, __u8 syn, int insert,
					  struct lb_verdict *v, struct lb_backend **out)
{
	__u32 vip_id = v->vip_id;
	struct lb_flow_bucket *bk;
	struct lb_backend *b;
	__u32 ring, idx, now, id, w;
	int hit, evict;

	ring = meta->ring;
	idx = lb_flow_bucket_index(v->hash);
	bk = lb_env_flow_bucket(&idx);
	if (!bk)
		return LB_R_DROP_NO_FLOW_BUCKET;
	now = (__u32)lb_env_now();
	w = lb_flow_way(bk, key, v->hash, now, lb_flow_ttl(cfg, key->proto), &hit, &evict) &
	    (LB_FLOW_WAYS - 1);
	v->flow_miss = !hit && !syn;
	if (hit && !syn) {
		id = bk->backend_id[w];
		b = lb_env_backend(&id);
		if (b && lb_backend_is_usable(b, bk->backend_gen[w])) {
			if (now - bk->last_seen[w] >= LB_FLOW_TOUCH_JIFFIES)
				bk->last_seen[w] = now;
			v->backend_id = id;
			*out = b;
			return LB_OK;
		}
	}

	if (LB_RING_SIZE(ring) == 0)
		return LB_R_DROP_NO_BACKEND;
	id = lb_ring_pick(vip_id, ring, v->hash);
	v->ring_pick = 1;
	if (id == LB_BACKEND_NONE)
		return LB_R_DROP_NO_BACKEND;
	b = lb_env_backend(&id);
	if (!b || b->state == LB_BACKEND_UNUSED)
		return LB_R_DROP_BAD_BACKEND;
	if (insert) {
		v->new_flow = !hit;
		v->flow_evict = evict;
		lb_flow_store(bk, w, key, v->hash, id, b->gen, now);
	}
	v->backend_id = id;
	*out = b;
	return LB_OK;
}

static __always_inline int lb_choose_backend(const struct lb_config *cfg,
					     struct lb_flow_key *key, __u32 vip_id,
					     __u8 syn, int insert, struct lb_verdict *v,
					     struct lb_backend **out)
{
	struct lb_vip_meta *meta;
	int ret = lb_flow_prepare(key, vip_id, v, &meta);

	if (ret != LB_OK)
		return ret;
	return lb_flow_choose(cfg, meta, key, syn, insert, v, out);
}

/* --- Next hop ---------------------------------------------------------- */

/* The egress of the outer packet: the control plane's cached next hop, or
 * the fast path's own lookup (lb_env_fib). outer_len is the IP length after encapsulation. Returns
 * LB_OK, or a drop reason; too big: LB_OK with nh->mtu < outer_len. */
static __always_inline int lb_nexthop(LB_ENV_CTX *ctx, const struct lb_backend *b,
				      const struct lb_addr *src, __u16 outer_len,
				      struct lb_nexthop *nh)
{
	if (b->flags & LB_BACKEND_F_NH_VALID) {
		nh->ifindex = b->nh_ifindex;
		nh->mtu = b->nh_mtu;
		__builtin_memcpy(nh->dmac, b->nh_dmac, ETH_ALEN);
		__builtin_memcpy(nh->smac, b->nh_smac, ETH_ALEN);
		return LB_OK;
	}

	return lb_env_fib(ctx, b, src, outer_len, nh);
}

/* Outer source address: the node's encap source, optionally with low bits
 * from the flow hash so the backend NIC's RSS spreads flows. */
static __always_inline int lb_encap_source(const struct lb_config *cfg, __u8 family, __u32 hash,
					   struct lb_addr *src)
{
	if (family == LB_FAMILY_V4) {
		__u32 s = bpf_ntohl(cfg->encap_src4);

		if (!s)
			return LB_R_DROP_NO_SOURCE;
		if (cfg->flags & LB_CFG_F_ENTROPY_V4)
			s = (s & ~cfg->entropy_mask4) | (hash & cfg->entropy_mask4);
		lb_addr_set4(src, bpf_htonl(s));
		return LB_OK;
	}
	*src = cfg->encap_src6;
	if (!(src->w[0] | src->w[1] | src->w[2] | src->w[3]))
		return LB_R_DROP_NO_SOURCE;
	if (cfg->flags & LB_CFG_F_ENTROPY_V6) {
		__u32 s = bpf_ntohl(src->w[3]);

		s = (s & ~cfg->entropy_mask6) | (hash & cfg->entropy_mask6);
		src->w[3] = bpf_htonl(s);
	}
	return LB_OK;
}

/* --- Packet rewriting -------------------------------------------------- */

/* Prepends the outer header behind the L2 header and sets the next-hop
 * MACs. Bytes after the IP packet (Ethernet padding) stay where they are,
 * after the outer packet's end, where receivers ignore them: trimming
 * would cost a helper call on every minimum-size frame. */
static __always_inline int lb_encap(LB_ENV_CTX *ctx, const struct lb_pkt *pkt,
				    const struct lb_backend *b, const struct lb_addr *src,
				    const struct lb_nexthop *nh, __u32 hash)
{
	__u8 inner = pkt->key.family == LB_FAMILY_V4 ? IPPROTO_IPIP : IPPROTO_IPV6;
	int grow = b->family == LB_FAMILY_V4 ? LB_IPV4_HDR_LEN : LB_IPV6_HDR_LEN;
	__u16 l2 = lb_l2_len(pkt->vlans);
	void *data, *data_end;

	if (lb_env_adjust_head(ctx, -grow))
		return LB_R_DROP_NO_ROOM;
	data = lb_env_data(ctx);
	data_end = lb_env_data_end(ctx);
	if (data + grow + lb_l2_len(LB_MAX_VLANS) > data_end)
		return LB_R_DROP_NO_ROOM;
	lb_l2_tags_move_front(data, data + grow, pkt->vlans);
	lb_eth_set(data, nh->dmac, nh->smac);

	if (b->family == LB_FAMILY_V4) {
		struct iphdr *ip = data + l2;

		if ((void *)(ip + 1) > data_end)
			return LB_R_DROP_NO_ROOM;
		*lb_l2_proto(data, pkt->vlans) = bpf_htons(ETH_P_IP);
		lb4_write_outer(ip, src->w[0], b->addr.w[0], inner, pkt->l3_len, pkt->tos,
				pkt->df, hash);
	} else {
		struct ipv6hdr *ip6 = data + l2;

		if ((void *)(ip6 + 1) > data_end)
			return LB_R_DROP_NO_ROOM;
		*lb_l2_proto(data, pkt->vlans) = bpf_htons(ETH_P_IPV6);
		lb6_write_outer(ip6, src, &b->addr, inner, pkt->l3_len, pkt->tos, hash);
	}
	return LB_OK;
}

/* --- Forwarding -------------------------------------------------------- */

/* Encapsulates the packet toward backend b and picks TX or redirect. An
 * oversize packet gets a too-big message instead (lb_icmp_too_big; never
 * one about an ICMP error: is_icmp_err). */
static __always_inline int lb_forward(LB_ENV_CTX *ctx, const struct lb_config *cfg,
				      const struct lb_pkt *pkt, const struct lb_backend *b,
				      __u32 hash, int is_icmp_err)
{
	__u16 overhead = b->family == LB_FAMILY_V4 ? LB_IPV4_HDR_LEN : LB_IPV6_HDR_LEN;
	struct lb_nexthop nh = {};
	struct lb_addr src;
	int ret;

	ret = lb_encap_source(cfg, b->family, hash, &src);
	if (ret != LB_OK)
		return ret;
	ret = lb_nexthop(ctx, b, &src, pkt->l3_len + overhead, &nh);
	if (ret != LB_OK)
		return ret;
	if (pkt->l3_len + overhead > nh.mtu)
		return lb_icmp_too_big(ctx, pkt, nh.mtu, overhead, is_icmp_err);
	ret = lb_encap(ctx, pkt, b, &src, &nh, hash);
	if (ret != LB_OK)
		return ret;
	if (nh.ifindex == lb_env_ingress_ifindex(ctx))
		return LB_R_FWD_TX;
	if (lb_env_redirect(ctx, nh.ifindex))
		return LB_R_DROP_FIB;
	return LB_R_FWD_REDIRECT;
}

/* ICMP(v6) to a VIP address (icmp.h answers or passes it); an error
 * about a VIP flow goes to the backend that owns the flow: LB_OK and *out
 * set, found in the connection table (or the ring) but never stored. */
static __always_inline int lb_icmp_to_vip(LB_ENV_CTX *ctx, const struct lb_config *cfg,
					  const struct lb_pkt *pkt, struct lb_verdict *v,
					  struct lb_backend **out)
{
	struct lb_flow_key fk;
	__u32 vip_id;
	int ret;

	if (!lb_is_vip_addr(cfg, &pkt->key))
		return LB_R_PASS_NOT_VIP;
	ret = lb_icmp_handle(ctx, pkt, &fk);
	if (ret != LB_OK)
		return ret;
	if (lb_vip_match(cfg, &fk.dst, fk.family, fk.dport, fk.proto, &vip_id) != LB_OK)
		return LB_R_DROP_ICMP_QUOTE;
	return lb_choose_backend(cfg, &fk, vip_id, 0, 0, v, out);
}

/* What lb_prepare() leaves for lb_finish() when it returns LB_OK. */
struct lb_prep {
	struct lb_config *cfg;
	/* A TCP/UDP flow of v->vip_id, hashed into v: its VIP's meta. NULL:
	 * ICMP(v6), handled whole in lb_finish, as an error's quoted flow
	 * reads the connection table. */
	struct lb_vip_meta *meta;
};

/* The first half of lb_process(): parse, the VIP, the flow's hash.
 * LB_OK with pr set, or the reason that ends the frame. It reads the
 * packet and the tables the control plane writes, never the connection
 * table, so a DPDK burst prepares every frame, prefetches their buckets
 * and only then finishes them in order, with the result one frame at a
 * time would have. */
static __always_inline int lb_prepare(LB_ENV_CTX *ctx, struct lb_pkt *pkt,
				      struct lb_verdict *v, struct lb_prep *pr)
{
	void *data = lb_env_data(ctx);
	void *data_end = lb_env_data_end(ctx);
	struct lb_config *cfg;
	__u32 zero = 0, vip_id;
	int ret;

	ret = lb_parse(data, data_end, pkt);
	if (ret != LB_OK)
		return ret;
	cfg = lb_env_config(&zero);
	if (!cfg)
		return LB_R_PASS_NOT_VIP;
	pr->cfg = cfg;
	pr->meta = 0;
	if (pkt->frag)
		return lb_is_vip_addr(cfg, &pkt->key) ? LB_R_DROP_FRAGMENT : LB_R_PASS_NOT_VIP;

	if ((pkt->key.family == LB_FAMILY_V4 && pkt->key.proto == IPPROTO_ICMP) ||
	    (pkt->key.family == LB_FAMILY_V6 && pkt->key.proto == IPPROTO_ICMPV6))
		return LB_OK;
	if (pkt->key.proto != IPPROTO_TCP && pkt->key.proto != IPPROTO_UDP)
		return LB_R_PASS_NOT_VIP;
	ret = lb_vip_match(cfg, &pkt->key.dst, pkt->key.family, pkt->key.dport, pkt->key.proto,
			   &vip_id);
	if (ret != LB_OK)
		return ret;
	return lb_flow_prepare(&pkt->key, vip_id, v, &pr->meta);
}

/* The second half: the connection table, the backend, the rewrite. prep
 * is what lb_prepare() returned, pr what it set. */
static __always_inline int lb_finish(LB_ENV_CTX *ctx, const struct lb_prep *pr,
				     struct lb_pkt *pkt, struct lb_verdict *v, int prep)
{
	const struct lb_config *cfg = pr->cfg;
	struct lb_backend *b = 0;
	int icmp_err = 0;
	int ret;

	if (prep != LB_OK)
		return prep;
	if (!pr->meta) {
		ret = lb_icmp_to_vip(ctx, cfg, pkt, v, &b);
		icmp_err = 1;
	} else {
		ret = lb_flow_choose(cfg, pr->meta, &pkt->key, pkt->tcp_syn, 1, v, &b);
	}
	if (ret != LB_OK)
		return ret;
	if (!b)
		return LB_R_DROP_BAD_BACKEND;
	return lb_forward(ctx, cfg, pkt, b, v->hash, icmp_err);
}

static __always_inline int lb_process(LB_ENV_CTX *ctx, struct lb_pkt *pkt,
				      struct lb_verdict *v)
{
	struct lb_prep pr = { 0 };
	int prep = lb_prepare(ctx, pkt, v, &pr);

	return lb_finish(ctx, &pr, pkt, v, prep);
}

static __always_inline void lb_count(const struct lb_verdict *v, int reason, __u64 bytes)
{
	lb_count_reason(reason, bytes);
	if (v->counted_vip) {
		struct lb_vip_stats *vs = lb_env_vip_stats(&v->vip_id);

		if (vs) {
			vs->packets++;
			vs->bytes += bytes;
			vs->flow_misses += v->flow_miss;
			if (v->ring_pick) {
				vs->new_flows += v->new_flow;
				vs->flow_evictions += v->flow_evict;
				vs->ring_picks++;
			}
		}
	}
	if (reason == LB_R_FWD_TX || reason == LB_R_FWD_REDIRECT) {
		struct lb_backend_stats *bs = lb_env_backend_stats(&v->backend_id);

		if (bs) {
			bs->packets++;
			bs->bytes += bytes;
		}
	} else if ((__u32)(reason - LB_BACKEND_DROP_FIRST) < LB_BACKEND_DROPS) {
		/* Only lb_forward() returns these, so v->backend_id is the
		 * backend picked; the forwarding path never gets here. */
		struct lb_backend_stats *bs = lb_env_backend_stats(&v->backend_id);
		__u32 i = (__u32)(reason - LB_BACKEND_DROP_FIRST);

		if (bs && i < LB_BACKEND_DROPS)
			bs->dropped[i]++;
	}
}

#endif /* SLUICE_LIB_PIPELINE_H */
