/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tables.c - writing the fast path's tables under running readers: the
 * flip and grace-period protocol of tables.h, shared by the XDP loader
 * and the DPDK driver.
 */
#define LB_LOG_PREFIX "tables: "

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tables.h"

static int is_pow2(__u32 v)
{
	return v && !(v & (v - 1));
}

int lb_tables_params(struct lb_params *p)
{
	__u64 ring_ids;

	if (!p->max_vips)
		p->max_vips = LB_DEFAULT_MAX_VIPS;
	/* From max_vips, so that it is the real limit (viptable.h). */
	if (!p->vip_slots)
		p->vip_slots = lb_viptable_slots(p->max_vips);
	if (!p->max_ring)
		p->max_ring = LB_DEFAULT_RING_SIZE;
	if (!p->max_backends)
		p->max_backends = LB_DEFAULT_MAX_BACKENDS;
	if (!p->flow_buckets)
		p->flow_buckets = LB_DEFAULT_FLOW_BUCKETS;

	/* vip_table has 2 * vip_slots entries. */
	if (!p->vip_slots) {
		pr_warn("params: max_vips %u: the VIP table would need more than 2^30 slots\n",
			p->max_vips);
		return -EINVAL;
	}
	if (!is_pow2(p->vip_slots) || p->vip_slots > (1u << 30)) {
		pr_warn("params: vip_slots %u: must be a power of two <= 2^30\n", p->vip_slots);
		return -EINVAL;
	}
	/* The ring flip word keeps the size in 31 bits. */
	if (p->max_ring < 3 || !(p->max_ring & 1) || p->max_ring > (1u << 30)) {
		pr_warn("params: max_ring %u: must be odd (a prime), >= 3 and <= 2^30\n", p->max_ring);
		return -EINVAL;
	}
	/* LB_VIP_ID_ADDR is not an index. */
	if (p->max_vips >= LB_VIP_ID_ADDR) {
		pr_warn("params: max_vips %u: too large\n", p->max_vips);
		return -EINVAL;
	}
	/* The program indexes rings as one flat __u32 array. */
	ring_ids = (__u64)p->max_vips * 2 * LB_RING_STRIDE((__u64)p->max_ring);
	if (ring_ids > UINT32_MAX) {
		pr_warn("params: max_vips %u x max_ring %u: rings exceed 2^32 entries\n", p->max_vips, p->max_ring);
		return -EINVAL;
	}
	/* LB_BACKEND_NONE is not an index. */
	if (p->max_backends >= LB_BACKEND_NONE) {
		pr_warn("params: max_backends %u: too large\n", p->max_backends);
		return -EINVAL;
	}
	if (!is_pow2(p->flow_buckets) ||
	    (__u64)p->flow_buckets * p->nr_cpus > UINT32_MAX) {
		pr_warn("params: flow_buckets %u: must be a power of two, x %u CPUs < 2^32\n", p->flow_buckets, p->nr_cpus);
		return -EINVAL;
	}
	return 0;
}

size_t lb_tables_rings_bytes(const struct lb_params *p)
{
	return (size_t)p->max_vips * 2 * LB_RING_STRIDE(p->max_ring) * sizeof(__u32);
}

void lb_tables_init(struct lb_tables *t, const struct lb_params *p, int fresh)
{
	/* New maps (adoption) may have other sizes: the batch bookkeeping
	 * of the old ones goes; the next batch_begin makes it anew. */
	lb_tables_fini(t);
	t->batch = 0;
	t->dirty = 0;
	t->params = *p;
	t->ring_stride = LB_RING_STRIDE(p->max_ring);
	t->grace_pending = !fresh;
	/* fwd.h: a row that holds no ring is all LB_BACKEND_NONE. Nothing
	 * reads fresh tables yet, so plain stores are fine. */
	if (fresh)
		memset(t->rings, 0xff, lb_tables_rings_bytes(p));
}

