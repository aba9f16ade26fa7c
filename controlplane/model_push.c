// SPDX-License-Identifier: Apache-2.0
/*
 * model_push.c - the model's only writer of the fast path: every driver
 * call, in the order a packet may see them (push_changes), the resync
 * after a driver failure, the node's config and its attach/detach, and
 * the next-hop refresh. Pushes run after the model changed and before
 * the batch commits (model.c).
 */
#define LB_LOG_PREFIX "model: "

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "model_int.h"

static int drv_fail(struct cp_error *e, int err, const char *what, __u32 id)
{
	pr_warn("fast path: %s %u failed: %s\n", what, id, strerror(-err));
	return cp_error_set(e, err, "fastpath", "%s %u failed: %s", what, id, strerror(-err));
}

/* The VIP whose backend array holds b. */
static __u32 owner_vip_id(const struct cp_model *m, const struct cp_backend *b)
{
	/* Backends are pushed VIP by VIP: the last owner, checked first. */
	static __thread size_t last;

	for (size_t k = 0; k <= m->n_vips; k++) {
		size_t i = k ? k - 1 : last;
		const struct cp_vip *v = i < m->n_vips ? &m->vips[i] : NULL;

		if (v && b >= v->backends && b < v->backends + v->n_backends) {
			last = i;
			return v->id;
		}
	}
	return 0;
}

/* While adopting a pinned fast path: the next hop the entry of this very
 * backend already holds. The fast path has been forwarding with it all
 * along; the round of next-hop refreshes that follows the load renews
 * it, instead of 100,000 route lookups before the restart completes. */
static int adopted_nexthop(const struct cp_model *m, const struct cp_backend *b,
			   struct lb_backend *fb)
{
	const struct lb_backend *a = m->adopt && b->id < m->n_adopt ? &m->adopt[b->id] : NULL;

	if (!a || a->state == LB_BACKEND_UNUSED || !(a->flags & LB_BACKEND_F_NH_VALID) ||
	    a->family != b->family || memcmp(&a->addr, &b->addr, sizeof(a->addr)))
		return 0;
	fb->flags = a->flags;
	fb->nh_ifindex = a->nh_ifindex;
	fb->nh_mtu = a->nh_mtu;
	memcpy(fb->nh_dmac, a->nh_dmac, sizeof(fb->nh_dmac));
	memcpy(fb->nh_smac, a->nh_smac, sizeof(fb->nh_smac));
	return 1;
}

/* resolve 0: leave the next hop unresolved (a big batch: defer_nexthops). */
static int push_backend(struct cp_model *m, const struct cp_backend *b, int resolve,
			struct cp_error *e)
{
	struct lb_backend fb;
	int err;

	memset(&fb, 0, sizeof(fb));
	fb.addr = b->addr;
	fb.family = b->family;
	fb.state = backend_fp_state(b);
	fb.gen = b->gen;
	if (!adopted_nexthop(m, b, &fb) && resolve && m->nexthop &&
	    m->nexthop(m->nexthop_arg, &fb)) {
		/* Unresolved: the fast path falls back to its FIB lookup. */
		memset(fb.nh_dmac, 0, sizeof(fb.nh_dmac));
		memset(fb.nh_smac, 0, sizeof(fb.nh_smac));
		fb.nh_ifindex = 0;
		fb.nh_mtu = 0;
		fb.flags = 0;
	}
	/* The callback fills next-hop fields only; the identity is ours. */
	fb.addr = b->addr;
	fb.family = b->family;
	fb.state = backend_fp_state(b);
	fb.gen = b->gen;
	fb.vip_id = owner_vip_id(m, b);
	err = drv(m)->set_backend(m->driver->ctx, b->id, &fb);
	return err ? drv_fail(e, err, "set_backend", b->id) : 0;
}

int model_push_backend(struct cp_model *m, const struct cp_backend *b, struct cp_error *e)
{
	return push_backend(m, b, 1, e);
}

