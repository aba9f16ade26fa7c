/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mock_driver.h - a fast-path driver (controlplane/driver.h) for unit
 * tests, header-only. It records every call in order (op, ids, argument)
 * and keeps what a fast path would hold after them: the config, the VIP
 * table, each VIP's flags and ring, each backend entry. Tests then assert
 * exactly what reached the fast path, and in which order.
 *
 * It also plays the fast path's side of the publishing contract and
 * counts every breach in `violations` (the first one described in
 * `violation`), so that every test checks the ordering rules for free:
 *  - a ring names only backend ids whose entry is UP;
 *  - a backend id named by a ring never leaves UP (DRAINING, DOWN or
 *    UNUSED come after the ring without it);
 *  - the VIP table names only VIP ids with a ring published;
 *  - a VIP's ring is emptied only when no table entry leads to it.
 *
 * Grace periods are counted (`graces`) as lib/tables.c waits them: after
 * each flip (ring, VIP table) outside a batch; inside a batch
 * (batch_begin/end, not recorded as calls) once at the end if anything
 * was flipped or taken out of use, plus one before a write into a ring
 * or table flipped since the last grace period, or before a backend id
 * taken out of use since then gets a new identity.
 *
 * Failure injection: fail_at = N makes the N-th recorded call (0-based)
 * fail with fail_err, before it changes anything. Single-threaded.
 */
#ifndef SLUICE_TESTS_MOCK_DRIVER_H
#define SLUICE_TESTS_MOCK_DRIVER_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>

#include "driver.h"

enum mock_op {
	MOCK_ATTACH,
	MOCK_DETACH,
	MOCK_SET_CONFIG,
	MOCK_SET_VIPS,
	MOCK_SET_VIP_FLAGS,
	MOCK_SET_RING,
	MOCK_SET_BACKEND,
	MOCK_SET_BACKEND_STATE,
};

struct mock_call {
	enum mock_op op;
	__u32 id;		/* vip id or backend id; VIP table: entry count */
	__u32 arg;		/* flags, ring size, backend state */
	char ifname[IF_NAMESIZE];
};

#define MOCK_MAX_IFACES 16

struct mock_driver {
	struct cp_driver drv;
	struct cp_driver_ops ops;
	struct lb_params params;

	struct mock_call *calls;
	size_t n_calls, cap_calls;

	/* What the fast path holds. */
	struct lb_config config;
	struct lb_vip_entry *vips;	/* last table */
	size_t n_vips;
	int vips_set;			/* set_vips called at least once */
	__u32 *vip_flags;		/* [max_vips] */
	__u32 **rings;			/* [max_vips]: copy of the last ring, or NULL */
	__u32 *ring_size;		/* [max_vips]: its size (0: none / emptied) */
	struct lb_backend *backends;	/* [max_backends] */
	char ifaces[MOCK_MAX_IFACES][IF_NAMESIZE];
	int n_ifaces;

	/* Grace periods, as lib/tables.c would wait them. */
	unsigned long graces;
	unsigned long batches;		/* batch_end calls */
	int in_batch;
	int dirty;			/* flipped or retired since the last grace */
	__u8 table_flipped;
	__u8 *ring_flipped;		/* [max_vips] */
	__u8 *retired;			/* [max_backends] */

	long fail_at;			/* -1: never */
	int fail_err;
	unsigned int violations;
	char violation[256];
};

