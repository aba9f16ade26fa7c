/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.h - sluiced's desired state and the only code that changes it.
 *
 * Every change goes validate -> model -> rebuild the rings of the VIPs it
 * touched -> push to the fast-path driver. Validation comes first and is
 * complete: a change that fails it alters nothing and returns a precise
 * error (cp_error: field and reason). Persistence and the reply are the
 * caller's, after cp_model_apply() returns 0.
 *
 * Not thread-safe: sluiced's control thread owns the model.
 */
#ifndef SLUICE_CP_MODEL_H
#define SLUICE_CP_MODEL_H

#include <stdio.h>
#include <stddef.h>

#include "crew.h"
#include "fwd.h"
#include "request.h"
#include "driver.h"

/* A backend's health has three sources, strongest first (model_health.c,
 * cp_backend_health): an operator's override until it expires or is
 * cleared; else sluice-healthd's view; else, before healthd's first word,
 * the initial state the VIP gave it (or the last known one, restored at a
 * restart). */
struct cp_backend {
	struct lb_addr addr;
	__u8 family;
	__u8 draining;		/* operator's drain (weight 0 drains as well) */
	__u8 init;		/* CP_HEALTH_UP/DOWN: health until healthd's first report */
	__u32 weight;
	enum cp_health health;	/* sluice-healthd's view; kept if healthd goes away */
	enum cp_health override;	/* the operator's (health set); UNKNOWN: none */
	__u64 override_until_ms;	/* model clock; 0: until cleared */
	__u64 check_ms;		/* model clock of healthd's last word on it; 0: none */
	__u32 latency_us;	/* last check's latency */
	char last_check[128];	/* healthd's words for the last transition: "HTTP 503" */
	char override_reason[128];	/* the operator's words (health set --reason) */
	__u32 id;		/* fast-path backend id (per VIP and backend) */
	__u32 gen;		/* incarnation written with the id */
};

/* What decides a backend's health now (see struct cp_backend). */
static inline enum cp_health cp_backend_health(const struct cp_backend *b)
{
	if (b->override != CP_HEALTH_UNKNOWN)
		return b->override;
	if (b->health != CP_HEALTH_UNKNOWN)
		return b->health;
	return b->init == CP_HEALTH_DOWN ? CP_HEALTH_DOWN : CP_HEALTH_UP;
}

struct cp_vip {
	struct lb_vip_key key;
	__u32 id;		/* fast-path vip_id */
	struct cp_vip_spec spec;	/* affinity, ring size, check: vip add/set's */
	struct cp_backend *backends;
	size_t n_backends;
	size_t cap_backends;
	__u32 *ring;		/* the ring last pushed (ring_size entries), or NULL */
	__u64 digest;		/* lb_maglev_digest of it */
};

struct cp_node {
	char interfaces[CP_MAX_INTERFACES][IF_NAMESIZE];
	__u8 n_interfaces;
	__be32 encap_src4;
	struct lb_addr encap_src6;
	char metrics[64];
	__u32 flow_ttl_tcp;	/* connection-table idle timeouts, s; 0: never */
	__u32 flow_ttl_udp;
	__u32 announce_table;	/* kernel table of the VIP routes; 0: none */
	/* Out of the fleet (node drain): announces nothing. Not
	 * configuration: apply keeps it, the state file keeps it. */
	__u8 drained;
};

/* Counters of the model itself, exported as metrics. */
struct cp_model_stats {
	__u64 changes_applied;
	__u64 changes_rejected;
	__u64 ring_rebuilds;
	__u64 last_rebuild_ns;	/* duration of the last ring build */
	__u64 applies_applied;	/* whole configurations: apply, reload */
	__u64 applies_rejected;
	int last_apply_failed;
};

/* The last known health of one backend, kept across a restart of the
 * daemon (health_file.c) and given back to it when the backend is added
 * again (cp_model_adopt_begin .. end). */
struct cp_health_saved {
	struct lb_vip_key vip;
	struct lb_addr addr;
	__u8 family;
	__u8 init;
	enum cp_health health;
	enum cp_health override;
	__u64 override_until_ms;	/* model clock; 0: until cleared */
	__u32 latency_us;
	char last_check[128];
	char override_reason[128];
};

/* healthd heartbeats every 2 s (its --refresh); five missed: silent. */
#define CP_HEALTHD_DEFAULT_TIMEOUT_MS 10000

/* The order of cp_model.saved (qsort/bsearch): VIP, then backend. */
int cp_health_saved_cmp(const void *a, const void *b);

