// SPDX-License-Identifier: Apache-2.0
/*
 * model.c - sluiced's desired state, its ids and rings, and the batch
 * engine that carries every change (model.h; the rooms: model_int.h).
 *
 * How a change travels. Every change request is checked against the
 * model first (cp_model_check); nothing is touched until it passes. It
 * then runs inside a "batch":
 *
 *   1. mutate: the model is changed in place; the first time the batch
 *      touches a VIP, a deep copy of it (its "snapshot") is kept, and its
 *      last pushed ring moves into that copy;
 *   2. build: the ring of every touched VIP is rebuilt, unless its inputs
 *      (ring size; id and weight of every usable backend) are unchanged;
 *   3. push, in the order the fast path needs (model_push.c);
 *   4. commit (drop the snapshots), or roll back (put them back, and
 *      re-push what was there if the driver failed half way).
 *
 * One request is one batch (cp_model_apply). cp_model_apply_diff puts
 * many requests in one batch so that a SIGHUP rebuilds and flips each
 * VIP's ring once, not once per backend: fewer intermediate rings that
 * move flows around, and 100 VIPs x 100 backends cost 100 ring builds.
 *
 * Ids. VIP and backend ids are taken lowest-free from the bitmaps. An id
 * freed in a batch stays reserved until the batch is over (the bitmaps
 * are rebuilt from the model then), so no id is handed to a different
 * backend while a published ring may still name it. gen comes from
 * next_gen and is never reused, so a flow pinned to an old incarnation of
 * an id notices (fwd.h).
 *
 * Rings are built with a driver and without one (so `ring digest` works
 * on a model with no fast path), except while loading a config script
 * into a driverless target: there nobody reads them, and building them
 * would cost a ring per backend line. Such VIPs have ring NULL and
 * digest 0 until cp_model_sync() or a change builds one.
 *
 * Not thread-safe: sluiced's control thread owns the model.
 */
#define LB_LOG_PREFIX "model: "

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "maglev.h"

#include "model_int.h"

/* Takes the lowest id below n that is free in map; -ENOSPC if none.
 * Full bytes are skipped: loading 10k backends would otherwise scan
 * 50M bits. */