static inline void mock_violation(struct mock_driver *md, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void mock_violation(struct mock_driver *md, const char *fmt, ...)
{
	va_list ap;

	if (!md->violations++) {
		va_start(ap, fmt);
		vsnprintf(md->violation, sizeof(md->violation), fmt, ap);
		va_end(ap);
	}
}

/* Records a call; returns the injected error if this is the one to fail. */
static inline int mock_record(struct mock_driver *md, enum mock_op op, __u32 id, __u32 arg,
		       const char *ifname)
{
	struct mock_call *c;

	if (md->n_calls == md->cap_calls) {
		size_t cap = md->cap_calls ? 2 * md->cap_calls : 64;
		struct mock_call *n = realloc(md->calls, cap * sizeof(*n));

		if (!n)
			abort();
		md->calls = n;
		md->cap_calls = cap;
	}
	c = &md->calls[md->n_calls];
	memset(c, 0, sizeof(*c));
	c->op = op;
	c->id = id;
	c->arg = arg;
	if (ifname)
		snprintf(c->ifname, sizeof(c->ifname), "%s", ifname);
	if ((long)md->n_calls++ == md->fail_at)
		return -md->fail_err;
	return 0;
}

/* 1 if some published ring names backend id. */
static inline int mock_ring_names(const struct mock_driver *md, __u32 id)
{
	for (__u32 v = 0; v < md->params.max_vips; v++)
		for (__u32 i = 0; i < md->ring_size[v]; i++)
			if (md->rings[v][i] == id)
				return 1;
	return 0;
}

static inline int mock_table_names(const struct mock_driver *md, __u32 vip_id)
{
	for (size_t i = 0; i < md->n_vips; i++)
		if (md->vips[i].vip_id == vip_id)
			return 1;
	return 0;
}

static inline void mock_grace(struct mock_driver *md)
{
	md->graces++;
	md->dirty = 0;
	md->table_flipped = 0;
	memset(md->ring_flipped, 0, md->params.max_vips);
	memset(md->retired, 0, md->params.max_backends);
}

/* A flip of what *flag marks: a grace period first if it was flipped
 * since the last one; then its own grace period outside a batch. */
static inline void mock_flip(struct mock_driver *md, __u8 *flag)
{
	if (*flag)
		mock_grace(md);
	*flag = 1;
	md->dirty = 1;
	if (!md->in_batch)
		mock_grace(md);
}

static inline int mock_batch_begin(void *ctx)
{
	struct mock_driver *md = ctx;

	if (md->in_batch)
		mock_violation(md, "batch_begin inside a batch");
	md->in_batch = 1;
	return 0;
}

static inline int mock_batch_end(void *ctx)
{
	struct mock_driver *md = ctx;

	if (!md->in_batch)
		mock_violation(md, "batch_end outside a batch");
	md->in_batch = 0;
	md->batches++;
	if (md->dirty)
		mock_grace(md);
	return 0;
}

static inline const struct lb_params *mock_params(void *ctx)
{
	return &((struct mock_driver *)ctx)->params;
}

static inline int mock_attach(void *ctx, const char *ifname)
{
	struct mock_driver *md = ctx;
	int err = mock_record(md, MOCK_ATTACH, 0, 0, ifname);

	if (err)
		return err;
	for (int i = 0; i < md->n_ifaces; i++)
		if (!strcmp(md->ifaces[i], ifname))
			mock_violation(md, "attach %s twice", ifname);
	if (md->n_ifaces < MOCK_MAX_IFACES)
		snprintf(md->ifaces[md->n_ifaces++], IF_NAMESIZE, "%s", ifname);
	return 0;
}

static inline int mock_detach(void *ctx, const char *ifname)
{
	struct mock_driver *md = ctx;
	int err = mock_record(md, MOCK_DETACH, 0, 0, ifname);

	if (err)
		return err;
	for (int i = 0; i < md->n_ifaces; i++) {
		if (!strcmp(md->ifaces[i], ifname)) {
			memmove(md->ifaces[i], md->ifaces[i + 1],
				(size_t)(md->n_ifaces - i - 1) * IF_NAMESIZE);
			md->n_ifaces--;
			return 0;
		}
	}
	mock_violation(md, "detach %s, which is not attached", ifname);
	return -ENOENT;
}

static inline int mock_set_config(void *ctx, const struct lb_config *cfg)
{
	struct mock_driver *md = ctx;
	int err = mock_record(md, MOCK_SET_CONFIG, 0, cfg->flags, NULL);

	if (!err)
		md->config = *cfg;
	return err;
}

static inline int mock_set_vips(void *ctx, const struct lb_vip_entry *v, size_t n)
{
	struct mock_driver *md = ctx;
	int err = mock_record(md, MOCK_SET_VIPS, (__u32)n, 0, NULL);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		__u32 id = v[i].vip_id;

		if (id == LB_VIP_ID_ADDR)
			continue;
		if (id >= md->params.max_vips)
			mock_violation(md, "VIP table names vip id %u >= max_vips", id);
		else if (!md->ring_size[id])
			mock_violation(md, "VIP table names vip %u before its ring", id);
	}
	mock_flip(md, &md->table_flipped);
	free(md->vips);
	md->vips = n ? malloc(n * sizeof(*v)) : NULL;
	if (n && !md->vips)
		abort();
	if (n)
		memcpy(md->vips, v, n * sizeof(*v));
	md->n_vips = n;
	md->vips_set = 1;
	return 0;
}

static inline int mock_set_vip_flags(void *ctx, __u32 vip_id, __u32 flags)
{
	struct mock_driver *md = ctx;
	int err = mock_record(md, MOCK_SET_VIP_FLAGS, vip_id, flags, NULL);

	if (err)
		return err;
	if (vip_id >= md->params.max_vips)
		return -EINVAL;
	md->vip_flags[vip_id] = flags;
	return 0;
}

