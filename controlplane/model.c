// SPDX-License-Identifier: Apache-2.0
/*
 * model.c - sluiced's desired state (model.h): the VIPs and backends,
 * their ids and gens, the ids a pinned fast path already used, and the
 * rings. The batch engine that changes it is model_batch.c; the rooms
 * are listed in model_int.h.
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
 * Full words are skipped: loading 100k backends would otherwise scan
 * 5G bits, and full bytes 600M. */
int model_id_alloc(__u8 *map, __u32 n, __u32 *hint, __u32 *id)
{
	for (__u32 i = *hint; i < n; i++) {
		__u64 w;

		if (i % 64 == 0 && i + 64 <= n) {
			memcpy(&w, map + i / 8, sizeof(w));
			if (w == ~0ull) {
				i += 63;
				continue;
			}
		}
		if (!bit_get(map, i)) {
			bit_set(map, i);
			*id = i;
			*hint = i + 1;
			return 0;
		}
	}
	return -ENOSPC;
}

/* The address indexes have 4 slots per backend (or VIP) the limits
 * allow, so that a zero is the common answer for an address not there;
 * between 2^12 and 2^22 slots (16 MiB at most per table). */
static unsigned int addr_bits(const struct lb_params *l)
{
	__u64 want = 4ull * (l->max_backends > l->max_vips ? l->max_backends : l->max_vips);
	unsigned int bits = 12;

	while (bits < 22 && (1ull << bits) < want)
		bits++;
	return bits;
}

static __u32 addr_slot(const struct cp_model *m, const struct lb_addr *a, __u8 fam)
{
	__u32 h = (a->w[0] ^ (a->w[1] * 31) ^ (a->w[2] * 131) ^ (a->w[3] * 1031) ^ fam) *
		  0x9e3779b1u;

	return h >> (32 - m->addr_bits);
}

/* The same address behind one VIP: the VIP's id mixed in. */
static __u32 pair_slot(const struct cp_model *m, __u32 vip_id, const struct lb_addr *a,
		       __u8 fam)
{
	return (addr_slot(m, a, fam) ^ (vip_id * 0x9e3779b1u >> (32 - m->addr_bits))) &
	       ((1u << m->addr_bits) - 1);
}

void model_addr_count(struct cp_model *m, const struct cp_vip *v, const struct cp_backend *b,
		      int delta)
{
	m->n_backends_all += (size_t)(ssize_t)delta;
	if (m->backend_addrs)
		m->backend_addrs[addr_slot(m, &b->addr, b->family)] += (__u32)delta;
	if (m->pair_addrs)
		m->pair_addrs[pair_slot(m, v->id, &b->addr, b->family)] += (__u32)delta;
}

const struct cp_backend *model_vip_backend(const struct cp_model *m, const struct cp_vip *v,
					   const struct lb_addr *a, __u8 fam)
{
	if (!v || (m->pair_addrs && !m->pair_addrs[pair_slot(m, v->id, a, fam)]))
		return NULL;
	return cp_vip_find_backend(v, a, fam);
}

void model_vip_addr_count(struct cp_model *m, const struct cp_vip *v, int delta)
{
	if (m->vip_addrs)
		m->vip_addrs[addr_slot(m, &v->key.addr, v->key.family)] += (__u32)delta;
}

int model_addr_maybe(const struct cp_model *m, const struct lb_addr *a, __u8 fam)
{
	return !m->backend_addrs || m->backend_addrs[addr_slot(m, a, fam)] != 0;
}

int model_vip_addr_maybe(const struct cp_model *m, const struct lb_addr *a, __u8 fam)
{
	return !m->vip_addrs || m->vip_addrs[addr_slot(m, a, fam)] != 0;
}

/* The bitmaps say which ids the model uses. Ids are marked when taken
 * and cleared only when a batch is over (see the top of the file):
 * batch_commit updates the touched VIPs' ids, a rollback rebuilds them
 * all from the model. The address indexes are rebuilt with them. */
