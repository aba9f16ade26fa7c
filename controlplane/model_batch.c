// SPDX-License-Identifier: Apache-2.0
/*
 * model_batch.c - how a change travels (cp_model_apply). Every change
 * request is checked against the model first (cp_model_check,
 * model_check.c); nothing is touched until it passes. It then runs
 * inside a "batch":
 *
 *   1. mutate: the model is changed in place; the first time the batch
 *      touches a VIP, a deep copy of it (its "snapshot") is kept, and its
 *      last pushed ring moves into that copy;
 *   2. build: the ring of every touched VIP is rebuilt, unless its inputs
 *      (ring size; id and weight of every usable backend) are unchanged,
 *      by a crew of helper threads (crew.h), one per spare core;
 *   3. push, in the order the fast path needs (model_push.c): the backends
 *      that come into use while the rings are being built, the rest once
 *      they are;
 *   4. commit (drop the snapshots), or roll back (put them back, and
 *      re-push what was there if the driver failed half way).
 *
 * One request is one batch (cp_model_apply). cp_model_apply_diff puts
 * many requests in one batch so that a SIGHUP rebuilds and flips each
 * VIP's ring once, not once per backend: fewer intermediate rings that
 * move flows around, and 100 VIPs x 100 backends cost 100 ring builds.
 * The push is one driver batch (driver.h batch_begin/end): every ring
 * and the VIP table flip without waiting, and one grace period at the
 * end covers them all, before the batch frees any id. A long batch lets
 * the model's owner serve read-only requests between VIPs and during
 * that grace period, which runs on a helper thread (m->yield).
 *
 * Not thread-safe: sluiced's control thread owns the model. The crew
 * only reads it, while the control thread only pushes and serves readers.
 */
#define LB_LOG_PREFIX "model: "

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "model_int.h"

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
	err = model_adopted_vip_id(m, &r->vip, &id) ? model_id_alloc(m->vip_ids_used, m->limits.max_vips,
								      &m->vip_id_hint, &id)
					       : 0;
	if (err)
		return err;
	model_spec_build(NULL, r, &s);
	v = &m->vips[m->n_vips++];
	memset(v, 0, sizeof(*v));
	v->key = r->vip;
	v->id = id;
	v->spec = s;
	model_vip_addr_count(m, v, 1);
	batch_touch_added(b, id);
	return 0;
}

static int mut_vip_set(struct cp_model *m, struct cp_vip *v, struct model_batch *b,
		       const struct cp_request *r)
{
	struct cp_vip_spec s, old = v->spec;
	int err = batch_touch(b, v);

	if (err)
		return err;
	model_spec_build(v, r, &s);
	v->spec = s;
	model_health_vip_set(m, v, &old);
	return 0;
}

static int mut_vip_del(struct cp_model *m, struct cp_vip *v, struct model_batch *b)
{
	size_t i = (size_t)(v - m->vips);
	int err = batch_touch(b, v);

	if (err)
		return err;
	for (size_t j = 0; j < v->n_backends; j++)
		model_addr_count(m, v, &v->backends[j], -1);
	model_vip_addr_count(m, v, -1);
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
	if (!err && model_adopted_backend_id(m, v->id, r, &id, &gen))
		err = model_id_alloc(m->backend_ids_used, m->limits.max_backends,
				     &m->backend_id_hint, &id);
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
	be->gen = gen ? gen : model_gen_next(m);
	b->backends_added++;
	model_addr_count(m, v, be, 1);
	model_health_added(m, v, be);
	return 0;
}