static inline int mock_set_ring(void *ctx, __u32 vip_id, const __u32 *ring, __u32 m)
{
	struct mock_driver *md = ctx;
	int err = mock_record(md, MOCK_SET_RING, vip_id, m, NULL);

	if (err)
		return err;
	if (vip_id >= md->params.max_vips || m > md->params.max_ring)
		return -EINVAL;
	for (__u32 i = 0; i < m; i++) {
		__u32 id = ring[i];

		if (id == LB_BACKEND_NONE)
			continue;
		if (id >= md->params.max_backends || md->backends[id].state != LB_BACKEND_UP) {
			mock_violation(md, "ring of vip %u names backend %u, state %u", vip_id, id,
				       id < md->params.max_backends ? md->backends[id].state : 0);
			break;
		}
	}
	if (!m && mock_table_names(md, vip_id))
		mock_violation(md, "ring of vip %u emptied while the VIP table names it", vip_id);
	mock_flip(md, &md->ring_flipped[vip_id]);
	free(md->rings[vip_id]);
	md->rings[vip_id] = m ? malloc((size_t)m * sizeof(*ring)) : NULL;
	if (m && !md->rings[vip_id])
		abort();
	if (m)
		memcpy(md->rings[vip_id], ring, (size_t)m * sizeof(*ring));
	md->ring_size[vip_id] = m;
	return 0;
}

static inline void mock_check_leaving_up(struct mock_driver *md, __u32 id, __u8 state)
{
	if (md->backends[id].state == LB_BACKEND_UP && state != LB_BACKEND_UP &&
	    mock_ring_names(md, id))
		mock_violation(md, "backend %u leaves UP (to %u) while a ring names it", id, state);
}

static inline int mock_set_backend(void *ctx, __u32 id, const struct lb_backend *b)
{
	struct mock_driver *md = ctx;
	int err = mock_record(md, MOCK_SET_BACKEND, id, b->state, NULL);

	if (err)
		return err;
	if (id >= md->params.max_backends)
		return -EINVAL;
	mock_check_leaving_up(md, id, b->state);
	if (md->backends[id].state != LB_BACKEND_UNUSED && mock_ring_names(md, id) &&
	    (md->backends[id].gen != b->gen ||
	     memcmp(&md->backends[id].addr, &b->addr, sizeof(b->addr))))
		mock_violation(md, "backend %u rewritten as another backend while a ring names it",
			       id);
	if (md->backends[id].family && (md->backends[id].gen != b->gen ||
	    memcmp(&md->backends[id].addr, &b->addr, sizeof(b->addr)))) {
		/* A new identity: out of use, then a grace period first. */
		if (md->backends[id].state != LB_BACKEND_UNUSED)
			md->retired[id] = 1;
		if (md->retired[id])
			mock_grace(md);
	}
	md->backends[id] = *b;
	return 0;
}

static inline int mock_set_backend_state(void *ctx, __u32 id, __u8 state)
{
	struct mock_driver *md = ctx;
	int err = mock_record(md, MOCK_SET_BACKEND_STATE, id, state, NULL);

	if (err)
		return err;
	if (id >= md->params.max_backends)
		return -EINVAL;
	mock_check_leaving_up(md, id, state);
	if (state == LB_BACKEND_UNUSED && md->backends[id].state != LB_BACKEND_UNUSED) {
		md->retired[id] = 1;
		md->dirty = 1;
	}
	md->backends[id].state = state;
	return 0;
}

static inline int mock_vip_stats(void *ctx, __u32 vip_id, struct lb_vip_stats *out)
{
	(void)ctx;
	(void)vip_id;
	memset(out, 0, sizeof(*out));
	return 0;
}

static inline int mock_backend_stats(void *ctx, __u32 id, struct lb_backend_stats *out)
{
	(void)ctx;
	(void)id;
	memset(out, 0, sizeof(*out));
	return 0;
}

static inline int mock_reason_stats(void *ctx, struct lb_reason_stats out[LB_R_MAX])
{
	(void)ctx;
	memset(out, 0, sizeof(struct lb_reason_stats) * LB_R_MAX);
	return 0;
}

static inline int mock_flow_foreach(void *ctx,
			     int (*fn)(const struct lb_flow_key *key, __u32 backend_id,
				       __u32 idle_ms, void *arg),
			     void *arg)
{
	(void)ctx;
	(void)fn;
	(void)arg;
	return 0;
}

static inline void mock_close(void *ctx)
{
	(void)ctx;
}

/* Sets md up as an empty fast path of the given sizes. */
/* Read-back, as a fast path that kept its maps across a restart. */
static inline int mock_backend_get(void *ctx, __u32 id, struct lb_backend *out)
{
	struct mock_driver *md = ctx;

	if (id >= md->params.max_backends)
		return -EINVAL;
	*out = md->backends[id];
	return 0;
}

