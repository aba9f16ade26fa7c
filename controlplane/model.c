// SPDX-License-Identifier: Apache-2.0
/*
 * model.c - sluiced's desired state and the only code that changes it
 * (model.h).
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
 *   3. push, in the order the fast path needs (see push_changes());
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

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "log.h"
#include "maglev.h"
#include "model.h"

/* Longest config line cp_model_load accepts, and so the longest line
 * cp_model_save may write. */
#define CP_MODEL_MAX_LINE 4096
/* Words per config line: a node set with every interface is ~25. */
#define CP_MODEL_MAX_WORDS 64

#define CHECK_COMMON (CP_F_CHECK_PORT | CP_F_CHECK_INTERVAL | CP_F_CHECK_TIMEOUT | \
		      CP_F_CHECK_RISE | CP_F_CHECK_FALL)
#define CHECK_HTTP (CP_F_CHECK_PATH | CP_F_CHECK_STATUS | CP_F_CHECK_HOST)
#define CHECK_UDP (CP_F_CHECK_PAYLOAD)
#define CHECK_PARAMS (CHECK_COMMON | CHECK_HTTP | CHECK_UDP)
#define VIP_OPTS (CP_F_AFFINITY | CP_F_RING | CP_F_CHECK_TYPE | CHECK_PARAMS)

/* ---- names of fields in errors (the API's spelling) ----------------- */

static const struct {
	__u32 bit;
	const char *name;
} field_names[] = {
	{ CP_F_AFFINITY, "affinity" },
	{ CP_F_RING, "ring" },
	{ CP_F_CHECK_TYPE, "check" },
	{ CP_F_CHECK_PORT, "check_port" },
	{ CP_F_CHECK_PATH, "check_path" },
	{ CP_F_CHECK_STATUS, "check_status" },
	{ CP_F_CHECK_INTERVAL, "check_interval_ms" },
	{ CP_F_CHECK_TIMEOUT, "check_timeout_ms" },
	{ CP_F_CHECK_RISE, "check_rise" },
	{ CP_F_CHECK_FALL, "check_fall" },
	{ CP_F_CHECK_HOST, "check_host" },
	{ CP_F_CHECK_PAYLOAD, "check_payload" },
	{ CP_F_WEIGHT, "weight" },
	{ CP_F_DRAIN, "drain" },
	{ CP_F_VIP, "vip" },
	{ CP_F_BACKEND, "backend" },
	{ CP_F_INTERFACES, "interface" },
	{ CP_F_ENCAP4, "encap_source" },
	{ CP_F_ENCAP6, "encap_source6" },
	{ CP_F_METRICS, "metrics" },
	{ CP_F_FLOW_TTL_TCP, "flow_ttl_tcp_s" },
	{ CP_F_FLOW_TTL_UDP, "flow_ttl_udp_s" },
	{ CP_F_LATENCY, "latency_us" },
	{ CP_F_HEALTH, "health" },
	{ CP_F_REASON, "reason" },
};

static const char *field_name(__u32 bit)
{
	for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
		if (field_names[i].bit == bit)
			return field_names[i].name;
	return "?";
}

static __u32 lowest_bit(__u32 mask)
{
	return mask & -mask;
}

/* ---- id bitmaps ------------------------------------------------------- */

static int bit_get(const __u8 *map, __u32 i)
{
	return (map[i / 8] >> (i % 8)) & 1;
}

static void bit_set(__u8 *map, __u32 i)
{
	map[i / 8] |= (__u8)(1u << (i % 8));
}

static void bit_clear(__u8 *map, __u32 i)
{
	map[i / 8] &= (__u8)~(1u << (i % 8));
}

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

/* ---- adoption of a pinned fast path ------------------------------------ */

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

/* ---- init / free / lookups -------------------------------------------- */

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

static void vip_release(struct cp_vip *v)
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
		vip_release(&m->vips[i]);
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

static struct cp_vip *vip_by_id(const struct cp_model *m, __u32 id)
{
	for (size_t i = 0; i < m->n_vips; i++)
		if (m->vips[i].id == id)
			return &m->vips[i];
	return NULL;
}

static const struct cp_backend *backend_by_id(const struct cp_vip *v, __u32 id)
{
	for (size_t i = 0; v && i < v->n_backends; i++)
		if (v->backends[i].id == id)
			return &v->backends[i];
	return NULL;
}

static size_t count_backends(const struct cp_model *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_vips; i++)
		n += m->vips[i].n_backends;
	return n;
}

/* ---- fast-path view of a backend --------------------------------------- */

static int backend_usable(const struct cp_backend *b)
{
	return b->weight > 0 && !b->draining && b->health != CP_HEALTH_DOWN;
}

static __u8 backend_fp_state(const struct cp_backend *b)
{
	if (b->health == CP_HEALTH_DOWN)
		return LB_BACKEND_DOWN;
	return backend_usable(b) ? LB_BACKEND_UP : LB_BACKEND_DRAINING;
}

/* ---- addresses ---------------------------------------------------------- */

static int addr_well_formed(const struct lb_addr *a, __u8 family)
{
	if (family == LB_FAMILY_V4)
		return !(a->w[1] | a->w[2] | a->w[3]);
	return family == LB_FAMILY_V6;
}

/* A unicast address a packet can come from or go to: not unspecified,
 * loopback, multicast or the IPv4 limited broadcast. */
static int addr_unicast(const struct lb_addr *a, __u8 family)
{
	__u32 h = ntohl(a->w[0]);

	if (family == LB_FAMILY_V4)
		return h && h != 0xffffffffu && (h >> 28) != 0xe && (h >> 24) != 127;
	if (!(a->w[0] | a->w[1] | a->w[2]) && (ntohl(a->w[3]) <= 1))
		return 0;	/* :: and ::1 */
	return (h >> 24) != 0xff;
}

static const char *fmt_addr(const struct lb_addr *a, __u8 family, char *buf, size_t len)
{
	const char *s = cp_format_addr(a, family, buf, len);

	return s ? s : "(bad address)";
}

static const char *fmt_vip(const struct lb_vip_key *k, char *buf, size_t len)
{
	const char *s = cp_format_vip(k, buf, len);

	return s ? s : "(bad VIP)";
}

/* ---- health-check fields ------------------------------------------------ */

/* A check field as a byte range of struct cp_check, so that copying and
 * comparing one field is a table walk, not a switch per use. Strings
 * are copied with their tails zeroed, so equal checks memcmp equal. */
struct check_field {
	__u32 bit;
	size_t off;
	size_t size;
	int str;
};

#define CF(bit, member, str) { bit, offsetof(struct cp_check, member), \
			       sizeof(((struct cp_check *)0)->member), str }
static const struct check_field check_fields[] = {
	CF(CP_F_CHECK_TYPE, type, 0),
	CF(CP_F_CHECK_PORT, port, 0),
	CF(CP_F_CHECK_PATH, path, 1),
	CF(CP_F_CHECK_STATUS, expect_status, 0),
	CF(CP_F_CHECK_INTERVAL, interval_ms, 0),
	CF(CP_F_CHECK_TIMEOUT, timeout_ms, 0),
	CF(CP_F_CHECK_RISE, rise, 0),
	CF(CP_F_CHECK_FALL, fall, 0),
	CF(CP_F_CHECK_HOST, host, 1),
	CF(CP_F_CHECK_PAYLOAD, payload, 1),
};
#undef CF
#define N_CHECK_FIELDS (sizeof(check_fields) / sizeof(check_fields[0]))