static int id_alloc(__u8 *map, __u32 n, __u32 *id)
{
	for (__u32 i = 0; i < n; i++) {
		if (i % 8 == 0 && map[i / 8] == 0xff && i + 8 <= n) {
			i += 7;
			continue;
		}
		if (!bit_get(map, i)) {
			bit_set(map, i);
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

/* The bitmaps say which ids the model uses. Ids are marked when taken
 * and cleared only when a batch is over (see the top of the file):
 * batch_commit updates the touched VIPs' ids, a rollback rebuilds them
 * all from the model. */
static void ids_rebuild(struct cp_model *m)
{
	memset(m->vip_ids_used, 0, (m->limits.max_vips + 7) / 8);
	memset(m->backend_ids_used, 0, (m->limits.max_backends + 7) / 8);
	for (size_t i = 0; i < m->n_vips; i++) {
		const struct cp_vip *v = &m->vips[i];

		bit_set(m->vip_ids_used, v->id);
		for (size_t j = 0; j < v->n_backends; j++)
			bit_set(m->backend_ids_used, v->backends[j].id);
	}
}

static __u32 gen_next(struct cp_model *m)
{
	__u32 gen = m->next_gen++;

	/* 0 is what an entry that was never written holds. */
	if (!m->next_gen)
		m->next_gen = 1;
	return gen;
}

int cp_model_adopt_begin(struct cp_model *m)
{
	const struct cp_driver_ops *ops = m->driver ? m->driver->ops : NULL;
	__u32 n = m->limits.max_backends;

	if (!ops || !ops->backend_get || !ops->vip_find)
		return 0;
	m->adopt = calloc(n, sizeof(*m->adopt));
	if (!m->adopt)
		return -ENOMEM;
	m->n_adopt = n;
	for (__u32 id = 0; id < n; id++) {
		if (ops->backend_get(m->driver->ctx, id, &m->adopt[id]))
			memset(&m->adopt[id], 0, sizeof(m->adopt[id]));
		/* New gens must never repeat one a pinned flow may hold. */
		if (m->adopt[id].gen >= m->next_gen)
			m->next_gen = m->adopt[id].gen + 1;
	}
	if (!m->next_gen)
		m->next_gen = 1;
	return 0;
}

void cp_model_adopt_end(struct cp_model *m)
{
	free(m->adopt);
	m->adopt = NULL;
	m->n_adopt = 0;
}

/* 0 and the vip_id the pinned VIP table gives k, if that id is free. */
static int adopted_vip_id(struct cp_model *m, const struct lb_vip_key *k, __u32 *id)
{
	__u32 hint;

	if (!m->adopt || m->driver->ops->vip_find(m->driver->ctx, k, &hint) ||
	    hint >= m->limits.max_vips || bit_get(m->vip_ids_used, hint))
		return -ENOENT;
	bit_set(m->vip_ids_used, hint);
	*id = hint;
	return 0;
}

/* 0 and the id and gen of the pinned entry that served this backend of
 * this VIP, if that id is free. */
static int adopted_backend_id(struct cp_model *m, __u32 vip_id, const struct cp_request *r,
			      __u32 *id, __u32 *gen)
{
	for (__u32 i = 0; m->adopt && i < m->n_adopt; i++) {
		const struct lb_backend *b = &m->adopt[i];

		if (b->state == LB_BACKEND_UNUSED || b->vip_id != vip_id ||
		    b->family != r->backend_family ||
		    memcmp(&b->addr, &r->backend, sizeof(b->addr)) ||
		    bit_get(m->backend_ids_used, i))
			continue;
		bit_set(m->backend_ids_used, i);
		*id = i;
		*gen = b->gen;
		return 0;
	}
	return -ENOENT;
}

static void limits_init(struct lb_params *l, const struct lb_params *in)
{
	if (in)
		*l = *in;
	else
		memset(l, 0, sizeof(*l));
	l->vip_slots = l->vip_slots ? l->vip_slots : LB_DEFAULT_VIP_SLOTS;
	l->max_vips = l->max_vips ? l->max_vips : LB_DEFAULT_MAX_VIPS;
	l->max_ring = l->max_ring ? l->max_ring : LB_DEFAULT_RING_SIZE;
	l->max_backends = l->max_backends ? l->max_backends : LB_DEFAULT_MAX_BACKENDS;
	l->flow_buckets = l->flow_buckets ? l->flow_buckets : LB_DEFAULT_FLOW_BUCKETS;
}

int cp_model_init(struct cp_model *m, const struct lb_params *limits, struct cp_driver *driver)
{
	memset(m, 0, sizeof(*m));
	limits_init(&m->limits, limits);
	m->vip_ids_used = calloc((m->limits.max_vips + 7) / 8, 1);
	m->backend_ids_used = calloc((m->limits.max_backends + 7) / 8, 1);
	if (!m->vip_ids_used || !m->backend_ids_used) {
		cp_model_free(m);
		return -ENOMEM;
	}
	m->next_gen = 1;
	m->driver = driver;
	m->node.flow_ttl_tcp = CP_DEFAULT_FLOW_TTL_TCP;
	m->node.flow_ttl_udp = CP_DEFAULT_FLOW_TTL_UDP;
	return 0;
}

void model_vip_release(struct cp_vip *v)
{
	free(v->backends);
	free(v->ring);
	v->backends = NULL;
	v->ring = NULL;
}

void cp_model_free(struct cp_model *m)
{
	cp_model_adopt_end(m);
	for (size_t i = 0; i < m->n_vips; i++)
		model_vip_release(&m->vips[i]);
	free(m->vips);
	free(m->vip_ids_used);
	free(m->backend_ids_used);
	memset(m, 0, sizeof(*m));
}

struct cp_vip *cp_model_find_vip(const struct cp_model *m, const struct lb_vip_key *k)
{
	for (size_t i = 0; i < m->n_vips; i++)
		if (!memcmp(&m->vips[i].key, k, sizeof(*k)))
			return &m->vips[i];
	return NULL;
}

struct cp_backend *cp_vip_find_backend(const struct cp_vip *v, const struct lb_addr *a,
				       __u8 family)
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (v->backends[i].family == family &&
		    !memcmp(&v->backends[i].addr, a, sizeof(*a)))
			return &v->backends[i];
	return NULL;
}

struct cp_vip *model_vip_by_id(const struct cp_model *m, __u32 id)
{
	for (size_t i = 0; i < m->n_vips; i++)
		if (m->vips[i].id == id)
			return &m->vips[i];
	return NULL;
}

const struct cp_backend *model_backend_by_id(const struct cp_vip *v, __u32 id)
{
	for (size_t i = 0; v && i < v->n_backends; i++)
		if (v->backends[i].id == id)
			return &v->backends[i];
	return NULL;
}

size_t model_count_backends(const struct cp_model *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_vips; i++)
		n += m->vips[i].n_backends;
	return n;
}

/* The Maglev input of a VIP: its usable backends. *out is malloc'ed
 * (NULL when there are none). */
static int usable_list(const struct cp_vip *v, struct lb_maglev_backend **out, size_t *n)
{
	struct lb_maglev_backend *l = NULL;
	size_t k = 0;

	if (v->n_backends) {
		l = calloc(v->n_backends, sizeof(*l));
		if (!l)
			return -ENOMEM;
	}
	for (size_t i = 0; i < v->n_backends; i++) {
		const struct cp_backend *b = &v->backends[i];

		if (!backend_usable(b))
			continue;
		l[k].addr = b->addr;
		l[k].family = b->family;
		l[k].weight = b->weight;
		l[k].id = b->id;
		k++;
	}
	*out = l;
	*n = k;
	return 0;
}

static __u64 elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (__u64)(b->tv_sec - a->tv_sec) * 1000000000ull + (__u64)b->tv_nsec -
	       (__u64)a->tv_nsec;
}