static inline int mock_vip_find(void *ctx, const struct lb_vip_key *key, __u32 *vip_id)
{
	struct mock_driver *md = ctx;

	for (size_t i = 0; i < md->n_vips; i++) {
		if (!memcmp(&md->vips[i].key, key, sizeof(*key))) {
			*vip_id = md->vips[i].vip_id;
			return 0;
		}
	}
	return -ENOENT;
}

static inline void mock_init(struct mock_driver *md, __u32 max_vips, __u32 max_backends,
		      __u32 max_ring, __u32 vip_slots)
{
	memset(md, 0, sizeof(*md));
	md->params.max_vips = max_vips;
	md->params.max_backends = max_backends;
	md->params.max_ring = max_ring;
	md->params.vip_slots = vip_slots;
	md->params.flow_buckets = 1024;
	md->params.nr_cpus = 1;
	md->vip_flags = calloc(max_vips, sizeof(*md->vip_flags));
	md->rings = calloc(max_vips, sizeof(*md->rings));
	md->ring_size = calloc(max_vips, sizeof(*md->ring_size));
	md->backends = calloc(max_backends, sizeof(*md->backends));
	md->ring_flipped = calloc(max_vips, 1);
	md->retired = calloc(max_backends, 1);
	if (!md->vip_flags || !md->rings || !md->ring_size || !md->backends ||
	    !md->ring_flipped || !md->retired)
		abort();
	md->fail_at = -1;
	md->fail_err = EIO;
	md->ops = (struct cp_driver_ops){
		.name = "mock",
		.params = mock_params,
		.attach = mock_attach,
		.detach = mock_detach,
		.set_config = mock_set_config,
		.set_vips = mock_set_vips,
		.set_vip_flags = mock_set_vip_flags,
		.set_ring = mock_set_ring,
		.set_backend = mock_set_backend,
		.set_backend_state = mock_set_backend_state,
		.batch_begin = mock_batch_begin,
		.batch_end = mock_batch_end,
		.vip_stats = mock_vip_stats,
		.backend_stats = mock_backend_stats,
		.reason_stats = mock_reason_stats,
		.flow_foreach = mock_flow_foreach,
		.backend_get = mock_backend_get,
		.vip_find = mock_vip_find,
		.close = mock_close,
	};
	md->drv.ops = &md->ops;
	md->drv.ctx = md;
}

static inline void mock_free(struct mock_driver *md)
{
	for (__u32 v = 0; md->rings && v < md->params.max_vips; v++)
		free(md->rings[v]);
	free(md->rings);
	free(md->ring_size);
	free(md->vip_flags);
	free(md->backends);
	free(md->ring_flipped);
	free(md->retired);
	free(md->vips);
	free(md->calls);
	memset(md, 0, sizeof(*md));
}

/* Forgets the calls so far (the fast path's state stays). */
static inline void mock_clear_calls(struct mock_driver *md)
{
	md->n_calls = 0;
}

/* Calls of op since the last clear (id == -1: any id). */
static inline size_t mock_count(const struct mock_driver *md, enum mock_op op, long id)
{
	size_t n = 0;

	for (size_t i = 0; i < md->n_calls; i++)
		if (md->calls[i].op == op && (id < 0 || md->calls[i].id == (__u32)id))
			n++;
	return n;
}

/* Index of the first call of op on id at or after `from`, or -1. */
static inline long mock_find(const struct mock_driver *md, enum mock_op op, long id, size_t from)
{
	for (size_t i = from; i < md->n_calls; i++)
		if (md->calls[i].op == op && (id < 0 || md->calls[i].id == (__u32)id))
			return (long)i;
	return -1;
}

/* Index of the first call setting backend id's state to state (through
 * set_backend or set_backend_state), or -1. */
static inline long mock_find_state(const struct mock_driver *md, __u32 id, __u8 state)
{
	for (size_t i = 0; i < md->n_calls; i++)
		if ((md->calls[i].op == MOCK_SET_BACKEND ||
		     md->calls[i].op == MOCK_SET_BACKEND_STATE) &&
		    md->calls[i].id == id && md->calls[i].arg == state)
			return (long)i;
	return -1;
}

/* How many entries of vip_id's published ring name backend id. */
static inline __u32 mock_ring_count(const struct mock_driver *md, __u32 vip_id, __u32 id)
{
	__u32 n = 0;

	for (__u32 i = 0; i < md->ring_size[vip_id]; i++)
		n += md->rings[vip_id][i] == id;
	return n;
}

#endif /* SLUICE_TESTS_MOCK_DRIVER_H */