static int grace_period(struct lb_tables *t)
{
	int err = t->grace ? t->grace(t->grace_arg) : 0;

	t->grace_pending = err != 0;
	if (err)
		return err;
	t->graces++;
	t->dirty = 0;
	if (t->epoch && !++t->epoch) {
		/* Wrapped: marks of 2^32 epochs ago would look current. */
		t->vip_flip = 0;
		memset(t->ring_flip, 0, (size_t)t->params.max_vips * sizeof(*t->ring_flip));
		memset(t->retired, 0, (size_t)t->params.max_backends * sizeof(*t->retired));
		t->epoch = 1;
	}
	return 0;
}

/* Before writing into what readers may still use: a half flipped (mark)
 * since the last grace period, or anything after a flip whose grace
 * period failed, waits for one first. */
static int idle_ready(struct lb_tables *t, __u32 mark)
{
	return t->grace_pending || (t->epoch && mark == t->epoch) ? grace_period(t) : 0;
}

/* After a flip: inside a batch, noted for batch_end; outside, its own
 * grace period, as a batch of one. */
static int flipped(struct lb_tables *t, __u32 *mark)
{
	*mark = t->epoch;
	t->dirty = 1;
	return t->batch ? 0 : grace_period(t);
}

/* Backend id taken out of use: its entry may be rewritten once a grace
 * period has passed. Without bookkeeping (no batch yet) that is not
 * known, and a new identity always waits. */
static void retire(struct lb_tables *t, __u32 id)
{
	if (t->retired)
		t->retired[id] = t->epoch;
	t->dirty = 1;
}

static int retired_since_grace(const struct lb_tables *t, __u32 id)
{
	return !t->retired || t->retired[id] == t->epoch;
}

int lb_tables_sync(struct lb_tables *t)
{
	return t ? grace_period(t) : -EINVAL;
}

void lb_tables_fini(struct lb_tables *t)
{
	if (!t)
		return;
	free(t->ring_flip);
	free(t->retired);
	t->ring_flip = NULL;
	t->retired = NULL;
	t->epoch = 0;
}

int lb_tables_batch_begin(struct lb_tables *t)
{
	if (!t)
		return -EINVAL;
	if (t->batch)
		return -EBUSY;
	if (!t->ring_flip) {
		const struct lb_params *p = &t->params;

		t->ring_flip = calloc(p->max_vips ? p->max_vips : 1, sizeof(*t->ring_flip));
		t->retired = malloc((p->max_backends ? p->max_backends : 1) * sizeof(*t->retired));
		if (!t->ring_flip || !t->retired) {
			lb_tables_fini(t);
			return -ENOMEM;
		}
		/* Before this, writes outside a batch waited their grace
		 * period after every flip, but ids taken out of use were
		 * not noted: count them all as retired just now. */
		t->epoch = 1;
		t->vip_flip = 0;
		for (__u32 i = 0; i < p->max_backends; i++)
			t->retired[i] = 1;
	}
	t->batch = 1;
	return 0;
}

int lb_tables_batch_end(struct lb_tables *t)
{
	if (!t)
		return -EINVAL;
	t->batch = 0;
	return t->dirty || t->grace_pending ? grace_period(t) : 0;
}

int lb_tables_set_config(struct lb_tables *t, const struct lb_config *c)
{
	struct lb_config *cfg = t->cfg;

	if (!c)
		return -EINVAL;
	if (c->flags & ~(LB_CFG_F_ENTROPY_V4 | LB_CFG_F_ENTROPY_V6)) {
		pr_warn("set_config: unknown flags %#x\n", c->flags);
		return -EINVAL;
	}
	if (c->flow_ttl_tcp > LB_FLOW_TTL_MAX || c->flow_ttl_udp > LB_FLOW_TTL_MAX) {
		pr_warn("set_config: flow TTL %u/%u s: at most %u\n", c->flow_ttl_tcp,
			c->flow_ttl_udp, LB_FLOW_TTL_MAX);
		return -EINVAL;
	}
	/* Word by word; vip_gen and vip_seed are the VIP table's. The v6
	 * source is four words and has no flip of its own (see fwd.h). */
	__atomic_store_n(&cfg->encap_src4, c->encap_src4, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->entropy_mask4, c->entropy_mask4, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++)
		__atomic_store_n(&cfg->encap_src6.w[i], c->encap_src6.w[i], __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->entropy_mask6, c->entropy_mask6, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->flow_ttl_tcp, c->flow_ttl_tcp, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->flow_ttl_udp, c->flow_ttl_udp, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->flags, c->flags, __ATOMIC_RELEASE);
	return 0;
}