/* sluice-healthd as sluiced sees it: heartbeats (health.heartbeat). */
struct cp_healthd {
	__u64 heartbeat_ms;		/* model clock of the last one; 0: none yet */
	__u64 since_ms;			/* model clock when the model was made */
	__u64 timeout_ms;		/* silent longer than this: not up */
	__u64 heartbeats;
};

/* Milliseconds of a monotonic clock (CLOCK_MONOTONIC unless a test
 * gives another). */
typedef __u64 (*cp_clock_fn)(void *arg);

/* Fills the next hop of a backend entry (nh_* fields and
 * LB_BACKEND_F_NH_VALID) before it is pushed; optional. */
typedef int (*cp_nexthop_fn)(void *arg, struct lb_backend *b);

/* What a route lookup says of an address on this host: the balancer's
 * own address (RTN_LOCAL) or the broadcast address of a connected
 * subnet (RTN_BROADCAST). */
enum cp_local {
	CP_LOCAL_NO = 0,
	CP_LOCAL_ADDR,
	CP_LOCAL_BROADCAST,
};

/* An enum cp_local for address a of family on this host (cp_nl_is_local
 * is one); optional. Anything else, a failed lookup included, is
 * CP_LOCAL_NO: the next hop says why later. */
typedef int (*cp_is_local_fn)(void *arg, __u8 family, const struct lb_addr *a);
/* Lets the owner of the model serve others during a long batch (the
 * daemon answers read-only requests from it): called at most every
 * CP_MODEL_YIELD_NS between VIPs while a batch builds and pushes (fd -1:
 * serve what is ready, do not block), and while helper threads work (the
 * rings, the grace period, the state file's write; fd: readable when they
 * are done; wait on it and on your own fds). The model may then be read, never changed: it holds the new
 * state, and a VIP being rebuilt has no ring yet (ring NULL, digest 0). */
typedef void (*cp_yield_fn)(void *arg, int fd);
#define CP_MODEL_YIELD_NS 1000000ull

/* The hook every model made from now on (cp_model_init) by the calling
 * thread starts with: the daemon's, so that parsing a big config file
 * into a model of its own serves readers too. NULL: none. Models made
 * by other threads have none. */
void cp_model_yield_default(cp_yield_fn fn, void *arg);

struct cp_model {
	struct cp_vip *vips;
	size_t n_vips;
	size_t cap_vips;
	struct cp_node node;
	struct lb_params limits;	/* max_vips, max_backends, max_ring */
	__u8 *vip_ids_used;		/* limits.max_vips flags */
	__u8 *backend_ids_used;		/* limits.max_backends flags */
	__u32 vip_id_hint;		/* no id below it is free */
	__u32 backend_id_hint;
	__u32 next_gen;
	struct cp_driver *driver;	/* NULL: validate and keep state only */
	cp_nexthop_fn nexthop;
	void *nexthop_arg;
	cp_is_local_fn is_local;	/* backends must not be this host's: checked when set */
	void *is_local_arg;
	struct cp_model_stats stats;
	/* While adopting a pinned fast path: its backend entries, so that
	 * the model takes the same ids and gens (cp_model_adopt_begin). */
	struct lb_backend *adopt;
	__u32 n_adopt;
	/* While loading at start: the health each backend last had
	 * (cp_model_adopt_begin's caller fills them, sorted by
	 * cp_health_saved_cmp; model_health.c). */
	struct cp_health_saved *saved;
	size_t n_saved;
	cp_clock_fn clock;		/* NULL: CLOCK_MONOTONIC */
	void *clock_arg;
	struct cp_healthd healthd;
	__u64 health_changes;		/* bumped by every change of a backend's health */
	__u32 *adopt_head;		/* [max_vips]: first adopt id of a VIP */
	/* Backends and VIPs by a hash of their address (model.c): a zero
	 * says none has that address, so the checks that a new VIP is
	 * nobody's backend and a new backend nobody's VIP do not walk
	 * 100,000 backends or 1,000 VIPs for every one added. */
	__u32 *backend_addrs;
	__u32 *vip_addrs;
	__u32 *pair_addrs;		/* by (VIP id, backend address) */
	unsigned int addr_bits;		/* each index has 1 << addr_bits slots */
	size_t n_backends_all;		/* backends of every VIP */
	__u32 *adopt_next;		/* [n_adopt]: the next of the same VIP */
	cp_yield_fn yield;		/* optional */
	void *yield_arg;
	/* A batch pushed new backends with their next hops unresolved (the
	 * fast path falls back to the FIB): the owner starts a round of
	 * next-hop refreshes and clears it (model_push.c). */
	int nexthops_deferred;
};