static void check_field_copy(struct cp_check *dst, const struct cp_check *src,
			     const struct check_field *f)
{
	char *d = (char *)dst + f->off;
	const char *s = (const char *)src + f->off;

	if (!f->str) {
		memcpy(d, s, f->size);
		return;
	}
	memset(d, 0, f->size);
	memcpy(d, s, strnlen(s, f->size - 1));
}

static int check_field_equal(const struct cp_check *a, const struct cp_check *b,
			     const struct check_field *f)
{
	const char *x = (const char *)a + f->off, *y = (const char *)b + f->off;

	return f->str ? !strncmp(x, y, f->size) : !memcmp(x, y, f->size);
}

/* The parameters a check of type t uses. */
static __u32 check_relevant(enum cp_check_type t)
{
	switch (t) {
	case CP_CHECK_TCP:
		return CHECK_COMMON;
	case CP_CHECK_HTTP:
		return CHECK_COMMON | CHECK_HTTP;
	case CP_CHECK_UDP:
		return CHECK_COMMON | CHECK_UDP;
	default:
		return 0;
	}
}

static struct cp_check check_default(void)
{
	struct cp_request d;

	cp_request_init(&d, CP_OP_VIP_ADD);
	return d.check;
}

/* Resets the parameters the check's type does not use to their
 * defaults: one state has one form, so saving and loading it, or
 * diffing two models, compares what matters. */
static void check_canonical(struct cp_check *c)
{
	const struct cp_check def = check_default();
	__u32 keep = CP_F_CHECK_TYPE | check_relevant(c->type);

	for (size_t i = 0; i < N_CHECK_FIELDS; i++)
		if (!(keep & check_fields[i].bit))
			check_field_copy(c, &def, &check_fields[i]);
}

/* Bits of the check fields that differ between a and b. */
static __u32 check_diff(const struct cp_check *a, const struct cp_check *b)
{
	__u32 diff = 0;

	for (size_t i = 0; i < N_CHECK_FIELDS; i++)
		if (!check_field_equal(a, b, &check_fields[i]))
			diff |= check_fields[i].bit;
	return diff;
}

/* ---- VIP settings from a request --------------------------------------- */

/* What a VIP_ADD/VIP_SET would make of a VIP's settings. */
struct vip_spec {
	__u32 flags;
	__u32 ring_size;
	struct cp_check check;
};

/* The settings fields a request supplies. An ADD supplies them all: its
 * values are cp_request_init()'s defaults unless given, and cmd.h and
 * request.h say an ADD means the same with or without the bits of
 * default-valued fields. A SET supplies only the fields it carries. */
static __u32 spec_fields(const struct cp_request *r)
{
	return r->op == CP_OP_VIP_ADD ? VIP_OPTS : r->fields & VIP_OPTS;
}

/* base: the VIP being set, or NULL for an add. */
static void spec_build(const struct cp_vip *base, const struct cp_request *r,
		       struct vip_spec *s)
{
	__u32 f = spec_fields(r);

	memset(s, 0, sizeof(*s));
	if (base) {
		s->flags = base->flags;
		s->ring_size = base->ring_size;
		s->check = base->check;
	}
	if (f & CP_F_AFFINITY)
		s->flags = (s->flags & ~LB_VIP_F_AFFINITY) | (r->vip_flags & LB_VIP_F_AFFINITY);
	if (f & CP_F_RING)
		s->ring_size = r->ring_size;
	for (size_t i = 0; i < N_CHECK_FIELDS; i++)
		if (f & check_fields[i].bit)
			check_field_copy(&s->check, &r->check, &check_fields[i]);
	check_canonical(&s->check);
}

/* ---- validation ---------------------------------------------------------- */

/* Which fields the op takes and needs (request.c's table, shared with
 * the parsers; checked again here for requests built by hand). */
static int check_op_fields(const struct cp_request *r, struct cp_error *e)
{
	const struct cp_op_fields *f = cp_op_fields(r->op);
	__u32 extra, missing;

	if (!f)
		return cp_error_set(e, EINVAL, "op", "unknown op %d", (int)r->op);
	extra = r->fields & ~f->allowed;
	if (extra)
		return cp_error_set(e, EINVAL, field_name(lowest_bit(extra)), "not used by %s",
				    cp_op_name(r->op));
	missing = f->required & ~r->fields;
	if (missing)
		return cp_error_set(e, EINVAL, field_name(lowest_bit(missing)), "required by %s",
				    cp_op_name(r->op));
	if (f->one_of && !(r->fields & f->one_of))
		return cp_error_set(e, EINVAL, cp_op_name(r->op), "changes nothing");
	return 0;
}

static int vip_key_check(const struct lb_vip_key *k, struct cp_error *e)
{
	char buf[64];

	if (k->family != LB_FAMILY_V4 && k->family != LB_FAMILY_V6)
		return cp_error_set(e, EINVAL, "vip", "missing, or not IPv4/IPv6");
	if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP)
		return cp_error_set(e, EINVAL, "vip", "protocol %u: only tcp and udp", k->proto);
	if (!addr_well_formed(&k->addr, k->family))
		return cp_error_set(e, EINVAL, "vip", "IPv4 address with junk in words 1..3");
	if (!addr_unicast(&k->addr, k->family))
		return cp_error_set(e, EINVAL, "vip", "%s is not a unicast address",
				    fmt_addr(&k->addr, k->family, buf, sizeof(buf)));
	return 0;
}

/* The VIP the request names: must exist unless adding. */
static int vip_lookup(const struct cp_model *m, const struct cp_request *r, int err,
		      struct cp_vip **out, struct cp_error *e)
{
	char buf[96];

	*out = cp_model_find_vip(m, &r->vip);
	if (!*out)
		return cp_error_set(e, err, "vip", "%s: no such VIP",
				    fmt_vip(&r->vip, buf, sizeof(buf)));
	return 0;
}

static int ring_check(const struct cp_model *m, __u32 size, struct cp_error *e)
{
	__u32 max = m->limits.max_ring < LB_MAGLEV_MAX_RING ? m->limits.max_ring
							     : LB_MAGLEV_MAX_RING;

	if (size < 3)
		return cp_error_set(e, EINVAL, "ring", "%u is below 3", size);
	if (size > max)
		return cp_error_set(e, EINVAL, "ring",
				    "%u is larger than %u, the fast path's largest ring", size, max);
	if (!lb_maglev_is_prime(size))
		return cp_error_set(e, EINVAL, "ring", "%u is not prime", size);
	return 0;
}

/* Printable ASCII without spaces: the value goes into an HTTP request
 * line or header, where a space or CR/LF would change the request. */
static int token_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* The request may only carry parameters the resulting check type uses:
 * a parameter that would be ignored is the operator's mistake. */
static int check_params_used(const struct cp_request *r, const struct cp_check *c,
			     struct cp_error *e)
{
	__u32 unused = r->fields & CHECK_PARAMS & ~check_relevant(c->type);
	const char *type = cp_check_type_name(c->type);

	if (!unused)
		return 0;
	if (c->type == CP_CHECK_NONE)
		return cp_error_set(e, EINVAL, field_name(lowest_bit(unused)),
				    "needs a health check (check tcp, http or udp)");
	return cp_error_set(e, EINVAL, field_name(lowest_bit(unused)), "not used by a%s %s check",
			    c->type == CP_CHECK_HTTP ? "n" : "", type ? type : "?");
}