int lb_tables_set_vips(struct lb_tables *t, const struct lb_vip_entry *v, size_t n)
{
	const struct lb_params *p = &t->params;
	struct lb_config *cfg = t->cfg;
	__u32 idle, wild, seed = LB_VIP_SEED_START;
	size_t i;
	int err;

	if (n && !v)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (v[i].vip_id >= p->max_vips && v[i].vip_id != LB_VIP_ID_ADDR) {
			pr_warn("set_vips: entry %zu: vip_id %u >= max_vips %u\n",
				i, v[i].vip_id, p->max_vips);
			return -EINVAL;
		}
	}
	err = idle_ready(t, t->vip_flip);
	if (err)
		return err;

	idle = 1 - (__atomic_load_n(&cfg->vip_gen, __ATOMIC_RELAXED) & 1);
	/* A fixed first seed: the same VIP set gives the same table. */
	err = lb_viptable_build(v, n, t->vip_table + (size_t)idle * p->vip_slots,
				p->vip_slots, &seed);
	if (err) {
		if (err == -ENOSPC)
			pr_warn("set_vips: %zu keys do not fit in %u slots within %d probes\n",
				n, p->vip_slots, LB_VIP_PROBES);
		else
			pr_warn("set_vips: invalid entries (duplicate key, bad family, or more than vip_slots/2 = %u)\n",
				p->vip_slots / 2);
		return err;
	}
	/* The fast path skips the wildcard probe when no such key exists;
	 * the bit of the idle half is written before the flip. */
	wild = 0;
	for (i = 0; i < n; i++)
		if (v[i].key.port == 0 && v[i].vip_id != LB_VIP_ID_ADDR)
			wild = 1;
	__atomic_store_n(&cfg->vip_wild,
			 (__atomic_load_n(&cfg->vip_wild, __ATOMIC_RELAXED) & ~(1u << idle)) |
				 (wild << idle), __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->vip_seed[idle], seed, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg->vip_gen, idle, __ATOMIC_RELEASE);
	return flipped(t, &t->vip_flip);
}

int lb_tables_set_vip_flags(struct lb_tables *t, __u32 vip_id, __u32 flags)
{
	if (vip_id >= t->params.max_vips) {
		pr_warn("set_vip_flags: vip_id %u >= max_vips %u\n",
			vip_id, t->params.max_vips);
		return -EINVAL;
	}
	if (flags & ~LB_VIP_F_AFFINITY) {
		pr_warn("set_vip_flags: unknown flags %#x\n", flags);
		return -EINVAL;
	}
	__atomic_store_n(&t->vip_meta[vip_id].flags, flags, __ATOMIC_RELEASE);
	return 0;
}