/* fn(arg) on a helper thread while m's owner serves readers through its
 * yield hook (inline without a hook or a thread): for slow work that
 * neither changes the model nor touches what readers read, such as an
 * fsync. fn's result. */
int cp_model_beside(const struct cp_model *m, int (*fn)(void *arg), void *arg);
/* Takes c's jobs left when take (serving readers between them), then
 * waits for its helpers while serving readers; cp_crew_wait()'s result. */
int cp_model_crew_join(const struct cp_model *m, struct cp_crew *c, int take);

/* limits: the fast path's sizes (driver->ops->params()), or NULL for the
 * defaults of fwd.h. driver may be NULL. Returns 0 or -ENOMEM. */
int cp_model_init(struct cp_model *m, const struct lb_params *limits, struct cp_driver *driver);
/* 1 if models with these limits (m->limits) accept the same requests:
 * the fast path's other sizes (flow table, CPUs) do not matter. */
int cp_model_limits_same(const struct lb_params *a, const struct lb_params *b);
void cp_model_free(struct cp_model *m);

/* Validates a change request (VIP_ADD/SET/DEL, BACKEND_ADD/SET/DEL,
 * NODE_SET, HEALTH_REPORT) against the model; changes nothing. */
int cp_model_check(const struct cp_model *m, const struct cp_request *r, struct cp_error *e);

/* Validates and applies one change; on error nothing changed (the model,
 * and the fast path unless the driver itself failed, which is logged and
 * returned). Rebuilds only the rings of the VIP it touched, and pushes
 * only when the ring changed. */
int cp_model_apply(struct cp_model *m, const struct cp_request *r, struct cp_error *e);

/* Validates and applies n changes (VIP and backend add/set/del) as one
 * batch: each is checked against the model as the ones before it left
 * it, and either all are applied, with each touched ring built and
 * pushed once, or none (the first refused is rs[*bad], e says why; *bad
 * is n when the driver failed). */
int cp_model_apply_many(struct cp_model *m, const struct cp_request *rs, size_t n, size_t *bad,
			struct cp_error *e);

/* Pushes the whole model to the driver: at start, and after adopting a
 * pinned program whose maps may hold anything. */
int cp_model_sync(struct cp_model *m);

/* Around the first load after a pinned fast path was adopted: VIPs and
 * backends added in between take the ids (and gens) the fast path
 * already uses for them, when free, so flows pinned to (id, gen) keep
 * their backend across a restart. A driver without read-back makes
 * begin a no-op. begin returns 0 or -ENOMEM. */
int cp_model_adopt_begin(struct cp_model *m);
void cp_model_adopt_end(struct cp_model *m);

/* --- Health (model_health.c) -------------------------------------------- */

/* The model's clock, in ms. */
__u64 cp_model_now_ms(const struct cp_model *m);

/* Ends every override whose time is up (each as a health.clear, logged);
 * returns how many, or -errno from the first that failed. */
int cp_model_health_expire(struct cp_model *m);

/* health.heartbeat: healthd is alive, and its view of every backend it
 * has one of stands confirmed (the heartbeat's reply lets it correct
 * any that differs, e.g. a `health report` sent by hand). */
void cp_model_healthd_heartbeat(struct cp_model *m);

/* Milliseconds since the last heartbeat (since the model was made when
 * none came yet), and whether healthd counts as up: heard within
 * healthd.timeout_ms. */
__u64 cp_model_healthd_age_ms(const struct cp_model *m);
int cp_model_healthd_up(const struct cp_model *m);

/* Whether some VIP has a check (healthd is needed). */
int cp_model_has_checks(const struct cp_model *m);

/* The health a VIP gives a backend added now: its initial_health, or
 * auto's (down with a check, up without). CP_HEALTH_UP or _DOWN. */
enum cp_health cp_vip_initial_health(const struct cp_vip *v);

/* Re-resolves every backend's next hop (model->nexthop) and re-sends the
 * backend entries; rings and tables are not touched. For the netlink
 * monitor and the periodic refresh. Returns the first error, if any. */
int cp_model_refresh_nexthops(struct cp_model *m);

/* The same in slices, so a daemon keeps answering while thousands of
 * backends are re-resolved: handles at most budget backends from *cursor
 * (start at 0) and advances it. Returns 1 while some remain, 0 when done.
 * The model may change between steps: a backend may then be skipped or
 * done twice in that round, which the next round makes good. */
int cp_model_refresh_nexthops_step(struct cp_model *m, size_t *cursor, size_t budget);