/* Whether batch b pushes its new backends unresolved: a route lookup
 * each (~2 µs, a fifth of an apply of 100,000 backends) is worth
 * deferring only when the fast path forwards without the cache, and
 * only for a big batch (a few backends get their cache at once). */
static int defer_nexthops(struct cp_model *m, const struct model_batch *b)
{
	if (!m->nexthop || !drv(m)->fib_fallback || b->backends_added < CP_NEXTHOP_DEFER_MIN)
		return 0;
	pr_info("next hops of %zu new backends: resolved right after this change (the fast path looks them up in the FIB meanwhile)\n",
		b->backends_added);
	m->nexthops_deferred = 1;
	return 1;
}

int model_push_state(struct cp_model *m, __u32 id, __u8 state, struct cp_error *e)
{
	int err = drv(m)->set_backend_state(m->driver->ctx, id, state);

	return err ? drv_fail(e, err, "set_backend_state", id) : 0;
}

static int push_ring(struct cp_model *m, __u32 vip_id, const __u32 *ring, __u32 size,
		     struct cp_error *e)
{
	int err = drv(m)->set_ring(m->driver->ctx, vip_id, ring, size);

	return err ? drv_fail(e, err, "set_ring", vip_id) : 0;
}

/* The fast path's LB_VIP_F_* flags of a VIP with settings s. */
static __u32 vip_flags(const struct cp_vip_spec *s)
{
	return s->affinity == CP_AFFINITY_SOURCE ? LB_VIP_F_AFFINITY : 0;
}

static int push_flags(struct cp_model *m, const struct cp_vip *v, struct cp_error *e)
{
	int err = drv(m)->set_vip_flags(m->driver->ctx, v->id, vip_flags(&v->spec));

	return err ? drv_fail(e, err, "set_vip_flags", v->id) : 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct lb_vip_entry *)a)->key,
		      &((const struct lb_vip_entry *)b)->key, sizeof(struct lb_vip_key));
}

/* The whole VIP table: every VIP key, and for every distinct VIP address
 * {addr, 0, ICMP(v6)} -> LB_VIP_ID_ADDR so the fast path answers echo
 * requests to it. */
static int push_vip_table(struct cp_model *m, struct cp_error *e)
{
	struct lb_vip_entry *v = calloc(2 * m->n_vips + 1, sizeof(*v));
	size_t n = m->n_vips, k = m->n_vips;
	int err;

	if (!v)
		return cp_error_set(e, -ENOMEM, "fastpath", "no memory for the VIP table");
	for (size_t i = 0; i < n; i++) {
		struct lb_vip_key *a = &v[n + i].key;

		v[i].key = m->vips[i].key;
		v[i].vip_id = m->vips[i].id;
		a->addr = m->vips[i].key.addr;
		a->family = m->vips[i].key.family;
		a->proto = a->family == LB_FAMILY_V4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
		v[n + i].vip_id = LB_VIP_ID_ADDR;
	}
	/* Several VIPs on one address share its ICMP entry. */
	qsort(v + n, n, sizeof(*v), entry_cmp);
	for (size_t i = n; i < 2 * n; i++)
		if (i == n || entry_cmp(&v[i], &v[k - 1]))
			v[k++] = v[i];
	err = drv(m)->set_vips(m->driver->ctx, v, k);
	free(v);
	return err ? drv_fail(e, err, "set_vips", (__u32)k) : 0;
}

static int push_config(struct cp_model *m, const struct cp_node *n, struct cp_error *e)
{
	struct lb_config c;
	int err;

	memset(&c, 0, sizeof(c));
	c.encap_src4 = n->encap_src4;
	c.encap_src6 = n->encap_src6;
	c.flow_ttl_tcp = n->flow_ttl_tcp;
	c.flow_ttl_udp = n->flow_ttl_udp;
	err = drv(m)->set_config(m->driver->ctx, &c);
	return err ? drv_fail(e, err, "set_config", 0) : 0;
}