void model_ids_rebuild(struct cp_model *m)
{
	memset(m->vip_ids_used, 0, (m->limits.max_vips + 7) / 8);
	memset(m->backend_ids_used, 0, (m->limits.max_backends + 7) / 8);
	m->vip_id_hint = 0;
	m->backend_id_hint = 0;
	m->n_backends_all = 0;
	if (m->backend_addrs)
		memset(m->backend_addrs, 0, sizeof(*m->backend_addrs) << m->addr_bits);
	if (m->pair_addrs)
		memset(m->pair_addrs, 0, sizeof(*m->pair_addrs) << m->addr_bits);
	if (m->vip_addrs)
		memset(m->vip_addrs, 0, sizeof(*m->vip_addrs) << m->addr_bits);
	for (size_t i = 0; i < m->n_vips; i++) {
		const struct cp_vip *v = &m->vips[i];

		bit_set(m->vip_ids_used, v->id);
		model_vip_addr_count(m, v, 1);
		for (size_t j = 0; j < v->n_backends; j++) {
			bit_set(m->backend_ids_used, v->backends[j].id);
			model_addr_count(m, v, &v->backends[j], 1);
		}
	}
}

__u32 model_gen_next(struct cp_model *m)
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
	m->adopt_head = malloc(m->limits.max_vips * sizeof(*m->adopt_head));
	m->adopt_next = malloc(n * sizeof(*m->adopt_next));
	if (!m->adopt || !m->adopt_head || !m->adopt_next) {
		cp_model_adopt_end(m);
		return -ENOMEM;
	}
	memset(m->adopt_head, 0xff, m->limits.max_vips * sizeof(*m->adopt_head));
	m->n_adopt = n;
	for (__u32 id = 0; id < n; id++) {
		/* 100,000 entries take ~10 ms: status is answered meanwhile. */
		if (!(id % 1024))
			model_yield(m);
		if (ops->backend_get(m->driver->ctx, id, &m->adopt[id]))
			memset(&m->adopt[id], 0, sizeof(m->adopt[id]));
		/* New gens must never repeat one a pinned flow may hold. */
		if (m->adopt[id].gen >= m->next_gen)
			m->next_gen = m->adopt[id].gen + 1;
	}
	/* Chained by VIP, lowest id first: a lookup walks one VIP's. */
	for (__u32 id = n; id-- > 0;) {
		__u32 v = m->adopt[id].vip_id;

		m->adopt_next[id] = LB_BACKEND_NONE;
		if (m->adopt[id].state == LB_BACKEND_UNUSED || v >= m->limits.max_vips)
			continue;
		m->adopt_next[id] = m->adopt_head[v];
		m->adopt_head[v] = id;
	}
	if (!m->next_gen)
		m->next_gen = 1;
	return 0;
}

void cp_model_adopt_end(struct cp_model *m)
{
	free(m->adopt);
	free(m->adopt_head);
	free(m->adopt_next);
	m->adopt = NULL;
	m->adopt_head = NULL;
	m->adopt_next = NULL;
	m->n_adopt = 0;
}