static int check_timing(const struct cp_check *c, struct cp_error *e)
{
	if (c->interval_ms < CP_CHECK_MIN_INTERVAL_MS || c->interval_ms > CP_CHECK_MAX_INTERVAL_MS)
		return cp_error_set(e, EINVAL, "check_interval_ms", "%u ms is out of range %u..%u",
				    c->interval_ms, CP_CHECK_MIN_INTERVAL_MS,
				    CP_CHECK_MAX_INTERVAL_MS);
	if (c->timeout_ms == 0 || c->timeout_ms >= c->interval_ms)
		return cp_error_set(e, EINVAL, "check_timeout_ms",
				    "%u ms: must be above 0 and below the interval (%u ms)",
				    c->timeout_ms, c->interval_ms);
	if (c->rise < 1 || c->rise > CP_CHECK_MAX_RISE_FALL)
		return cp_error_set(e, EINVAL, "check_rise", "%u is out of range 1..%u", c->rise,
				    CP_CHECK_MAX_RISE_FALL);
	if (c->fall < 1 || c->fall > CP_CHECK_MAX_RISE_FALL)
		return cp_error_set(e, EINVAL, "check_fall", "%u is out of range 1..%u", c->fall,
				    CP_CHECK_MAX_RISE_FALL);
	return 0;
}

static int check_kind(const struct lb_vip_key *k, const struct cp_check *c, struct cp_error *e)
{
	if (!k->port && !c->port)
		return cp_error_set(e, EINVAL, "check_port",
				    "a port-wildcard VIP needs an explicit check port");
	if (c->type == CP_CHECK_HTTP) {
		if (c->path[0] != '/' || !token_ok(c->path))
			return cp_error_set(e, EINVAL, "check_path",
					    "an HTTP check needs a path starting with '/', without spaces");
		if (!token_ok(c->host))
			return cp_error_set(e, EINVAL, "check_host",
					    "printable characters only, no spaces");
		if (c->expect_status < 100 || c->expect_status > 599)
			return cp_error_set(e, EINVAL, "check_status", "%u is out of range 100..599",
					    c->expect_status);
	}
	if (c->type == CP_CHECK_UDP && !c->payload[0])
		return cp_error_set(e, EINVAL, "check_payload", "a UDP check needs a payload");
	return 0;
}

static int check_check(const struct lb_vip_key *k, const struct cp_request *r,
		       const struct cp_check *c, struct cp_error *e)
{
	int err;

	if ((unsigned)c->type > CP_CHECK_UDP)
		return cp_error_set(e, EINVAL, "check", "unknown check type %d", (int)c->type);
	err = check_params_used(r, c, e);
	if (err || c->type == CP_CHECK_NONE)
		return err;
	err = check_timing(c, e);
	return err ? err : check_kind(k, c, e);
}

/* Strings in the request must end inside their arrays (a request built
 * by hand may not); the parsers' setters already make sure. */
static int strings_check(const struct cp_request *r, struct cp_error *e)
{
	for (size_t i = 0; i < N_CHECK_FIELDS; i++) {
		const struct check_field *f = &check_fields[i];

		if (f->str && (spec_fields(r) & f->bit) &&
		    strnlen((const char *)&r->check + f->off, f->size) >= f->size)
			return cp_error_set(e, EINVAL, field_name(f->bit), "longer than %zu bytes",
					    f->size - 1);
	}
	return 0;
}

static int spec_check(const struct cp_model *m, const struct cp_request *r,
		      const struct vip_spec *s, struct cp_error *e)
{
	int err;

	if ((spec_fields(r) & CP_F_AFFINITY) && (r->vip_flags & ~LB_VIP_F_AFFINITY))
		return cp_error_set(e, EINVAL, "affinity", "unknown flags %#x", r->vip_flags);
	err = strings_check(r, e);
	if (!err)
		err = ring_check(m, s->ring_size, e);
	return err ? err : check_check(&r->vip, r, &s->check, e);
}

/* VIP table entries the model needs: each VIP's key, plus one ICMP entry
 * per distinct VIP address (fwd.h). */
static size_t vip_table_entries(const struct cp_model *m)
{
	size_t n = m->n_vips;

	for (size_t i = 0; i < m->n_vips; i++) {
		size_t j;

		for (j = 0; j < i; j++)
			if (m->vips[j].key.family == m->vips[i].key.family &&
			    !memcmp(&m->vips[j].key.addr, &m->vips[i].key.addr, sizeof(struct lb_addr)))
				break;
		n += j == i;
	}
	return n;
}

static int addr_is_vip(const struct cp_model *m, const struct lb_vip_key *k)
{
	for (size_t i = 0; i < m->n_vips; i++)
		if (m->vips[i].key.family == k->family &&
		    !memcmp(&m->vips[i].key.addr, &k->addr, sizeof(k->addr)))
			return 1;
	return 0;
}

static int room_for_vip(const struct cp_model *m, const struct lb_vip_key *k,
			struct cp_error *e)
{
	size_t slots = m->limits.vip_slots / 2, need;

	if (m->n_vips >= m->limits.max_vips)
		return cp_error_set(e, ENOSPC, "vip", "too many VIPs: the fast path holds %u",
				    m->limits.max_vips);
	/* The table holds at most vip_slots / 2 keys; counting exactly is
	 * quadratic, so only when the easy bound says it might not fit. */
	if (2 * (m->n_vips + 1) <= slots)
		return 0;
	need = vip_table_entries(m) + 1 + !addr_is_vip(m, k);
	if (need > slots)
		return cp_error_set(e, ENOSPC, "vip",
				    "VIP table full: %zu keys with ICMP entries, %zu fit", need,
				    slots);
	return 0;
}

static int vip_add_check(const struct cp_model *m, const struct cp_request *r,
			 struct cp_error *e)
{
	struct vip_spec s;
	char buf[96];
	int err = vip_key_check(&r->vip, e);

	if (err)
		return err;
	if (cp_model_find_vip(m, &r->vip))
		return cp_error_set(e, EEXIST, "vip", "%s exists",
				    fmt_vip(&r->vip, buf, sizeof(buf)));
	err = room_for_vip(m, &r->vip, e);
	if (err)
		return err;
	spec_build(NULL, r, &s);
	return spec_check(m, r, &s, e);
}

static int vip_set_check(const struct cp_model *m, const struct cp_request *r,
			 struct cp_error *e)
{
	struct vip_spec s;
	struct cp_vip *v;
	int err = vip_lookup(m, r, ENOENT, &v, e);

	if (err)
		return err;
	spec_build(v, r, &s);
	return spec_check(m, r, &s, e);
}

/* The VIP and the backend a backend request names; the backend must
 * exist (want 1) or not (want 0). err: errno for "no such". */
static int backend_lookup(const struct cp_model *m, const struct cp_request *r, int want,
			  int err, struct cp_error *e)
{
	char vbuf[96], abuf[64];
	struct cp_vip *v;
	int rc = vip_lookup(m, r, err, &v, e);
	int exists;

	if (rc)
		return rc;
	if (!addr_well_formed(&r->backend, r->backend_family))
		return cp_error_set(e, EINVAL, "backend", "missing, or not IPv4/IPv6");
	exists = cp_vip_find_backend(v, &r->backend, r->backend_family) != NULL;
	if (exists == want)
		return 0;
	fmt_addr(&r->backend, r->backend_family, abuf, sizeof(abuf));
	fmt_vip(&v->key, vbuf, sizeof(vbuf));
	if (exists)
		return cp_error_set(e, EEXIST, "backend", "%s is already a backend of %s", abuf,
				    vbuf);
	return cp_error_set(e, err, "backend", "%s is not a backend of %s", abuf, vbuf);
}

/* An ADD's weight is always its value (default 100), a SET's only when
 * given. */