/* Backends of v that are (up != 0) or are not (up == 0) UP. */
static int push_backends(struct cp_model *m, const struct cp_vip *v, int up, struct cp_error *e)
{
	int err = 0;

	for (size_t j = 0; j < v->n_backends && !err; j++)
		if ((backend_fp_state(&v->backends[j]) == LB_BACKEND_UP) == !!up)
			err = model_push_backend(m, &v->backends[j], e);
	return err;
}

/* Everything about one VIP, whatever the fast path holds: UP backends,
 * flags, the ring (built if the model has none yet), then the others
 * (once the ring no longer names them). Used by sync and to restore
 * the fast path after a failed batch. */
static int push_vip_full(struct cp_model *m, struct cp_vip *v, struct cp_error *e)
{
	int err = push_backends(m, v, 1, e);

	if (!err)
		err = push_flags(m, v, e);
	if (!err && !v->ring) {
		__u64 ns = 0;

		err = model_ring_build(v, &v->ring, &v->digest, &ns);
		if (!err)
			model_ring_count(m, ns);
		if (err)
			cp_error_set(e, err, "vip", "cannot build the ring: %s", strerror(-err));
	}
	if (!err)
		err = push_ring(m, v->id, v->ring, v->spec.ring_size, e);
	return err ? err : push_backends(m, v, 0, e);
}

/* Step 1: backends that come into use go first, so no ring ever names an
 * id the fast path does not know; a backend that becomes UP is marked so
 * before a ring sends new flows to it. Flags of new or changed VIPs. */
static int push_promotions(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	int resolve = !defer_nexthops(m, b);

	for (size_t i = 0; i < b->n; i++) {
		const struct cp_vip *o = b->t[b->ids[i]].old;
		struct cp_vip *v = model_vip_by_id(m, b->ids[i]);
		int err = 0;

		for (size_t j = 0; v && j < v->n_backends && !err; j++) {
			const struct cp_backend *nb = &v->backends[j];
			const struct cp_backend *ob = model_backend_by_id(o, nb->id);
			__u8 st = backend_fp_state(nb);

			if (!ob)
				err = push_backend(m, nb, resolve, e);
			else if (st == LB_BACKEND_UP && backend_fp_state(ob) != st)
				err = model_push_state(m, nb->id, st, e);
		}
		if (!err && v && (!o || vip_flags(&o->spec) != vip_flags(&v->spec)))
			err = push_flags(m, v, e);
		if (err)
			return err;
		model_yield(m);
	}
	return 0;
}

static int push_rings(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct model_touch *t = &b->t[b->ids[i]];
		const struct cp_vip *v = model_vip_by_id(m, b->ids[i]);
		int err;

		if (!v || !t->push)
			continue;
		err = push_ring(m, v->id, t->ring, v->spec.ring_size, e);
		if (err)
			return err;
		model_yield(m);
	}
	return 0;
}

/* Steps 3-4: the VIP table if the set of VIPs changed (new VIPs appear
 * only now that their rings are in place), then the rings of deleted
 * VIPs are emptied, once no table entry leads to them. */
static int push_vip_set(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	int table = 0, err = 0;

	for (size_t i = 0; i < b->n; i++)
		table |= !b->t[b->ids[i]].old != !model_vip_by_id(m, b->ids[i]);
	if (table)
		err = push_vip_table(m, e);
	for (size_t i = 0; i < b->n && !err; i++)
		if (b->t[b->ids[i]].old && !model_vip_by_id(m, b->ids[i]))
			err = push_ring(m, b->ids[i], NULL, 0, e);
	return err;
}

/* Step 5: now that no ring names them, backends leave UP, and the ids
 * of removed backends are marked unused (freed after the batch). */