static int mut_backend(struct cp_model *m, struct cp_vip *v, struct model_batch *b,
		       const struct cp_request *r)
{
	struct cp_backend *be;
	int err = batch_touch(b, v);

	if (err)
		return err;
	be = cp_vip_find_backend(v, &r->backend, r->backend_family);
	if (r->op == CP_OP_BACKEND_DEL) {
		size_t i = (size_t)(be - v->backends);

		model_addr_count(m, v, be, -1);
		memmove(be, be + 1, (v->n_backends - i - 1) * sizeof(*be));
		v->n_backends--;
		return 0;
	}
	if (r->op == CP_OP_HEALTH_REPORT || r->op == CP_OP_HEALTH_SET ||
	    r->op == CP_OP_HEALTH_CLEAR) {
		model_health_change(m, be, r);
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
		return mut_vip_set(m, v, b, r);
	case CP_OP_VIP_DEL:
		return mut_vip_del(m, v, b);
	case CP_OP_BACKEND_ADD:
		return mut_backend_add(m, v, b, r);
	case CP_OP_BACKEND_SET:
	case CP_OP_BACKEND_DEL:
	case CP_OP_HEALTH_REPORT:
	case CP_OP_HEALTH_SET:
	case CP_OP_HEALTH_CLEAR:
		return mut_backend(m, v, b, r);
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
	model_yield(m);
	return 0;
}

/* Step 2 as jobs for a crew: the touched VIPs whose ring inputs changed,
 * built on helper threads while the control thread pushes step 1. */
struct ring_jobs {
	struct model_batch *b;
	const struct cp_vip **vips;
	__u64 *ns;		/* each build's duration */
	size_t n;
	struct cp_crew crew;
};

static int ring_job(void *arg, size_t i)
{
	struct ring_jobs *j = arg;
	const struct cp_vip *v = j->vips[i];
	struct model_touch *t = &j->b->t[v->id];
	const struct cp_vip *o = t->old;
	int err = model_ring_build(v, &t->ring, &t->digest, &j->ns[i]);

	if (err)
		return err;
	t->push = !(o && o->ring && o->spec.ring_size == v->spec.ring_size &&
		    !memcmp(o->ring, t->ring, (size_t)v->spec.ring_size * sizeof(*t->ring)));
	return 0;
}

/* Marks the VIPs that keep their ring and starts building the others. */
static int rings_start(struct cp_model *m, struct model_batch *b, struct ring_jobs *j)
{
	memset(j, 0, sizeof(*j));
	j->b = b;
	j->vips = calloc(b->n + 1, sizeof(*j->vips));
	j->ns = calloc(b->n + 1, sizeof(*j->ns));
	if (!j->vips || !j->ns)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		struct model_touch *t = &b->t[b->ids[i]];
		const struct cp_vip *v = model_vip_by_id(m, b->ids[i]);
		const struct cp_vip *o = t->old;

		if (!v)
			continue;
		if (o && o->ring && same_ring_inputs(o, v))
			t->keep = 1;
		else if (b->rings)
			j->vips[j->n++] = v;
	}
	cp_crew_start(&j->crew, j->n, ring_job, j, CP_CREW_MAX);
	return 0;
}

/* Builds what is left, waits for the helpers and counts the builds. */
static int rings_join(struct cp_model *m, struct ring_jobs *j)
{
	int err = cp_model_crew_join(m, &j->crew, 1);

	for (size_t i = 0; i < j->n; i++)
		model_ring_count(m, j->ns[i]);
	return err;
}

static void rings_free(struct ring_jobs *j)
{
	free(j->vips);
	free(j->ns);
}

/* Frees the ids the batch removed: every id of the old state is cleared,
 * every id of the new one set (ids are unique across the model). */
static void ids_update(struct cp_model *m, const struct cp_vip *o, const struct cp_vip *v,
		       __u32 vip_id)
{
	for (size_t j = 0; o && j < o->n_backends; j++) {
		bit_clear(m->backend_ids_used, o->backends[j].id);
		if (o->backends[j].id < m->backend_id_hint)
			m->backend_id_hint = o->backends[j].id;
	}
	for (size_t j = 0; v && j < v->n_backends; j++)
		bit_set(m->backend_ids_used, v->backends[j].id);
	if (v) {
		bit_set(m->vip_ids_used, vip_id);
	} else {
		bit_clear(m->vip_ids_used, vip_id);
		if (vip_id < m->vip_id_hint)
			m->vip_id_hint = vip_id;
	}
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
	model_ids_rebuild(m);
	if (pushed && drv(m)) {
		pr_warn("restoring the fast path after a failed change\n");
		model_push_resync(m, b, retire);
	}
	free(retire);
}

static int grace_period(void *arg)
{
	struct cp_model *m = arg;

	return drv(m)->batch_end(m->driver->ctx);
}

/* The batch's one grace period, on a helper thread while the owner serves
 * readers; the control thread writes nothing meanwhile, and the join
 * orders the helper's writes before ours. */
static int push_end(struct cp_model *m)
{
	return cp_model_beside(m, grace_period, m);
}

/* Pushes b as one driver batch while its rings are built (j); on
 * failure b is rolled back (a failed push resynced inside the same
 * batch). The grace period only completes a push that is already live;
 * if it fails, the tables wait for one before their next write
 * (lib/tables.h), so the batch still commits. */
static int push_batch(struct cp_model *m, struct model_batch *b, struct ring_jobs *j,
		      struct cp_error *e)
{
	int batched = drv(m) && drv(m)->batch_begin && drv(m)->batch_end, err = 0, rerr, gerr;