static int weight_check(const struct cp_request *r, struct cp_error *e)
{
	if ((r->op == CP_OP_BACKEND_ADD || (r->fields & CP_F_WEIGHT)) && r->weight > CP_MAX_WEIGHT)
		return cp_error_set(e, EINVAL, "weight", "%u is out of range 0..%u", r->weight,
				    CP_MAX_WEIGHT);
	return 0;
}

static int backend_add_check(const struct cp_model *m, const struct cp_request *r,
			     struct cp_error *e)
{
	char buf[64];
	int err = backend_lookup(m, r, 0, ENOENT, e);

	if (err)
		return err;
	/* Backend family vs the node's encap sources is not checked: the
	 * source may be configured later, and meanwhile the fast path
	 * counts the packets as drop_no_source. */
	if (!addr_unicast(&r->backend, r->backend_family))
		return cp_error_set(e, EINVAL, "backend", "%s is not a unicast address",
				    fmt_addr(&r->backend, r->backend_family, buf, sizeof(buf)));
	if (count_backends(m) >= m->limits.max_backends)
		return cp_error_set(e, ENOSPC, "backend",
				    "too many backends: the fast path holds %u VIP-backend pairs",
				    m->limits.max_backends);
	return weight_check(r, e);
}

static int health_check(const struct cp_model *m, const struct cp_request *r,
			struct cp_error *e)
{
	/* sluice-healthd may report on a backend deleted a moment ago:
	 * ENOENT, which it can tell from a malformed report. */
	int err = backend_lookup(m, r, 1, ENOENT, e);

	if (err)
		return err;
	if (r->health != CP_HEALTH_UP && r->health != CP_HEALTH_DOWN)
		return cp_error_set(e, EINVAL, "health", "must be up or down");
	return 0;
}

/* Linux's dev_valid_name(): the name also becomes a directory under
 * /sys/fs/bpf/sluice/, so '/' and ".." must never get through. */
static int ifname_check(const char *name, size_t size, struct cp_error *e)
{
	size_t len = strnlen(name, size);

	if (!len)
		return cp_error_set(e, EINVAL, "interface", "empty name");
	if (len >= IF_NAMESIZE)
		return cp_error_set(e, EINVAL, "interface", "'%.*s' is longer than %d characters",
				    (int)len, name, IF_NAMESIZE - 1);
	if (!strcmp(name, ".") || !strcmp(name, "..") || strpbrk(name, "/:") || !token_ok(name))
		return cp_error_set(e, EINVAL, "interface", "'%s' is not an interface name", name);
	return 0;
}

static int interfaces_check(const struct cp_request *r, struct cp_error *e)
{
	if (r->n_interfaces > CP_MAX_INTERFACES)
		return cp_error_set(e, EINVAL, "interface", "more than %d interfaces",
				    CP_MAX_INTERFACES);
	for (int i = 0; i < r->n_interfaces; i++) {
		int err = ifname_check(r->interfaces[i], sizeof(r->interfaces[i]), e);

		if (err)
			return err;
		for (int j = 0; j < i; j++)
			if (!strcmp(r->interfaces[i], r->interfaces[j]))
				return cp_error_set(e, EINVAL, "interface", "'%s' is listed twice",
						    r->interfaces[i]);
	}
	return 0;
}

/* "A.B.C.D:PORT" or "[V6]:PORT", as request.c stores it; empty: none. */
static int metrics_check(const char *s, struct cp_error *e)
{
	char host[64];
	const char *colon;
	struct lb_addr a;
	unsigned long port;
	char *end;
	__u8 fam;

	if (!s[0])
		return 0;
	colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		goto bad;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 2 || host[n - 1] != ']')
			goto bad;
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	port = strtoul(colon + 1, &end, 10);
	if (cp_parse_addr(host, &a, &fam) || *end || !colon[1] || !port || port > 65535)
		goto bad;
	return 0;
bad:
	return cp_error_set(e, EINVAL, "metrics", "'%s': expected ADDR:PORT or [ADDR6]:PORT", s);
}

static int node_check(const struct cp_request *r, struct cp_error *e)
{
	char buf[64];
	struct lb_addr a4 = { { r->encap_src4, 0, 0, 0 } };
	int err = 0;

	if (r->fields & CP_F_INTERFACES)
		err = interfaces_check(r, e);
	if (err)
		return err;
	if ((r->fields & CP_F_ENCAP4) && !addr_unicast(&a4, LB_FAMILY_V4))
		return cp_error_set(e, EINVAL, "encap_source", "%s is not a unicast address",
				    fmt_addr(&a4, LB_FAMILY_V4, buf, sizeof(buf)));
	if ((r->fields & CP_F_ENCAP6) && !addr_unicast(&r->encap_src6, LB_FAMILY_V6))
		return cp_error_set(e, EINVAL, "encap_source6", "%s is not a unicast address",
				    fmt_addr(&r->encap_src6, LB_FAMILY_V6, buf, sizeof(buf)));
	if ((r->fields & CP_F_FLOW_TTL_TCP) && r->flow_ttl_tcp > LB_FLOW_TTL_MAX)
		return cp_error_set(e, EINVAL, "flow_ttl_tcp_s", "%u s: at most %u s (a week)",
				    r->flow_ttl_tcp, LB_FLOW_TTL_MAX);
	if ((r->fields & CP_F_FLOW_TTL_UDP) && r->flow_ttl_udp > LB_FLOW_TTL_MAX)
		return cp_error_set(e, EINVAL, "flow_ttl_udp_s", "%u s: at most %u s (a week)",
				    r->flow_ttl_udp, LB_FLOW_TTL_MAX);
	if (r->fields & CP_F_METRICS) {
		if (strnlen(r->metrics, sizeof(r->metrics)) >= sizeof(r->metrics))
			return cp_error_set(e, EINVAL, "metrics", "too long");
		return metrics_check(r->metrics, e);
	}
	return 0;
}

int cp_model_check(const struct cp_model *m, const struct cp_request *r, struct cp_error *e)
{
	int err = check_op_fields(r, e);

	if (err)
		return err;
	switch (r->op) {
	case CP_OP_VIP_ADD:
		return vip_add_check(m, r, e);
	case CP_OP_VIP_SET:
		return vip_set_check(m, r, e);
	case CP_OP_VIP_DEL: {
		struct cp_vip *v;

		return vip_lookup(m, r, ENOENT, &v, e);
	}
	case CP_OP_BACKEND_ADD:
		return backend_add_check(m, r, e);
	case CP_OP_BACKEND_SET:
		err = backend_lookup(m, r, 1, ENOENT, e);
		return err ? err : weight_check(r, e);
	case CP_OP_BACKEND_DEL:
		return backend_lookup(m, r, 1, ENOENT, e);
	case CP_OP_NODE_SET:
		return node_check(r, e);
	case CP_OP_HEALTH_REPORT:
		return health_check(m, r, e);
	default:
		return cp_error_set(e, EINVAL, "op", "%s does not change the state",
				    cp_op_name(r->op) ? cp_op_name(r->op) : "?");
	}
}

