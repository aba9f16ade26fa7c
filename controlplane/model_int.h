/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model_int.h - what the model's files share and nobody else may use
 * (the pattern of xdp-tools' libxdp_internal.h). model.h is the API.
 *
 * The model is four rooms:
 *   model.c         the state: VIPs, backends, ids, gens, rings
 *   model_batch.c   the batch engine that carries a change: mutate,
 *                   build, push, commit or roll back; cp_model_apply
 *   model_check.c   what is valid: cp_model_check and its rules
 *   model_push.c    every driver call, in the order the fast path needs,
 *                   the resync after a failure, attach/detach, next hops
 *   model_script.c  config scripts: save, load, and the reload diff
 *   model_health.c  a backend's health: initial, healthd's, the
 *                   operator's override, restored at a restart
 *
 * Not thread-safe, like the model: sluiced's control thread owns it.
 */
#ifndef SLUICE_CP_MODEL_INT_H
#define SLUICE_CP_MODEL_INT_H

#include "model.h"

static inline int bit_get(const __u8 *map, __u32 i)
{
	return (map[i / 8] >> (i % 8)) & 1;
}

static inline void bit_set(__u8 *map, __u32 i)
{
	map[i / 8] |= (__u8)(1u << (i % 8));
}

static inline void bit_clear(__u8 *map, __u32 i)
{
	map[i / 8] &= (__u8)~(1u << (i % 8));
}

static inline __u64 lowest_bit(__u64 mask)
{
	return mask & -mask;
}

static inline int backend_usable(const struct cp_backend *b)
{
	return b->weight > 0 && !b->draining && cp_backend_health(b) != CP_HEALTH_DOWN;
}

static inline __u8 backend_fp_state(const struct cp_backend *b)
{
	if (cp_backend_health(b) == CP_HEALTH_DOWN)
		return LB_BACKEND_DOWN;
	return backend_usable(b) ? LB_BACKEND_UP : LB_BACKEND_DRAINING;
}

static inline const struct cp_driver_ops *drv(const struct cp_model *m)
{
	return m->driver ? m->driver->ops : NULL;
}

/* What a batch did to one VIP (indexed by vip id). */
struct model_touch {
	struct cp_vip *old;	/* deep copy from before the batch; NULL: added by it */
	__u32 *ring;		/* ring built for the new state (owned), or NULL */
	__u64 digest;
	__u8 on;		/* the batch touched this VIP */
	__u8 keep;		/* same ring inputs: the new state keeps old->ring */
	__u8 push;		/* ring differs from the one last pushed */
};

struct model_batch {
	struct model_touch *t;	/* limits.max_vips entries */
	__u32 *ids;		/* touched vip ids, in order */
	size_t n;
	size_t *order;		/* vip id -> index in m->vips before the batch */
	size_t changes;		/* requests applied */
	size_t backends_added;	/* BACKEND_ADDs among them */
	int rings;		/* build rings (0 while loading a driverless target) */
};

/* --- model.c: the state ------------------------------------------------- */

/* The lowest id below n free in map, marked used; -ENOSPC if none.
 * *hint: no id below it is free (lowered by whoever frees one). */
int model_id_alloc(__u8 *map, __u32 n, __u32 *hint, __u32 *id);
/* Marks exactly the ids the model uses (after a rollback). */
void model_ids_rebuild(struct cp_model *m);
/* The address index (cp_model.backend_addrs): counted as backends come
 * and go, rebuilt with the ids; maybe: 0 means no backend has a. */
void model_addr_count(struct cp_model *m, const struct cp_vip *v, const struct cp_backend *b,
		      int delta);
/* v's backend at a (cp_vip_find_backend), asking the index first: adding
 * 100 backends to a VIP otherwise compares 5,000 addresses. */
const struct cp_backend *model_vip_backend(const struct cp_model *m, const struct cp_vip *v,
					   const struct lb_addr *a, __u8 fam);
int model_addr_maybe(const struct cp_model *m, const struct lb_addr *a, __u8 fam);
void model_vip_addr_count(struct cp_model *m, const struct cp_vip *v, int delta);
int model_vip_addr_maybe(const struct cp_model *m, const struct lb_addr *a, __u8 fam);
__u32 model_gen_next(struct cp_model *m);
/* While adopting: the vip_id, or the backend id and gen, the pinned fast
 * path gave k or r's backend of vip_id, taken if free; -ENOENT if none. */
int model_adopted_vip_id(struct cp_model *m, const struct lb_vip_key *k, __u32 *id);
int model_adopted_backend_id(struct cp_model *m, __u32 vip_id, const struct cp_request *r,
			     __u32 *id, __u32 *gen);

struct cp_vip *model_vip_by_id(const struct cp_model *m, __u32 id);
const struct cp_backend *model_backend_by_id(const struct cp_vip *v, __u32 id);
size_t model_count_backends(const struct cp_model *m);
void model_vip_release(struct cp_vip *v);
/* Builds v's ring into a new buffer (*ring, the caller's to free); *ns:
 * how long the build took. Reads v only: helper threads call it. */
int model_ring_build(const struct cp_vip *v, __u32 **ring, __u64 *digest, __u64 *ns);
/* Counts a build of ns in m's stats. */
void model_ring_count(struct cp_model *m, __u64 ns);

/* --- model_batch.c: the batch engine ------------------------------------ */

/* A batch: begin, change (checked, then applied to the model) as often
 * as needed, then flush (build, push, commit; rolled back on failure) or
 * roll back; end in every case. rings: 0 only while loading a
 * driverless target (model.c's top comment). */
int model_batch_begin(const struct cp_model *m, struct model_batch *b, int rings);
int model_batch_change(struct cp_model *m, struct model_batch *b, const struct cp_request *r,
		       struct cp_error *e);
int model_batch_flush(struct cp_model *m, struct model_batch *b, struct cp_error *e);
void model_batch_rollback(struct cp_model *m, struct model_batch *b, int pushed);
void model_batch_end(struct model_batch *b);
/* Runs fill (its changes, model_batch_change) as one batch: flushed
 * whole or rolled back, counted in the stats. The number of changes, or
 * the first -errno (e says why). */
typedef int (*model_batch_fill_fn)(struct cp_model *m, struct model_batch *b, void *arg,
				   struct cp_error *e);
int model_batch_run(struct cp_model *m, int rings, model_batch_fill_fn fill, void *arg,
		    struct cp_error *e);
/* m->yield, if CP_MODEL_YIELD_NS passed since the last call: between
 * VIPs of a batch, where the model can be read. */
void model_yield(const struct cp_model *m);
/* The hook now, with fd (the grace period's eventfd, or -1); never from
 * inside it. */
void model_yield_on(const struct cp_model *m, int fd);
/* One change in a batch of its own (NODE_SET needs none). */
int model_apply_one(struct cp_model *m, const struct cp_request *r, struct cp_error *e,
		    int rings);

/* --- model_check.c: validation ------------------------------------------ */

const char *model_field_name(__u64 bit);
/* Never NULL: a placeholder for what cannot be formatted. */
const char *model_fmt_addr(const struct lb_addr *a, __u8 family, char *buf, size_t len);
const char *model_fmt_vip(const struct lb_vip_key *k, char *buf, size_t len);
/* What a VIP_ADD (base NULL) or VIP_SET of base would make of its settings. */
void model_spec_build(const struct cp_vip *base, const struct cp_request *r,
		      struct cp_vip_spec *s);


/* --- model_health.c: health ------------------------------------------ */

/* A backend just added to v: the VIP's initial health, or the last
 * known one while loading after a restart (saved, adopted entries). */
void model_health_added(struct cp_model *m, const struct cp_vip *v, struct cp_backend *be);
/* health.report, health.set, health.clear on be (checked). */
void model_health_change(struct cp_model *m, struct cp_backend *be, const struct cp_request *r);
/* After vip set changed v's settings from old: a VIP left without a
 * check has nobody to report on its backends. */
void model_health_vip_set(struct cp_model *m, struct cp_vip *v, const struct cp_vip_spec *old);

/* --- model_push.c: the fast path ---------------------------------------- */

int model_push_backend(struct cp_model *m, const struct cp_backend *b, struct cp_error *e);
/* New backends a batch must add before their next hops are left to the
 * refresh round that follows it (when the fast path has a FIB fallback). */
#define CP_NEXTHOP_DEFER_MIN 1024
int model_push_state(struct cp_model *m, __u32 id, __u8 state, struct cp_error *e);
/* What batch b changed, in the fast path's order, in two steps so that
 * its rings can be built meanwhile: the backends and flags that come into
 * use (no ring is needed), then the rings, the VIP table and what goes
 * out of use. */
int model_push_promotions(struct cp_model *m, struct model_batch *b, struct cp_error *e);
int model_push_rest(struct cp_model *m, struct model_batch *b, struct cp_error *e);
/* After a failed push: make the fast path match the restored model
 * again, best effort; retire: backend ids only the failed state used. */
void model_push_resync(struct cp_model *m, struct model_batch *b, const __u8 *retire);
int model_has_interface(const struct cp_node *n, const char *name);
/* NODE_SET (checked): config, attach and detach, then the model. */
int model_node_apply(struct cp_model *m, const struct cp_request *r, struct cp_error *e);

#endif /* SLUICE_CP_MODEL_INT_H */