struct cp_vip *cp_model_find_vip(const struct cp_model *m, const struct lb_vip_key *k);
/* The VIP k names, or NULL with e set to err on field "vip": "A:P/tcp:
 * no such VIP", with the IPv4 VIP meant when k's address is
 * IPv4-mapped. For every request that names a VIP. */
const struct cp_vip *cp_model_vip_named(const struct cp_model *m, const struct lb_vip_key *k,
				       int err, struct cp_error *e);
struct cp_backend *cp_vip_find_backend(const struct cp_vip *v, const struct lb_addr *a,
				       __u8 family);

/* The request that creates v (VIP_ADD) or b (BACKEND_ADD) as it is:
 * r->fields has the VIP/backend and every setting that is not its
 * default. For `save`, the reload diff and the API's listings, which
 * thus spell a VIP's settings the way requests do. */
void cp_model_vip_request(const struct cp_vip *v, struct cp_request *r);
void cp_model_backend_request(const struct cp_vip *v, const struct cp_backend *b,
			      struct cp_request *r);
/* The NODE_SET that sets n: r->fields has every setting not at its default. */
void cp_model_node_request(const struct cp_node *n, struct cp_request *r);

/* Writes the model as a config script (state file, `sluicectl save`):
 * node settings, then every VIP with its backends, in a stable order.
 * Loading it into an empty model gives an equal model. */
int cp_model_save(const struct cp_model *m, FILE *out);
/* The same script in pieces, to be written elsewhere (the state file's
 * writer, on a helper thread): the node's piece, then one per VIP,
 * rendered in parallel; lines: how many they hold. */
struct cp_script {
	char **piece;
	size_t *len;
	size_t n;
	unsigned long lines;
};
int cp_model_script(const struct cp_model *m, struct cp_script *s);
void cp_script_free(struct cp_script *s);

/* Loads a config script into *target (a fresh model, no driver): every
 * line is parsed and applied; on the first bad line returns -EINVAL with
 * e->field = "FILE:LINE" and nothing else is kept by the caller. */
int cp_model_load(struct cp_model *target, FILE *in, const char *name, struct cp_error *e);

/* Applies the difference between m and target to m (SIGHUP): VIPs and
 * backends only in target are added, only in m removed, changed ones set.
 * Unchanged backends keep their ids, so their flows keep flowing.
 * Returns the number of changes, or -errno (e set) from the first that
 * failed validation -- the caller validated target, so that is a bug. */
int cp_model_apply_diff(struct cp_model *m, const struct cp_model *target, struct cp_error *e);

/* The node a diff to target leaves: target's settings, but cur's
 * interfaces when target names the same ones in another order, and
 * cur's encap sources where target has none (a script cannot say
 * "none"). cp_model_apply_diff and cp_model_plan both follow it. */
void cp_model_node_merge(const struct cp_node *cur, const struct cp_node *target,
			 struct cp_node *out);
/* CP_F_* bits of the node settings that differ between a and b. */
__u64 cp_model_node_diff(const struct cp_node *a, const struct cp_node *b);

/* --- What applying a whole configuration would do --------------------- */

/* One object (the node's settings, a VIP, a backend) that applying a
 * configuration changes, as config lines. */
struct cp_plan_change {
	char *from;		/* its line in the running state; NULL: added (or not formatted) */
	char *to;		/* its line afterwards; NULL: removed (or not formatted) */
	__u8 added, removed;
	__u8 lines;		/* from and to were formatted */
	int runtime;		/* it undoes a change made since the last apply */
};

struct cp_plan {
	struct cp_plan_change *changes;
	size_t n, cap;
	size_t n_runtime;	/* changes with runtime set */
	size_t lines_max;	/* lines for at most this many other changes */
	size_t n_lines;
	char empties[96];	/* "" or why the target empties the running state */
};

/* What cp_model_apply_diff(running, target) would change, without
 * changing anything. base is the configuration last applied (a reload, an
 * apply, the first load), so an object whose running line differs from
 * its base line was changed at runtime: a change to it is marked runtime.
 * Three-way, as `kubectl apply` keeps its last-applied configuration:
 * runtime changes the target leaves alone are not reported, and neither
 * is an object the target changes that nobody changed at runtime.
 * Config lines are made for every runtime change and the first lines_max
 * others (SIZE_MAX: all); lines_max 0 makes none, for counts alone.
 * 0 or -ENOMEM. */
int cp_model_plan(const struct cp_model *running, const struct cp_model *base,
		  const struct cp_model *target, size_t lines_max, struct cp_plan *p);
void cp_plan_free(struct cp_plan *p);

#endif /* SLUICE_CP_MODEL_H */