/* ---- rings ----------------------------------------------------------------- */

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
static int ring_build(struct cp_model *m, const struct cp_vip *v, __u32 **ring, __u64 *digest)
{
	struct lb_maglev_backend *l;
	struct timespec t0, t1;
	size_t n;
	__u32 *r;
	int err = usable_list(v, &l, &n);

	if (err)
		return err;
	r = malloc((size_t)v->ring_size * sizeof(*r));
	if (!r) {
		free(l);
		return -ENOMEM;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = lb_maglev_build(l, n, r, v->ring_size);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	m->stats.ring_rebuilds++;
	m->stats.last_rebuild_ns = elapsed_ns(&t0, &t1);
	if (!err) {
		*digest = lb_maglev_digest(r, v->ring_size, l, n);
		if (lb_maglev_ring_too_small(v->ring_size, n))
			pr_warn("VIP id %u: ring of %u for %zu backends: removing one moves far more than 1/%zu of the flows\n",
				v->id, v->ring_size, n, n);
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

	if (a->ring_size != b->ring_size)
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

/* ---- driver calls ------------------------------------------------------------ */

static const struct cp_driver_ops *drv(const struct cp_model *m)
{
	return m->driver ? m->driver->ops : NULL;
}

static int drv_fail(struct cp_error *e, int err, const char *what, __u32 id)
{
	pr_warn("fast path: %s %u failed: %s\n", what, id, strerror(-err));
	return cp_error_set(e, -err, "fastpath", "%s %u failed: %s", what, id, strerror(-err));
}

/* The VIP whose backend array holds b. */
static __u32 owner_vip_id(const struct cp_model *m, const struct cp_backend *b)
{
	for (size_t i = 0; i < m->n_vips; i++) {
		const struct cp_vip *v = &m->vips[i];

		if (b >= v->backends && b < v->backends + v->n_backends)
			return v->id;
	}
	return 0;
}

static int push_backend(struct cp_model *m, const struct cp_backend *b, struct cp_error *e)
{
	struct lb_backend fb;
	int err;

	memset(&fb, 0, sizeof(fb));
	fb.addr = b->addr;
	fb.family = b->family;
	fb.state = backend_fp_state(b);
	fb.gen = b->gen;
	if (m->nexthop && m->nexthop(m->nexthop_arg, &fb)) {
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

static int push_state(struct cp_model *m, __u32 id, __u8 state, struct cp_error *e)
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

static int push_flags(struct cp_model *m, const struct cp_vip *v, struct cp_error *e)
{
	int err = drv(m)->set_vip_flags(m->driver->ctx, v->id, v->flags);

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
		return cp_error_set(e, ENOMEM, "fastpath", "no memory for the VIP table");
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
			err = push_backend(m, &v->backends[j], e);
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
		err = ring_build(m, v, &v->ring, &v->digest);
		if (err)
			cp_error_set(e, -err, "vip", "cannot build the ring: %s", strerror(-err));
	}
	if (!err)
		err = push_ring(m, v->id, v->ring, v->ring_size, e);
	return err ? err : push_backends(m, v, 0, e);
}

/* ---- batches --------------------------------------------------------------- */

/* What a batch did to one VIP (indexed by vip id). */
struct touch {
	struct cp_vip *old;	/* deep copy from before the batch; NULL: added by it */
	__u32 *ring;		/* ring built for the new state (owned), or NULL */
	__u64 digest;
	__u8 on;		/* the batch touched this VIP */
	__u8 keep;		/* same ring inputs: the new state keeps old->ring */
	__u8 push;		/* ring differs from the one last pushed */
};

struct batch {
	struct touch *t;	/* limits.max_vips entries */
	__u32 *ids;		/* touched vip ids, in order */
	size_t n;
	size_t *order;		/* vip id -> index in m->vips before the batch */
	size_t changes;		/* requests applied */
	int rings;		/* build rings (0 while loading a driverless target) */
};

static int batch_begin(const struct cp_model *m, struct batch *b, int rings)
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
		vip_release(v);
	free(v);
}

static void batch_end(struct batch *b)
{
	for (size_t i = 0; b->t && i < b->n; i++) {
		struct touch *t = &b->t[b->ids[i]];

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
static int batch_touch(struct batch *b, struct cp_vip *v)
{
	struct touch *t = &b->t[v->id];

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

static void batch_touch_added(struct batch *b, __u32 id)
{
	b->t[id].on = 1;
	b->t[id].old = NULL;
	b->ids[b->n++] = id;
}

/* ---- mutations (the request was checked; nothing is pushed here) ---- */

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

static int mut_vip_add(struct cp_model *m, struct batch *b, const struct cp_request *r)
{
	struct cp_vip *v;
	struct vip_spec s;
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
	spec_build(NULL, r, &s);
	v = &m->vips[m->n_vips++];
	memset(v, 0, sizeof(*v));
	v->key = r->vip;
	v->id = id;
	v->flags = s.flags;
	v->ring_size = s.ring_size;
	v->check = s.check;
	batch_touch_added(b, id);
	return 0;
}

static int mut_vip_set(struct cp_vip *v, struct batch *b, const struct cp_request *r)
{
	struct vip_spec s;
	int err = batch_touch(b, v);

	if (err)
		return err;
	spec_build(v, r, &s);
	v->flags = s.flags;
	v->ring_size = s.ring_size;
	v->check = s.check;
	return 0;
}

static int mut_vip_del(struct cp_model *m, struct cp_vip *v, struct batch *b)
{
	size_t i = (size_t)(v - m->vips);
	int err = batch_touch(b, v);

	if (err)
		return err;
	vip_release(v);
	memmove(v, v + 1, (m->n_vips - i - 1) * sizeof(*v));
	m->n_vips--;
	return 0;
}

static int mut_backend_add(struct cp_model *m, struct cp_vip *v, struct batch *b,
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

static int mut_backend(struct cp_vip *v, struct batch *b, const struct cp_request *r)
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

static int mutate(struct cp_model *m, struct batch *b, const struct cp_request *r)
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
static int batch_change(struct cp_model *m, struct batch *b, const struct cp_request *r,
			struct cp_error *e)
{
	int err = cp_model_check(m, r, e);

	if (err)
		return err;
	err = mutate(m, b, r);
	if (err)
		return cp_error_set(e, -err, "model", "cannot apply: %s", strerror(-err));
	b->changes++;
	return 0;
}

/* ---- build, push, commit, roll back ---------------------------------------- */

static int build_rings(struct cp_model *m, struct batch *b, struct cp_error *e)
{
	for (size_t i = 0; i < b->n; i++) {
		struct touch *t = &b->t[b->ids[i]];
		struct cp_vip *v = vip_by_id(m, b->ids[i]);
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
		err = ring_build(m, v, &t->ring, &t->digest);
		if (err)
			return cp_error_set(e, -err, "vip", "cannot build the ring: %s",
					    strerror(-err));
		t->push = !(o && o->ring && o->ring_size == v->ring_size &&
			    !memcmp(o->ring, t->ring, (size_t)v->ring_size * sizeof(*t->ring)));
	}
	return 0;
}

/* Step 1: backends that come into use go first, so no ring ever names an
 * id the fast path does not know; a backend that becomes UP is marked so
 * before a ring sends new flows to it. Flags of new or changed VIPs. */
static int push_promotions(struct cp_model *m, struct batch *b, struct cp_error *e)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct cp_vip *o = b->t[b->ids[i]].old;
		struct cp_vip *v = vip_by_id(m, b->ids[i]);
		int err = 0;

		for (size_t j = 0; v && j < v->n_backends && !err; j++) {
			const struct cp_backend *nb = &v->backends[j];
			const struct cp_backend *ob = backend_by_id(o, nb->id);
			__u8 st = backend_fp_state(nb);

			if (!ob)
				err = push_backend(m, nb, e);
			else if (st == LB_BACKEND_UP && backend_fp_state(ob) != st)
				err = push_state(m, nb->id, st, e);
		}
		if (!err && v && (!o || o->flags != v->flags))
			err = push_flags(m, v, e);
		if (err)
			return err;
	}
	return 0;
}

static int push_rings(struct cp_model *m, struct batch *b, struct cp_error *e)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct touch *t = &b->t[b->ids[i]];
		const struct cp_vip *v = vip_by_id(m, b->ids[i]);
		int err;

		if (!v || !t->push)
			continue;
		err = push_ring(m, v->id, t->ring, v->ring_size, e);
		if (err)
			return err;
	}
	return 0;
}

/* Steps 3-4: the VIP table if the set of VIPs changed (new VIPs appear
 * only now that their rings are in place), then the rings of deleted
 * VIPs are emptied, once no table entry leads to them. */
static int push_vip_set(struct cp_model *m, struct batch *b, struct cp_error *e)
{
	int table = 0, err = 0;

	for (size_t i = 0; i < b->n; i++)
		table |= !b->t[b->ids[i]].old != !vip_by_id(m, b->ids[i]);
	if (table)
		err = push_vip_table(m, e);
	for (size_t i = 0; i < b->n && !err; i++)
		if (b->t[b->ids[i]].old && !vip_by_id(m, b->ids[i]))
			err = push_ring(m, b->ids[i], NULL, 0, e);
	return err;
}

/* Step 5: now that no ring names them, backends leave UP, and the ids
 * of removed backends are marked unused (freed after the batch). */
static int push_demotions(struct cp_model *m, struct batch *b, struct cp_error *e)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct cp_vip *o = b->t[b->ids[i]].old;
		const struct cp_vip *v = vip_by_id(m, b->ids[i]);
		int err = 0;

		for (size_t j = 0; o && j < o->n_backends && !err; j++) {
			const struct cp_backend *ob = &o->backends[j];
			const struct cp_backend *nb = backend_by_id(v, ob->id);

			if (!nb)
				err = push_state(m, ob->id, LB_BACKEND_UNUSED, e);
			else if (backend_fp_state(nb) != LB_BACKEND_UP &&
				 backend_fp_state(nb) != backend_fp_state(ob))
				err = push_state(m, nb->id, backend_fp_state(nb), e);
		}
		if (err)
			return err;
	}
	return 0;
}

/* The fast path's order: entries before the rings that name them, rings
 * before the VIP table that leads to them, and on the way out the
 * reverse, so a packet never meets a half-made or dangling reference. */
static int push_changes(struct cp_model *m, struct batch *b, struct cp_error *e)
{
	int err;

	if (!drv(m))
		return 0;
	err = push_promotions(m, b, e);
	if (!err)
		err = push_rings(m, b, e);
	if (!err)
		err = push_vip_set(m, b, e);
	return err ? err : push_demotions(m, b, e);
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

static void batch_commit(struct cp_model *m, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct touch *t = &b->t[b->ids[i]];
		struct cp_vip *v = vip_by_id(m, b->ids[i]);

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
static void restore_model(struct cp_model *m, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct touch *t = &b->t[b->ids[i]];
		struct cp_vip *v = vip_by_id(m, b->ids[i]);

		if (v && !t->old) {
			vip_release(v);
			memmove(v, v + 1, (size_t)(m->vips + m->n_vips - v - 1) * sizeof(*v));
			m->n_vips--;
		} else if (v) {
			vip_release(v);
			*v = *t->old;
			free(t->old);
			t->old = NULL;
		}
	}
	/* Deleted VIPs last: the array has room, the batch only shrank it
	 * for them (capacity never shrinks). */
	for (size_t i = 0; i < b->n; i++) {
		struct touch *t = &b->t[b->ids[i]];

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
static __u8 *ids_only_in_new(const struct cp_model *m, const struct batch *b)
{
	__u8 *map = calloc((m->limits.max_backends + 7) / 8, 1);

	for (size_t i = 0; map && i < b->n; i++) {
		const struct cp_vip *v = vip_by_id(m, b->ids[i]);

		for (size_t j = 0; v && j < v->n_backends; j++)
			if (!backend_by_id(b->t[b->ids[i]].old, v->backends[j].id))
				bit_set(map, v->backends[j].id);
	}
	return map;
}

/* After a driver failure: the model is restored; make the fast path
 * match it again, best effort (the first error was already returned). */
static void resync_after_failure(struct cp_model *m, struct batch *b, const __u8 *retire)
{
	for (size_t i = 0; i < b->n; i++) {
		struct cp_vip *v = vip_by_id(m, b->ids[i]);

		if (v)
			push_vip_full(m, v, NULL);
	}
	push_vip_table(m, NULL);
	for (size_t i = 0; i < b->n; i++)
		if (!vip_by_id(m, b->ids[i]))
			push_ring(m, b->ids[i], NULL, 0, NULL);
	for (__u32 id = 0; retire && id < m->limits.max_backends; id++)
		if (bit_get(retire, id))
			push_state(m, id, LB_BACKEND_UNUSED, NULL);
}

static void batch_rollback(struct cp_model *m, struct batch *b, int pushed)
{
	__u8 *retire = pushed && drv(m) ? ids_only_in_new(m, b) : NULL;

	restore_model(m, b);
	ids_rebuild(m);
	if (pushed && drv(m)) {
		pr_warn("restoring the fast path after a failed change\n");
		resync_after_failure(m, b, retire);
	}
	free(retire);
}

static int batch_flush(struct cp_model *m, struct batch *b, struct cp_error *e)
{
	int err = build_rings(m, b, e);

	if (err) {
		batch_rollback(m, b, 0);
		return err;
	}
	err = push_changes(m, b, e);
	if (err) {
		batch_rollback(m, b, 1);
		return err;
	}
	batch_commit(m, b);
	return 0;
}

/* ---- node settings ----------------------------------------------------------- */

static int has_interface(const struct cp_node *n, const char *name)
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
}

/* Attaches the interfaces of n that o lacks; on failure detaches the
 * ones it attached. */
static int attach_new(struct cp_model *m, const struct cp_node *o, const struct cp_node *n,
		      struct cp_error *e)
{
	for (int i = 0; i < n->n_interfaces; i++) {
		int err;

		if (has_interface(o, n->interfaces[i]))
			continue;
		err = drv(m)->attach(m->driver->ctx, n->interfaces[i]);
		if (!err)
			continue;
		pr_warn("cannot attach to %s: %s\n", n->interfaces[i], strerror(-err));
		if (err == -ENODEV)
			cp_error_set(e, ENODEV, "interface", "%s: no such interface",
				     n->interfaces[i]);
		else if (err == -ENETDOWN)
			cp_error_set(e, ENETDOWN, "interface",
				     "%s is down; bring it up first (ip link set %s up)",
				     n->interfaces[i], n->interfaces[i]);
		else
			cp_error_set(e, -err, "interface", "%s: cannot attach: %s",
				     n->interfaces[i], strerror(-err));
		while (i-- > 0)
			if (!has_interface(o, n->interfaces[i]))
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

		if (has_interface(n, o->interfaces[i]))
			continue;
		err = drv(m)->detach(m->driver->ctx, o->interfaces[i]);
		if (err)
			pr_warn("cannot detach from %s: %s\n", o->interfaces[i],
				strerror(-err));
	}
}

static int node_apply(struct cp_model *m, const struct cp_request *r, struct cp_error *e)
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

/* ---- apply / sync ---------------------------------------------------------- */

/* One change. rings: 0 only while loading a driverless target. */
static int apply_one(struct cp_model *m, const struct cp_request *r, struct cp_error *e,
		     int rings)
{
	struct batch b;
	int err;

	if (r->op == CP_OP_NODE_SET) {
		err = cp_model_check(m, r, e);
		return err ? err : node_apply(m, r, e);
	}
	err = batch_begin(m, &b, rings);
	if (err) {
		batch_end(&b);
		return cp_error_set(e, ENOMEM, "model", "out of memory");
	}
	err = batch_change(m, &b, r, e);
	if (err)
		batch_rollback(m, &b, 0);
	else
		err = batch_flush(m, &b, e);
	batch_end(&b);
	return err;
}

int cp_model_apply(struct cp_model *m, const struct cp_request *r, struct cp_error *e)
{
	int err = apply_one(m, r, e, 1);

	if (err)
		m->stats.changes_rejected++;
	else
		m->stats.changes_applied++;
	return err;
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
		err = push_state(m, id, LB_BACKEND_UNUSED, first ? NULL : e);
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

/* ---- save ------------------------------------------------------------------- */

static int vip_cmp(const void *a, const void *b)
{
	const struct lb_vip_key *x = &(*(const struct cp_vip *const *)a)->key;
	const struct lb_vip_key *y = &(*(const struct cp_vip *const *)b)->key;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(&x->addr, &y->addr, sizeof(x->addr));
	if (c)
		return c;
	if (x->port != y->port)
		return ntohs(x->port) < ntohs(y->port) ? -1 : 1;
	return (int)x->proto - (int)y->proto;
}

static int backend_cmp(const void *a, const void *b)
{
	const struct cp_backend *x = *(const struct cp_backend *const *)a;
	const struct cp_backend *y = *(const struct cp_backend *const *)b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

/* The request that creates v as it is (ADD: only what is not default). */
static void vip_request(const struct cp_vip *v, struct cp_request *r)
{
	cp_request_init(r, CP_OP_VIP_ADD);
	r->fields = CP_F_VIP;
	r->vip = v->key;
	r->vip_flags = v->flags;
	r->ring_size = v->ring_size;
	r->check = v->check;
	r->fields |= cp_request_nondefault(r) & VIP_OPTS;
}

static void backend_request(const struct cp_vip *v, const struct cp_backend *b,
			    struct cp_request *r)
{
	cp_request_init(r, CP_OP_BACKEND_ADD);
	r->vip = v->key;
	r->backend = b->addr;
	r->backend_family = b->family;
	r->weight = b->weight;
	r->drain = b->draining;
	r->fields = CP_F_VIP | CP_F_BACKEND;
	r->fields |= cp_request_nondefault(r) & (CP_F_WEIGHT | CP_F_DRAIN);
}

static void node_request(const struct cp_node *n, struct cp_request *r)
{
	cp_request_init(r, CP_OP_NODE_SET);
	memcpy(r->interfaces, n->interfaces, sizeof(r->interfaces));
	r->n_interfaces = n->n_interfaces;
	r->encap_src4 = n->encap_src4;
	r->encap_src6 = n->encap_src6;
	memcpy(r->metrics, n->metrics, sizeof(r->metrics));
	r->flow_ttl_tcp = n->flow_ttl_tcp;
	r->flow_ttl_udp = n->flow_ttl_udp;
	r->fields = cp_request_nondefault(r) &
		    (CP_F_INTERFACES | CP_F_ENCAP4 | CP_F_ENCAP6 | CP_F_METRICS |
		     CP_F_FLOW_TTL_TCP | CP_F_FLOW_TTL_UDP);
}

static int write_request(const struct cp_request *r, FILE *out)
{
	char line[CP_MODEL_MAX_LINE + 1];
	int n = cp_cmd_format(r, line, sizeof(line));

	if (n < 0) {
		pr_warn("save: cannot format a %s line: %s\n", cp_op_name(r->op),
			strerror(-n));
		return n;
	}
	return fprintf(out, "%s\n", line) < 0 ? -EIO : 0;
}

static int save_vip(const struct cp_vip *v, FILE *out)
{
	const struct cp_backend **bs = NULL;
	struct cp_request r;
	int err;

	if (v->n_backends && !(bs = malloc(v->n_backends * sizeof(*bs))))
		return -ENOMEM;
	vip_request(v, &r);
	err = fputs("\n", out) < 0 ? -EIO : write_request(&r, out);
	for (size_t i = 0; i < v->n_backends; i++)
		bs[i] = &v->backends[i];
	if (v->n_backends)
		qsort(bs, v->n_backends, sizeof(*bs), backend_cmp);
	for (size_t i = 0; i < v->n_backends && !err; i++) {
		backend_request(v, bs[i], &r);
		err = write_request(&r, out);
	}
	free(bs);
	return err;
}

int cp_model_save(const struct cp_model *m, FILE *out)
{
	const struct cp_vip **vs = NULL;
	struct cp_request r;
	int err = 0;

	if (m->n_vips && !(vs = malloc(m->n_vips * sizeof(*vs))))
		return -ENOMEM;
	if (fputs("# sluice state\n", out) < 0)
		err = -EIO;
	node_request(&m->node, &r);
	if (!err && r.fields)
		err = write_request(&r, out);
	for (size_t i = 0; i < m->n_vips; i++)
		vs[i] = &m->vips[i];
	if (m->n_vips)
		qsort(vs, m->n_vips, sizeof(*vs), vip_cmp);
	for (size_t i = 0; i < m->n_vips && !err; i++)
		err = save_vip(vs[i], out);
	free(vs);
	if (!err && (fflush(out) || ferror(out)))
		err = -EIO;
	return err;
}

/* ---- load --------------------------------------------------------------------- */

static int is_config_op(enum cp_op op)
{
	return op == CP_OP_VIP_ADD || op == CP_OP_VIP_SET || op == CP_OP_VIP_DEL ||
	       op == CP_OP_BACKEND_ADD || op == CP_OP_BACKEND_SET || op == CP_OP_BACKEND_DEL ||
	       op == CP_OP_NODE_SET;
}

/* e->field = "NAME:LINE". The field is short: a long name keeps its tail
 * (the file name), never the line number. */
static int line_error(struct cp_error *e, const char *name, unsigned long line,
		      const struct cp_error *why)
{
	char num[24];
	size_t nl, room;

	if (!e)
		return -EINVAL;
	name = name ? name : "config";
	room = sizeof(e->field) - 1;
	snprintf(num, sizeof(num), ":%lu", line);
	nl = strlen(name);
	if (nl + strlen(num) > room)
		name += nl - (room - strlen(num));
	if (why->field[0])
		snprintf(e->msg, sizeof(e->msg), "%.31s: %.200s", why->field, why->msg);
	else
		snprintf(e->msg, sizeof(e->msg), "%.250s", why->msg);
	snprintf(e->field, sizeof(e->field), "%s%s", name, num);
	return -EINVAL;
}

/* Parses and applies one line (already without its newline). Returns
 * 1 for a change applied, 0 for a blank or comment line, or -errno. */
static int load_line(struct cp_model *t, char *line, size_t len, struct cp_error *why)
{
	char *words[CP_MODEL_MAX_WORDS];
	struct cp_request r;
	int n, err;

	if (len > CP_MODEL_MAX_LINE)
		return cp_error_set(why, EINVAL, "", "line longer than %d bytes",
				    CP_MODEL_MAX_LINE);
	if (strlen(line) != len)
		return cp_error_set(why, EINVAL, "", "NUL byte in the line");
	n = cp_cmd_split(line, words, CP_MODEL_MAX_WORDS);
	if (n == -E2BIG)
		return cp_error_set(why, EINVAL, "", "more than %d words", CP_MODEL_MAX_WORDS);
	if (n < 0)
		return cp_error_set(why, EINVAL, "", "unterminated quote");
	if (n == 0)
		return 0;
	err = cp_cmd_parse(n, words, &r, why);
	if (err)
		return err;
	if (!is_config_op(r.op))
		return cp_error_set(why, EINVAL, words[0], "not a configuration command");
	/* A target without a driver does not need rings (see the top). */
	err = apply_one(t, &r, why, t->driver != NULL);
	return err ? err : 1;
}

int cp_model_load(struct cp_model *target, FILE *in, const char *name, struct cp_error *e)
{
	struct cp_error why;
	unsigned long lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int err = 0;

	while (!err && (len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		memset(&why, 0, sizeof(why));
		err = load_line(target, line, (size_t)len, &why);
		if (err < 0) {
			target->stats.changes_rejected++;
			err = line_error(e, name, lineno, &why);
		} else {
			target->stats.changes_applied += (__u64)err;
			err = 0;
		}
	}
	free(line);
	if (!err && ferror(in)) {
		why.field[0] = '\0';
		snprintf(why.msg, sizeof(why.msg), "read error");
		err = line_error(e, name, lineno + 1, &why);
	}
	return err;
}

/* ---- diff --------------------------------------------------------------------- */

static int diff_node(struct cp_model *m, const struct cp_model *t, struct cp_error *e)
{
	const struct cp_node *a = &m->node, *b = &t->node;
	struct cp_request r;
	int same_ifs = a->n_interfaces == b->n_interfaces, err;

	for (int i = 0; same_ifs && i < b->n_interfaces; i++)
		same_ifs = has_interface(a, b->interfaces[i]);
	node_request(b, &r);
	r.fields = 0;
	r.fields |= same_ifs ? 0 : CP_F_INTERFACES;
	/* An encap source the target lacks is kept: a config script cannot
	 * say "none", and dropping it would stop every flow of that family. */
	r.fields |= b->encap_src4 && a->encap_src4 != b->encap_src4 ? CP_F_ENCAP4 : 0;
	r.fields |= (b->encap_src6.w[0] | b->encap_src6.w[1] | b->encap_src6.w[2] |
		     b->encap_src6.w[3]) &&
				    memcmp(&a->encap_src6, &b->encap_src6, sizeof(a->encap_src6))
			    ? CP_F_ENCAP6
			    : 0;
	r.fields |= strncmp(a->metrics, b->metrics, sizeof(a->metrics)) ? CP_F_METRICS : 0;
	/* A script without a TTL means the default (the target model has it). */
	r.fields |= a->flow_ttl_tcp != b->flow_ttl_tcp ? CP_F_FLOW_TTL_TCP : 0;
	r.fields |= a->flow_ttl_udp != b->flow_ttl_udp ? CP_F_FLOW_TTL_UDP : 0;
	if (!r.fields)
		return 0;
	err = apply_one(m, &r, e, 1);
	return err ? err : 1;
}

/* VIP_SET carrying exactly the settings of tv that v lacks. The check
 * fields sent are those the target's check type uses: the others reset
 * to defaults by themselves (check_canonical). */
static int diff_vip_set(struct cp_model *m, struct batch *b, const struct cp_vip *v,
			const struct cp_vip *tv, struct cp_error *e)
{
	struct cp_request r;
	__u32 fields = 0;

	vip_request(tv, &r);
	r.op = CP_OP_VIP_SET;
	fields |= v->flags != tv->flags ? CP_F_AFFINITY : 0;
	fields |= v->ring_size != tv->ring_size ? CP_F_RING : 0;
	fields |= check_diff(&v->check, &tv->check) &
		  (CP_F_CHECK_TYPE | check_relevant(tv->check.type));
	if (!fields)
		return 0;
	r.fields = CP_F_VIP | fields;
	return batch_change(m, b, &r, e);
}

static int diff_backend(struct cp_model *m, struct batch *b, const struct cp_vip *v,
			const struct cp_backend *be, const struct cp_vip *tv, struct cp_error *e)
{
	const struct cp_backend *tb = cp_vip_find_backend(tv, &be->addr, be->family);
	struct cp_request r;

	backend_request(v, tb ? tb : be, &r);
	if (!tb) {
		r.op = CP_OP_BACKEND_DEL;
		r.fields = CP_F_VIP | CP_F_BACKEND;
		return batch_change(m, b, &r, e);
	}
	r.op = CP_OP_BACKEND_SET;
	r.fields = CP_F_VIP | CP_F_BACKEND;
	r.fields |= be->weight != tb->weight ? CP_F_WEIGHT : 0;
	r.fields |= be->draining != tb->draining ? CP_F_DRAIN : 0;
	if (r.fields == (CP_F_VIP | CP_F_BACKEND))
		return 0;
	return batch_change(m, b, &r, e);
}

/* Deletions and changes. Walked backwards: a deletion only moves entries
 * already visited. */
static int diff_removals(struct cp_model *m, const struct cp_model *t, struct batch *b,
			 struct cp_error *e)
{
	for (size_t i = m->n_vips; i-- > 0;) {
		const struct cp_vip *tv = cp_model_find_vip(t, &m->vips[i].key);
		struct cp_request r;
		int err;

		if (!tv) {
			vip_request(&m->vips[i], &r);
			r.op = CP_OP_VIP_DEL;
			r.fields = CP_F_VIP;
			err = batch_change(m, b, &r, e);
		} else {
			err = diff_vip_set(m, b, &m->vips[i], tv, e);
		}
		for (size_t j = m->vips[i].n_backends; tv && !err && j-- > 0;)
			err = diff_backend(m, b, &m->vips[i], &m->vips[i].backends[j], tv, e);
		if (err)
			return err;
	}
	return 0;
}

static int diff_additions(struct cp_model *m, const struct cp_model *t, struct batch *b,
			  struct cp_error *e)
{
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct cp_vip *tv = &t->vips[i];
		struct cp_request r;
		int err = 0;

		if (!cp_model_find_vip(m, &tv->key)) {
			vip_request(tv, &r);
			err = batch_change(m, b, &r, e);
		}
		for (size_t j = 0; j < tv->n_backends && !err; j++) {
			const struct cp_backend *tb = &tv->backends[j];

			if (cp_vip_find_backend(cp_model_find_vip(m, &tv->key), &tb->addr, tb->family))
				continue;
			backend_request(tv, tb, &r);
			err = batch_change(m, b, &r, e);
		}
		if (err)
			return err;
	}
	return 0;
}

/* One batch of the diff: fill with fn, then build and push once. */
static int diff_batch(struct cp_model *m, const struct cp_model *t,
		      int (*fn)(struct cp_model *, const struct cp_model *, struct batch *,
				struct cp_error *),
		      struct cp_error *e)
{
	struct batch b;
	int err = batch_begin(m, &b, 1);

	if (err)
		err = cp_error_set(e, ENOMEM, "model", "out of memory");
	if (!err) {
		err = fn(m, t, &b, e);
		if (err)
			batch_rollback(m, &b, 0);
		else
			err = batch_flush(m, &b, e);
	}
	if (err) {
		m->stats.changes_rejected++;
		batch_end(&b);
		return err;
	}
	m->stats.changes_applied += b.changes;
	err = (int)b.changes;
	batch_end(&b);
	return err;
}

int cp_model_apply_diff(struct cp_model *m, const struct cp_model *target, struct cp_error *e)
{
	int n, total;

	/* Removals first and flushed on their own: the ids and the room
	 * they free are then truly free for the additions. */
	total = diff_node(m, target, e);
	if (total < 0) {
		m->stats.changes_rejected++;
		return total;
	}
	m->stats.changes_applied += (__u64)total;
	n = diff_batch(m, target, diff_removals, e);
	if (n < 0)
		return n;
	total += n;
	n = diff_batch(m, target, diff_additions, e);
	return n < 0 ? n : total + n;
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
			push_backend(m, &v->backends[j], &e);
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