/* Builds v's ring into a new buffer (*ring, the caller's to free). */
int model_ring_build(struct cp_model *m, const struct cp_vip *v, __u32 **ring, __u64 *digest)
{
	struct lb_maglev_backend *l;
	struct timespec t0, t1;
	size_t n;
	__u32 *r;
	int err = usable_list(v, &l, &n);

	if (err)
		return err;
	r = malloc((size_t)v->spec.ring_size * sizeof(*r));
	if (!r) {
		free(l);
		return -ENOMEM;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = lb_maglev_build(l, n, r, v->spec.ring_size);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	m->stats.ring_rebuilds++;
	m->stats.last_rebuild_ns = elapsed_ns(&t0, &t1);
	if (!err) {
		*digest = lb_maglev_digest(r, v->spec.ring_size, l, n);
		if (lb_maglev_ring_too_small(v->spec.ring_size, n))
			pr_warn("VIP id %u: ring of %u for %zu backends: removing one moves far more than 1/%zu of the flows\n",
				v->id, v->spec.ring_size, n, n);
	}
	free(l);
	if (err) {
		free(r);
		return err;
	}
	*ring = r;
	return 0;
}

/* 1 if a and b would build the same ring. Backends keep their relative
 * order in the array (added ones go last, removal closes the gap), so
 * the usable ones of the two can be compared pairwise. */
static int same_ring_inputs(const struct cp_vip *a, const struct cp_vip *b)
{
	size_t i = 0, j = 0;

	if (a->spec.ring_size != b->spec.ring_size)
		return 0;
	for (;;) {
		while (i < a->n_backends && !backend_usable(&a->backends[i]))
			i++;
		while (j < b->n_backends && !backend_usable(&b->backends[j]))
			j++;
		if (i == a->n_backends || j == b->n_backends)
			return i == a->n_backends && j == b->n_backends;
		if (a->backends[i].id != b->backends[j].id ||
		    a->backends[i].weight != b->backends[j].weight)
			return 0;
		i++;
		j++;
	}
}

int model_batch_begin(const struct cp_model *m, struct model_batch *b, int rings)
{
	memset(b, 0, sizeof(*b));
	b->t = calloc(m->limits.max_vips, sizeof(*b->t));
	b->ids = calloc(m->limits.max_vips, sizeof(*b->ids));
	b->order = calloc(m->limits.max_vips, sizeof(*b->order));
	b->rings = rings;
	if (!b->t || !b->ids || !b->order)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_vips; i++)
		b->order[m->vips[i].id] = i;
	return 0;
}

static void vip_destroy(struct cp_vip *v)
{
	if (v)
		model_vip_release(v);
	free(v);
}