static int push_demotions(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct cp_vip *o = b->t[b->ids[i]].old;
		const struct cp_vip *v = model_vip_by_id(m, b->ids[i]);
		int err = 0;

		for (size_t j = 0; o && j < o->n_backends && !err; j++) {
			const struct cp_backend *ob = &o->backends[j];
			const struct cp_backend *nb = model_backend_by_id(v, ob->id);

			if (!nb)
				err = model_push_state(m, ob->id, LB_BACKEND_UNUSED, e);
			else if (backend_fp_state(nb) != LB_BACKEND_UP &&
				 backend_fp_state(nb) != backend_fp_state(ob))
				err = model_push_state(m, nb->id, backend_fp_state(nb), e);
		}
		if (err)
			return err;
		model_yield(m);
	}
	return 0;
}

/* The fast path's order: entries before the rings that name them, rings
 * before the VIP table that leads to them, and on the way out the
 * reverse, so a packet never meets a half-made or dangling reference.
 * Promotions need no ring: the batch's rings are built meanwhile. */
int model_push_promotions(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	return drv(m) ? push_promotions(m, b, e) : 0;
}

int model_push_rest(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	int err;

	if (!drv(m))
		return 0;
	err = push_rings(m, b, e);
	if (!err)
		err = push_vip_set(m, b, e);
	return err ? err : push_demotions(m, b, e);
}

/* After a driver failure: the model is restored; make the fast path
 * match it again, best effort (the first error was already returned). */
void model_push_resync(struct cp_model *m, struct model_batch *b, const __u8 *retire)
{
	for (size_t i = 0; i < b->n; i++) {
		struct cp_vip *v = model_vip_by_id(m, b->ids[i]);

		if (v)
			push_vip_full(m, v, NULL);
	}
	push_vip_table(m, NULL);
	for (size_t i = 0; i < b->n; i++)
		if (!model_vip_by_id(m, b->ids[i]))
			push_ring(m, b->ids[i], NULL, 0, NULL);
	for (__u32 id = 0; retire && id < m->limits.max_backends; id++)
		if (bit_get(retire, id))
			model_push_state(m, id, LB_BACKEND_UNUSED, NULL);
}

int model_has_interface(const struct cp_node *n, const char *name)
{
	for (int i = 0; i < n->n_interfaces; i++)
		if (!strncmp(n->interfaces[i], name, IF_NAMESIZE))
			return 1;
	return 0;
}

static void node_overlay(struct cp_node *n, const struct cp_request *r)
{
	if (r->fields & CP_F_INTERFACES) {
		memset(n->interfaces, 0, sizeof(n->interfaces));
		for (int i = 0; i < r->n_interfaces; i++)
			memcpy(n->interfaces[i], r->interfaces[i], strlen(r->interfaces[i]));
		n->n_interfaces = r->n_interfaces;
	}
	if (r->fields & CP_F_ENCAP4)
		n->encap_src4 = r->encap_src4;
	if (r->fields & CP_F_ENCAP6)
		n->encap_src6 = r->encap_src6;
	if (r->fields & CP_F_METRICS) {
		memset(n->metrics, 0, sizeof(n->metrics));
		memcpy(n->metrics, r->metrics, strlen(r->metrics));
	}
	if (r->fields & CP_F_FLOW_TTL_TCP)
		n->flow_ttl_tcp = r->flow_ttl_tcp;
	if (r->fields & CP_F_FLOW_TTL_UDP)
		n->flow_ttl_udp = r->flow_ttl_udp;
	if (r->fields & CP_F_ANNOUNCE_TABLE)
		n->announce_table = r->announce_table;
	if (r->fields & CP_F_DRAINED)
		n->drained = r->drained;
}

/* Attaches the interfaces of n that o lacks; on failure detaches the
 * ones it attached. */
static int attach_new(struct cp_model *m, const struct cp_node *o, const struct cp_node *n,
		      struct cp_error *e)
{
	for (int i = 0; i < n->n_interfaces; i++) {
		int err;

		if (model_has_interface(o, n->interfaces[i]))
			continue;
		err = drv(m)->attach(m->driver->ctx, n->interfaces[i]);
		if (!err)
			continue;
		pr_warn("cannot attach to %s: %s\n", n->interfaces[i], strerror(-err));
		if (err == -ENODEV)
			cp_error_set(e, -ENODEV, "interface", "%s: no such interface",
				     n->interfaces[i]);
		else if (err == -ENETDOWN)
			cp_error_set(e, -ENETDOWN, "interface",
				     "%s is down; bring it up first (ip link set %s up)",
				     n->interfaces[i], n->interfaces[i]);
		else
			cp_error_set(e, err, "interface", "%s: cannot attach: %s",
				     n->interfaces[i], strerror(-err));
		while (i-- > 0)
			if (!model_has_interface(o, n->interfaces[i]))
				drv(m)->detach(m->driver->ctx, n->interfaces[i]);
		return err;
	}
	return 0;
}