	if (batched)
		err = drv(m)->batch_begin(m->driver->ctx);
	if (err) {
		rings_join(m, j);
		model_batch_rollback(m, b, 0);
		return cp_error_set(e, err, "fastpath", "cannot begin a batch: %s",
				    strerror(-err));
	}
	err = model_push_promotions(m, b, e);
	rerr = rings_join(m, j);
	if (!err && rerr)
		err = cp_error_set(e, rerr, "vip", "cannot build the ring: %s", strerror(-rerr));
	if (!err)
		err = model_push_rest(m, b, e);
	if (err)
		model_batch_rollback(m, b, 1);
	gerr = batched ? push_end(m) : 0;
	if (gerr)
		pr_warn("fast path: grace period after a batch failed: %s (retried before the next write)\n",
			strerror(-gerr));
	return err;
}

int model_batch_flush(struct cp_model *m, struct model_batch *b, struct cp_error *e)
{
	struct ring_jobs j;
	int err = rings_start(m, b, &j);

	if (err) {
		rings_free(&j);
		model_batch_rollback(m, b, 0);
		return cp_error_set(e, err, "model", "no memory for the rings");
	}
	err = push_batch(m, b, &j, e);
	rings_free(&j);
	if (!err)
		batch_commit(m, b);
	return err;
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

int model_batch_run(struct cp_model *m, int rings, model_batch_fill_fn fill, void *arg,
		    struct cp_error *e)
{
	struct model_batch b;
	int err = model_batch_begin(m, &b, rings);

	if (err)
		err = cp_error_set(e, -ENOMEM, "model", "out of memory");
	if (!err) {
		err = fill(m, &b, arg, e);
		if (err)
			model_batch_rollback(m, &b, 0);
		else
			err = model_batch_flush(m, &b, e);
	}
	if (err)
		m->stats.changes_rejected++;
	else
		m->stats.changes_applied += b.changes;
	if (!err)
		err = (int)b.changes;
	model_batch_end(&b);
	return err;
}

struct many {
	const struct cp_request *rs;
	size_t n;
	size_t *bad;
};

static int fill_many(struct cp_model *m, struct model_batch *b, void *arg, struct cp_error *e)
{
	const struct many *x = arg;
	int err = 0;

	for (size_t i = 0; i < x->n && !err; i++) {
		const struct cp_op_def *d = cp_op_def(x->rs[i].op);

		/* node set pushes at once, outside any batch (model_node_apply). */
		if (!d || !d->change || x->rs[i].op == CP_OP_NODE_SET)
			err = cp_error_set(e, -EINVAL, "op", "%s cannot be part of a batch",
					   d ? d->name : "this op");
		else
			err = model_batch_change(m, b, &x->rs[i], e);
		if (err)
			*x->bad = i;
	}
	return err;
}

int cp_model_apply_many(struct cp_model *m, const struct cp_request *rs, size_t n, size_t *bad,
			struct cp_error *e)
{
	struct many x = { rs, n, bad };
	int err;

	*bad = n;
	err = model_batch_run(m, 1, fill_many, &x, e);
	if (err >= 0)
		*bad = 0;
	return err < 0 ? err : 0;
}

/* Overrides whose time is up end as a health.clear through the engine,
 * like any change (model_health.c keeps the rules). */
static int expire_one(struct cp_model *m, const struct cp_vip *v, const struct cp_backend *be)
{
	struct cp_error e = { "", "" };
	struct cp_request r;
	char a[64], k[96];
	int err;

	cp_request_init(&r, CP_OP_HEALTH_CLEAR);
	r.fields = CP_F_VIP | CP_F_BACKEND;
	r.vip = v->key;
	r.backend = be->addr;
	r.backend_family = be->family;
	model_fmt_vip(&v->key, k, sizeof(k));
	model_fmt_addr(&be->addr, be->family, a, sizeof(a));
	err = cp_model_apply(m, &r, &e);
	if (err)
		pr_warn("%s %s: cannot end its override: %s: %s\n", k, a, e.field, e.msg);
	else
		pr_info("%s %s: override expired; health is %s again\n", k, a,
			cp_backend_health(cp_vip_find_backend(cp_model_find_vip(m, &r.vip),
							      &r.backend, r.backend_family)) ==
					CP_HEALTH_DOWN ? "down" : "up");
	return err;
}

int cp_model_health_expire(struct cp_model *m)
{
	__u64 now = cp_model_now_ms(m);
	int n = 0;

	/* Indices, not pointers: a change copies and may move arrays, but
	 * clearing an override adds or removes nothing. */
	for (size_t i = 0; i < m->n_vips; i++) {
		for (size_t j = 0; j < m->vips[i].n_backends; j++) {
			const struct cp_backend *be = &m->vips[i].backends[j];
			int err;

			if (be->override == CP_HEALTH_UNKNOWN || !be->override_until_ms ||
			    be->override_until_ms > now)
				continue;
			err = expire_one(m, &m->vips[i], be);
			if (err)
				return err;
			n++;
		}
	}
	return n;
}