int lb_tables_set_ring(struct lb_tables *t, __u32 vip_id, const __u32 *ring, __u32 m)
{
	const struct lb_params *p = &t->params;
	struct lb_vip_meta *meta;
	__u32 word, idle, i, *row;
	int err;

	if (vip_id >= p->max_vips) {
		pr_warn("set_ring: vip_id %u >= max_vips %u\n", vip_id, p->max_vips);
		return -EINVAL;
	}
	if (m > p->max_ring || (m && !ring)) {
		pr_warn("set_ring: vip %u: ring of %u entries (max_ring %u)\n",
			vip_id, m, p->max_ring);
		return -EINVAL;
	}
	for (i = 0; i < m; i++) {
		if (ring[i] >= p->max_backends && ring[i] != LB_BACKEND_NONE) {
			pr_warn("set_ring: vip %u: entry %u names backend %u >= max_backends %u\n",
				vip_id, i, ring[i], p->max_backends);
			return -EINVAL;
		}
	}
	err = idle_ready(t, t->ring_flip ? t->ring_flip[vip_id] : 0);
	if (err)
		return err;

	meta = &t->vip_meta[vip_id];
	word = __atomic_load_n(&meta->ring, __ATOMIC_RELAXED);
	idle = 1 - LB_RING_HALF(word);
	row = t->rings + ((size_t)vip_id * 2 + idle) * t->ring_stride;
	if (m)
		memcpy(row, ring, (size_t)m * sizeof(*row));
	/* The rest of the row: LB_BACKEND_NONE, as fwd.h requires of an
	 * empty row, so no stale id of an older ring lingers. */
	memset(row + m, 0xff, (size_t)(t->ring_stride - m) * sizeof(*row));
	__atomic_store_n(&meta->ring, LB_RING_WORD(m, idle), __ATOMIC_RELEASE);
	if (!t->ring_flip)
		return grace_period(t);
	return flipped(t, &t->ring_flip[vip_id]);
}

static int backend_same_identity(const struct lb_backend *a, const struct lb_backend *b)
{
	return !memcmp(&a->addr, &b->addr, sizeof(a->addr)) && a->family == b->family &&
	       a->gen == b->gen;
}

static int backend_same_nh(const struct lb_backend *a, const struct lb_backend *b)
{
	return a->nh_ifindex == b->nh_ifindex && a->nh_mtu == b->nh_mtu &&
	       !memcmp(a->nh_dmac, b->nh_dmac, sizeof(a->nh_dmac)) &&
	       !memcmp(a->nh_smac, b->nh_smac, sizeof(a->nh_smac));
}

static int backend_pristine(const struct lb_backend *a)
{
	static const struct lb_backend zero;

	return !memcmp(a, &zero, sizeof(zero));
}

int lb_tables_set_backend(struct lb_tables *t, __u32 id, const struct lb_backend *b)
{
	struct lb_backend *cur;
	struct lb_backend snap;
	int err;

	if (id >= t->params.max_backends) {
		pr_warn("set_backend: id %u >= max_backends %u\n", id, t->params.max_backends);
		return -EINVAL;
	}
	if (!b || b->state > LB_BACKEND_DRAINING ||
	    (b->state != LB_BACKEND_UNUSED && b->family != LB_FAMILY_V4 &&
	     b->family != LB_FAMILY_V6) ||
	    (b->family == LB_FAMILY_V4 && (b->addr.w[1] | b->addr.w[2] | b->addr.w[3])) ||
	    (b->flags & ~LB_BACKEND_F_NH_VALID)) {
		pr_warn("set_backend: id %u: bad state, family, address or flags\n", id);
		return -EINVAL;
	}
	cur = &t->backends[id];
	snap = *cur;

	if (!backend_same_identity(&snap, b) && !backend_pristine(&snap)) {
		/* fwd.h: addr/family/gen never change while the id is in
		 * use. Take the id out of use and let every packet that saw
		 * it in use finish before rewriting it: an id retired before
		 * the last grace period (a batch ago) needs no other. */
		if (snap.state != LB_BACKEND_UNUSED) {
			__atomic_store_n(&cur->state, LB_BACKEND_UNUSED, __ATOMIC_RELEASE);
			retire(t, id);
		}
		if (t->grace_pending || retired_since_grace(t, id)) {
			err = grace_period(t);
			if (err)
				return err;
		}
	} else if (!backend_same_nh(&snap, b) && (snap.flags & LB_BACKEND_F_NH_VALID)) {
		/* Same backend, new next hop: readers use the cache only
		 * under NH_VALID, so withdraw it before rewriting the MACs. */
		__atomic_store_n(&cur->flags, snap.flags & ~LB_BACKEND_F_NH_VALID,
				 __ATOMIC_RELEASE);
		err = grace_period(t);
		if (err)
			return err;
	}

	cur->addr = b->addr;
	cur->family = b->family;
	cur->gen = b->gen;
	cur->nh_ifindex = b->nh_ifindex;
	cur->nh_mtu = b->nh_mtu;
	memcpy(cur->nh_dmac, b->nh_dmac, sizeof(cur->nh_dmac));
	memcpy(cur->nh_smac, b->nh_smac, sizeof(cur->nh_smac));
	cur->pad0 = 0;
	memset(cur->pad1, 0, sizeof(cur->pad1));
	cur->vip_id = b->vip_id;
	__atomic_store_n(&cur->flags, b->flags, __ATOMIC_RELEASE);
	/* Last: a reader that sees the new state sees everything above. */
	__atomic_store_n(&cur->state, b->state, __ATOMIC_RELEASE);
	return 0;
}