/* A failed detach is logged, not refused: the operator wants the
 * interface gone, and one that vanished cannot be detached anyway. */
static void detach_old(struct cp_model *m, const struct cp_node *o, const struct cp_node *n)
{
	for (int i = 0; i < o->n_interfaces; i++) {
		int err;

		if (model_has_interface(n, o->interfaces[i]))
			continue;
		err = drv(m)->detach(m->driver->ctx, o->interfaces[i]);
		if (err)
			pr_warn("cannot detach from %s: %s\n", o->interfaces[i],
				strerror(-err));
	}
}

int model_node_apply(struct cp_model *m, const struct cp_request *r, struct cp_error *e)
{
	struct cp_node n = m->node;
	int encap, err = 0;

	node_overlay(&n, r);
	/* Everything push_config() writes. */
	encap = n.encap_src4 != m->node.encap_src4 ||
		memcmp(&n.encap_src6, &m->node.encap_src6, sizeof(n.encap_src6)) ||
		n.flow_ttl_tcp != m->node.flow_ttl_tcp || n.flow_ttl_udp != m->node.flow_ttl_udp;
	if (drv(m) && encap)
		err = push_config(m, &n, e);
	if (!err && drv(m))
		err = attach_new(m, &m->node, &n, e);
	if (err) {
		if (encap)
			push_config(m, &m->node, NULL);
		return err;
	}
	if (drv(m))
		detach_old(m, &m->node, &n);
	m->node = n;
	return 0;
}

/* Backend ids the model does not use are marked unused: after adopting
 * pinned maps, entries of a previous run must not keep serving flows. */
static int retire_unused(struct cp_model *m, struct cp_error *e)
{
	int first = 0;

	for (__u32 id = 0; id < m->limits.max_backends; id++) {
		int err;

		if (bit_get(m->backend_ids_used, id))
			continue;
		err = model_push_state(m, id, LB_BACKEND_UNUSED, first ? NULL : e);
		first = first ? first : err;
	}
	return first;
}

int cp_model_sync(struct cp_model *m)
{
	struct cp_error e;
	int err, first;

	if (!drv(m))
		return 0;
	first = push_config(m, &m->node, &e);
	for (size_t i = 0; i < m->n_vips; i++) {
		err = push_vip_full(m, &m->vips[i], &e);
		first = first ? first : err;
	}
	err = push_vip_table(m, &e);
	first = first ? first : err;
	err = retire_unused(m, &e);
	return first ? first : err;
}

int cp_model_refresh_nexthops_step(struct cp_model *m, size_t *cursor, size_t budget)
{
	struct cp_error e;
	size_t flat = 0, done = 0;

	if (!m->driver || !m->nexthop)
		return 0;
	for (size_t i = 0; i < m->n_vips; i++) {
		const struct cp_vip *v = &m->vips[i];

		if (flat + v->n_backends <= *cursor) {
			flat += v->n_backends;
			continue;
		}
		for (size_t j = *cursor - flat; j < v->n_backends; j++) {
			if (done == budget)
				return 1;
			model_push_backend(m, &v->backends[j], &e);
			(*cursor)++;
			done++;
		}
		flat += v->n_backends;
	}
	return 0;
}

int cp_model_refresh_nexthops(struct cp_model *m)
{
	size_t cursor = 0;

	while (cp_model_refresh_nexthops_step(m, &cursor, (size_t)-1))
		;
	return 0;
}