/* 0 and the vip_id the pinned VIP table gives k, if that id is free. */
int model_adopted_vip_id(struct cp_model *m, const struct lb_vip_key *k, __u32 *id)
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
int model_adopted_backend_id(struct cp_model *m, __u32 vip_id, const struct cp_request *r,
			      __u32 *id, __u32 *gen)
{
	if (!m->adopt || vip_id >= m->limits.max_vips)
		return -ENOENT;
	for (__u32 i = m->adopt_head[vip_id]; i < m->n_adopt; i = m->adopt_next[i]) {
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

/* Per thread: the hook is the owner's (the control thread serves the
 * API); a model a helper thread makes, say a state file parsed ahead of
 * time, must never serve it from there. */
static __thread cp_yield_fn yield_default;
static __thread void *yield_default_arg;

void cp_model_yield_default(cp_yield_fn fn, void *arg)
{
	yield_default = fn;
	yield_default_arg = arg;
}

static void limits_init(struct lb_params *l, const struct lb_params *in)
{
	if (in)
		*l = *in;
	else
		memset(l, 0, sizeof(*l));
	l->max_vips = l->max_vips ? l->max_vips : LB_DEFAULT_MAX_VIPS;
	l->vip_slots = l->vip_slots ? l->vip_slots : lb_viptable_slots(l->max_vips);
	l->max_ring = l->max_ring ? l->max_ring : LB_DEFAULT_RING_SIZE;
	l->max_backends = l->max_backends ? l->max_backends : LB_DEFAULT_MAX_BACKENDS;
	l->flow_buckets = l->flow_buckets ? l->flow_buckets : LB_DEFAULT_FLOW_BUCKETS;
}

int cp_model_limits_same(const struct lb_params *a, const struct lb_params *b)
{
	return a->vip_slots == b->vip_slots && a->max_vips == b->max_vips &&
	       a->max_ring == b->max_ring && a->max_backends == b->max_backends;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* When the hook last ran: one control thread, one clock for all its
 * models (a batch, the file it loads, the state it saves). */
static __thread __u64 yield_last_ns;
/* Inside the hook: a reader it serves may save or walk a model too, and
 * must not yield again from there. */
static __thread int yielding;

void model_yield_on(const struct cp_model *m, int fd)
{
	yielding = 1;
	m->yield(m->yield_arg, fd);
	yielding = 0;
	yield_last_ns = now_ns();
}

int cp_model_crew_join(const struct cp_model *m, struct cp_crew *c, int take)
{
	while (take && cp_crew_take(c))
		model_yield(m);
	if (m->yield && !yielding && cp_crew_fd(c) >= 0)
		while (!cp_crew_finished(c))
			model_yield_on(m, cp_crew_fd(c));
	return cp_crew_wait(c);
}

struct beside_job {
	int (*fn)(void *arg);
	void *arg;
};

static int beside_one(void *arg, size_t i)
{
	struct beside_job *j = arg;

	(void)i;
	return j->fn(j->arg);
}

int cp_model_beside(const struct cp_model *m, int (*fn)(void *arg), void *arg)
{
	struct beside_job j = { fn, arg };
	struct cp_crew c;

	if (!m->yield || yielding)
		return fn(arg);
	cp_crew_start(&c, 1, beside_one, &j, 1);
	return cp_model_crew_join(m, &c, 0);
}

void model_yield(const struct cp_model *m)
{
	__u64 now;

	if (!m->yield || yielding)
		return;
	now = now_ns();
	if (now - yield_last_ns < CP_MODEL_YIELD_NS)
		return;
	model_yield_on(m, -1);
}

/* The model's clock: healthd's ages, overrides' expiries (m->clock in
 * tests). */
__u64 cp_model_now_ms(const struct cp_model *m)
{
	return m->clock ? m->clock(m->clock_arg) : now_ns() / 1000000u;
}

int cp_model_init(struct cp_model *m, const struct lb_params *limits, struct cp_driver *driver)
{
	memset(m, 0, sizeof(*m));
	limits_init(&m->limits, limits);
	m->vip_ids_used = calloc((m->limits.max_vips + 7) / 8, 1);
	m->backend_ids_used = calloc((m->limits.max_backends + 7) / 8, 1);
	m->addr_bits = addr_bits(&m->limits);
	m->backend_addrs = calloc(1u << m->addr_bits, sizeof(*m->backend_addrs));
	m->vip_addrs = calloc(1u << m->addr_bits, sizeof(*m->vip_addrs));
	m->pair_addrs = calloc(1u << m->addr_bits, sizeof(*m->pair_addrs));
	if (!m->vip_ids_used || !m->backend_ids_used || !m->backend_addrs || !m->vip_addrs ||
	    !m->pair_addrs) {
		cp_model_free(m);
		return -ENOMEM;
	}
	m->next_gen = 1;
	m->driver = driver;
	m->yield = yield_default;
	m->yield_arg = yield_default_arg;
	m->node.flow_ttl_tcp = CP_DEFAULT_FLOW_TTL_TCP;
	m->node.flow_ttl_udp = CP_DEFAULT_FLOW_TTL_UDP;
	m->healthd.timeout_ms = CP_HEALTHD_DEFAULT_TIMEOUT_MS;
	m->healthd.since_ms = cp_model_now_ms(m);
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
	free(m->backend_addrs);
	free(m->vip_addrs);
	free(m->pair_addrs);
	memset(m, 0, sizeof(*m));
}

struct cp_vip *cp_model_find_vip(const struct cp_model *m, const struct lb_vip_key *k)
{
	/* A batch asks for one VIP per backend it adds, and a diff walks
	 * them in order: the last answer, checked, saves the scan. */
	static __thread size_t last;

	if (last < m->n_vips && !memcmp(&m->vips[last].key, k, sizeof(*k)))
		return &m->vips[last];
	for (size_t i = 0; i < m->n_vips; i++) {
		if (!memcmp(&m->vips[i].key, k, sizeof(*k))) {
			last = i;
			return &m->vips[i];
		}
	}
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
	return m->n_backends_all;
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
int model_ring_build(const struct cp_vip *v, __u32 **ring, __u64 *digest, __u64 *ns)
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
	*ns = elapsed_ns(&t0, &t1);
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

void model_ring_count(struct cp_model *m, __u64 ns)
{
	m->stats.ring_rebuilds++;
	m->stats.last_rebuild_ns = ns;
}