int lb_tables_set_backend_state(struct lb_tables *t, __u32 id, __u8 state)
{
	struct lb_backend *cur;

	if (id >= t->params.max_backends || state > LB_BACKEND_DRAINING) {
		pr_warn("set_backend_state: id %u (max_backends %u), state %u\n",
			id, t->params.max_backends, state);
		return -EINVAL;
	}
	cur = &t->backends[id];
	if (state != LB_BACKEND_UNUSED && cur->family == LB_FAMILY_NONE) {
		pr_warn("set_backend_state: id %u was never set\n", id);
		return -EINVAL;
	}
	if (state == LB_BACKEND_UNUSED && __atomic_load_n(&cur->state, __ATOMIC_RELAXED) != state)
		retire(t, id);
	__atomic_store_n(&cur->state, state, __ATOMIC_RELEASE);
	return 0;
}


int lb_tables_backend_get(const struct lb_tables *t, __u32 id, struct lb_backend *out)
{
	if (id >= t->params.max_backends || !out)
		return -EINVAL;
	memcpy(out, &t->backends[id], sizeof(*out));
	return 0;
}

int lb_tables_vip_find(const struct lb_tables *t, const struct lb_vip_key *key, __u32 *vip_id)
{
	__u32 gen = __atomic_load_n(&t->cfg->vip_gen, __ATOMIC_ACQUIRE) & 1;

	return lb_viptable_lookup(t->vip_table + (size_t)gen * t->params.vip_slots,
				  t->params.vip_slots, t->cfg->vip_seed[gen], key, vip_id);
}

static __u32 idle_ms(__u32 now, __u32 last_seen, __u32 hz)
{
	__u32 ticks = now - last_seen;
	__u64 ms;

	if (ticks > 0x7fffffffu)
		return 0;	/* stamped after now was read */
	ms = (__u64)ticks * 1000 / hz;
	return ms > UINT32_MAX ? UINT32_MAX : (__u32)ms;
}

int lb_flows_foreach(const struct lb_flow_bucket *bk, size_t n, __u32 now, __u32 hz,
		     int (*fn)(const struct lb_flow_key *key, __u32 backend_id, __u32 idle_ms,
			       void *arg),
		     void *arg)
{
	if (!fn || !hz)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		for (int w = 0; w < LB_FLOW_WAYS; w++) {
			struct lb_flow_key k;
			__u32 seen;
			int ret;

			memcpy(&k, &bk[i].key[w], sizeof(k));
			if (k.family == LB_FAMILY_NONE)
				continue;
			seen = __atomic_load_n(&bk[i].last_seen[w], __ATOMIC_RELAXED);
			ret = fn(&k, __atomic_load_n(&bk[i].backend_id[w], __ATOMIC_RELAXED),
				 idle_ms(now, seen, hz), arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}