void model_batch_end(struct model_batch *b)
{
	for (size_t i = 0; b->t && i < b->n; i++) {
		struct model_touch *t = &b->t[b->ids[i]];

		vip_destroy(t->old);
		free(t->ring);
	}
	free(b->t);
	free(b->ids);
	free(b->order);
	memset(b, 0, sizeof(*b));
}

/* Deep copy of v's backends; the ring is not copied (see batch_touch). */
static struct cp_vip *vip_dup(const struct cp_vip *v)
{
	struct cp_vip *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	*c = *v;
	c->ring = NULL;
	c->backends = NULL;
	c->cap_backends = v->n_backends;
	if (v->n_backends) {
		c->backends = malloc(v->n_backends * sizeof(*c->backends));
		if (!c->backends) {
			free(c);
			return NULL;
		}
		memcpy(c->backends, v->backends, v->n_backends * sizeof(*c->backends));
	}
	return c;
}

/* Records v's state before the batch changes it. Its last pushed ring
 * moves into the copy: the ring belongs to the state it was built for. */
static int batch_touch(struct model_batch *b, struct cp_vip *v)
{
	struct model_touch *t = &b->t[v->id];

	if (t->on)
		return 0;
	t->old = vip_dup(v);
	if (!t->old)
		return -ENOMEM;
	t->old->ring = v->ring;
	t->old->digest = v->digest;
	v->ring = NULL;
	v->digest = 0;
	t->on = 1;
	b->ids[b->n++] = v->id;
	return 0;
}

static void batch_touch_added(struct model_batch *b, __u32 id)
{
	b->t[id].on = 1;
	b->t[id].old = NULL;
	b->ids[b->n++] = id;
}

static int vips_reserve(struct cp_model *m)
{
	struct cp_vip *n;
	size_t cap;

	if (m->n_vips < m->cap_vips)
		return 0;
	cap = m->cap_vips ? 2 * m->cap_vips : 8;
	n = realloc(m->vips, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->vips = n;
	m->cap_vips = cap;
	return 0;
}

static int backends_reserve(struct cp_vip *v)
{
	struct cp_backend *n;
	size_t cap;

	if (v->n_backends < v->cap_backends)
		return 0;
	cap = v->cap_backends ? 2 * v->cap_backends : 4;
	n = realloc(v->backends, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	v->backends = n;
	v->cap_backends = cap;
	return 0;
}

static int mut_vip_add(struct cp_model *m, struct model_batch *b, const struct cp_request *r)
{
	struct cp_vip *v;
	struct cp_vip_spec s;
	__u32 id;
	int err = vips_reserve(m);

	if (err)
		return err;
	/* Can fail only when ids freed earlier in this batch are still
	 * reserved; cp_model_apply_diff removes in one batch, adds in another. */
	err = adopted_vip_id(m, &r->vip, &id) ? id_alloc(m->vip_ids_used, m->limits.max_vips, &id)
					       : 0;
	if (err)
		return err;
	model_spec_build(NULL, r, &s);
	v = &m->vips[m->n_vips++];
	memset(v, 0, sizeof(*v));
	v->key = r->vip;
	v->id = id;
	v->spec = s;
	batch_touch_added(b, id);
	return 0;
}

static int mut_vip_set(struct cp_vip *v, struct model_batch *b, const struct cp_request *r)
{
	struct cp_vip_spec s;
	int err = batch_touch(b, v);

	if (err)
		return err;
	model_spec_build(v, r, &s);
	v->spec = s;
	return 0;
}

static int mut_vip_del(struct cp_model *m, struct cp_vip *v, struct model_batch *b)
{
	size_t i = (size_t)(v - m->vips);
	int err = batch_touch(b, v);

	if (err)
		return err;
	model_vip_release(v);
	memmove(v, v + 1, (m->n_vips - i - 1) * sizeof(*v));
	m->n_vips--;
	return 0;
}

static int mut_backend_add(struct cp_model *m, struct cp_vip *v, struct model_batch *b,
			   const struct cp_request *r)
{
	struct cp_backend *be;
	__u32 id, gen = 0;
	int err = batch_touch(b, v);

	if (!err)
		err = backends_reserve(v);
	if (!err && adopted_backend_id(m, v->id, r, &id, &gen))
		err = id_alloc(m->backend_ids_used, m->limits.max_backends, &id);
	if (err)
		return err;
	be = &v->backends[v->n_backends++];
	memset(be, 0, sizeof(*be));
	be->addr = r->backend;
	be->family = r->backend_family;
	be->weight = r->weight;
	be->draining = !!r->drain;
	be->health = CP_HEALTH_UNKNOWN;
	be->id = id;
	be->gen = gen ? gen : gen_next(m);
	return 0;
}

static int mut_backend(struct cp_vip *v, struct model_batch *b, const struct cp_request *r)
{
	struct cp_backend *be;
	int err = batch_touch(b, v);

	if (err)
		return err;
	be = cp_vip_find_backend(v, &r->backend, r->backend_family);
	if (r->op == CP_OP_BACKEND_DEL) {
		size_t i = (size_t)(be - v->backends);

		memmove(be, be + 1, (v->n_backends - i - 1) * sizeof(*be));
		v->n_backends--;
		return 0;
	}
	if (r->op == CP_OP_HEALTH_REPORT) {
		be->health = r->health;
		if (r->fields & CP_F_LATENCY)
			be->latency_us = r->latency_us;
		if (r->fields & CP_F_REASON)
			snprintf(be->last_check, sizeof(be->last_check), "%s", r->reason);
		return 0;
	}
	if (r->fields & CP_F_WEIGHT)
		be->weight = r->weight;
	if (r->fields & CP_F_DRAIN)
		be->draining = !!r->drain;
	return 0;
}

static int mutate(struct cp_model *m, struct model_batch *b, const struct cp_request *r)
{
	struct cp_vip *v = cp_model_find_vip(m, &r->vip);

	switch (r->op) {
	case CP_OP_VIP_ADD:
		return mut_vip_add(m, b, r);
	case CP_OP_VIP_SET:
		return mut_vip_set(v, b, r);
	case CP_OP_VIP_DEL:
		return mut_vip_del(m, v, b);
	case CP_OP_BACKEND_ADD:
		return mut_backend_add(m, v, b, r);
	case CP_OP_BACKEND_SET:
	case CP_OP_BACKEND_DEL:
	case CP_OP_HEALTH_REPORT:
		return mut_backend(v, b, r);
	default:
		return -EINVAL;
	}
}

/* Checks r and applies it to the model inside batch b. */
int model_batch_change(struct cp_model *m, struct model_batch *b, const struct cp_request *r,
			struct cp_error *e)
{
	int err = cp_model_check(m, r, e);

	if (err)
		return err;
	err = mutate(m, b, r);
	if (err)
		return cp_error_set(e, err, "model", "cannot apply: %s", strerror(-err));
	b->changes++;
	return 0;
}

static int build_rings(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	for (size_t i = 0; i < b->n; i++) {
		struct model_touch *t = &b->t[b->ids[i]];
		struct cp_vip *v = model_vip_by_id(m, b->ids[i]);
		const struct cp_vip *o = t->old;
		int err;

		if (!v)
			continue;
		if (o && o->ring && same_ring_inputs(o, v)) {
			t->keep = 1;
			continue;
		}
		if (!b->rings)
			continue;
		err = model_ring_build(m, v, &t->ring, &t->digest);
		if (err)
			return cp_error_set(e, err, "vip", "cannot build the ring: %s",
					    strerror(-err));
		t->push = !(o && o->ring && o->spec.ring_size == v->spec.ring_size &&
			    !memcmp(o->ring, t->ring, (size_t)v->spec.ring_size * sizeof(*t->ring)));
	}
	return 0;
}

/* Frees the ids the batch removed: every id of the old state is cleared,
 * every id of the new one set (ids are unique across the model). */
static void ids_update(struct cp_model *m, const struct cp_vip *o, const struct cp_vip *v,
		       __u32 vip_id)
{
	for (size_t j = 0; o && j < o->n_backends; j++)
		bit_clear(m->backend_ids_used, o->backends[j].id);
	for (size_t j = 0; v && j < v->n_backends; j++)
		bit_set(m->backend_ids_used, v->backends[j].id);
	if (v)
		bit_set(m->vip_ids_used, vip_id);
	else
		bit_clear(m->vip_ids_used, vip_id);
}

static void batch_commit(struct cp_model *m, struct model_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct model_touch *t = &b->t[b->ids[i]];
		struct cp_vip *v = model_vip_by_id(m, b->ids[i]);

		ids_update(m, t->old, v, b->ids[i]);
		if (v && t->keep) {
			v->ring = t->old->ring;
			v->digest = t->old->digest;
			t->old->ring = NULL;
		} else if (v) {
			v->ring = t->ring;
			v->digest = t->ring ? t->digest : 0;
			t->ring = NULL;
		}
	}
}

static int order_cmp(const void *a, const void *b, void *arg)
{
	const size_t *order = arg;
	size_t x = order[((const struct cp_vip *)a)->id], y = order[((const struct cp_vip *)b)->id];

	return x < y ? -1 : x > y;
}

/* Puts every touched VIP back as it was before the batch, in its place. */
static void restore_model(struct cp_model *m, struct model_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct model_touch *t = &b->t[b->ids[i]];
		struct cp_vip *v = model_vip_by_id(m, b->ids[i]);

		if (v && !t->old) {
			model_vip_release(v);
			memmove(v, v + 1, (size_t)(m->vips + m->n_vips - v - 1) * sizeof(*v));
			m->n_vips--;
		} else if (v) {
			model_vip_release(v);
			*v = *t->old;
			free(t->old);
			t->old = NULL;
		}
	}
	/* Deleted VIPs last: the array has room, the batch only shrank it
	 * for them (capacity never shrinks). */
	for (size_t i = 0; i < b->n; i++) {
		struct model_touch *t = &b->t[b->ids[i]];

		if (!t->old)
			continue;
		m->vips[m->n_vips++] = *t->old;
		free(t->old);
		t->old = NULL;
	}
	if (m->n_vips > 1)
		qsort_r(m->vips, m->n_vips, sizeof(*m->vips), order_cmp, b->order);
}

/* Ids the failed batch may have pushed and the restored model lacks. */
static __u8 *ids_only_in_new(const struct cp_model *m, const struct model_batch *b)
{
	__u8 *map = calloc((m->limits.max_backends + 7) / 8, 1);

	for (size_t i = 0; map && i < b->n; i++) {
		const struct cp_vip *v = model_vip_by_id(m, b->ids[i]);

		for (size_t j = 0; v && j < v->n_backends; j++)
			if (!model_backend_by_id(b->t[b->ids[i]].old, v->backends[j].id))
				bit_set(map, v->backends[j].id);
	}
	return map;
}

void model_batch_rollback(struct cp_model *m, struct model_batch *b, int pushed)
{
	__u8 *retire = pushed && drv(m) ? ids_only_in_new(m, b) : NULL;

	restore_model(m, b);
	ids_rebuild(m);
	if (pushed && drv(m)) {
		pr_warn("restoring the fast path after a failed change\n");
		model_push_resync(m, b, retire);
	}
	free(retire);
}

int model_batch_flush(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	int err = build_rings(m, b, e);

	if (err) {
		model_batch_rollback(m, b, 0);
		return err;
	}
	err = model_push_changes(m, b, e);
	if (err) {
		model_batch_rollback(m, b, 1);
		return err;
	}
	batch_commit(m, b);
	return 0;
}

/* One change. rings: 0 only while loading a driverless target. */
int model_apply_one(struct cp_model *m, const struct cp_request *r, struct cp_error *e,
		     int rings)
{
	struct model_batch b;
	int err;

	if (r->op == CP_OP_NODE_SET) {
		err = cp_model_check(m, r, e);
		return err ? err : model_node_apply(m, r, e);
	}
	err = model_batch_begin(m, &b, rings);
	if (err) {
		model_batch_end(&b);
		return cp_error_set(e, -ENOMEM, "model", "out of memory");
	}
	err = model_batch_change(m, &b, r, e);
	if (err)
		model_batch_rollback(m, &b, 0);
	else
		err = model_batch_flush(m, &b, e);
	model_batch_end(&b);
	return err;
}

int cp_model_apply(struct cp_model *m, const struct cp_request *r, struct cp_error *e)
{
	int err = model_apply_one(m, r, e, 1);

	if (err)
		m->stats.changes_rejected++;
	else
		m->stats.changes_applied++;
	return err;
}
