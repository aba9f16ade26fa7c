// SPDX-License-Identifier: Apache-2.0
/*
 * model_check.c - what the model accepts: cp_model_check() validates a
 * change completely against the model before anything moves, and names
 * the field and the reason when it refuses. Pure: reads the model,
 * changes nothing.
 */
#define LB_LOG_PREFIX "model: "

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

#include "model_int.h"

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

const char *model_field_name(__u32 bit)
{
	for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
		if (field_names[i].bit == bit)
			return field_names[i].name;
	return "?";
}

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

const char *model_fmt_addr(const struct lb_addr *a, __u8 family, char *buf, size_t len)
{
	const char *s = cp_format_addr(a, family, buf, len);

	return s ? s : "(bad address)";
}

const char *model_fmt_vip(const struct lb_vip_key *k, char *buf, size_t len)
{
	const char *s = cp_format_vip(k, buf, len);

	return s ? s : "(bad VIP)";
}

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
__u32 model_check_relevant(enum cp_check_type t)
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
	__u32 keep = CP_F_CHECK_TYPE | model_check_relevant(c->type);

	for (size_t i = 0; i < N_CHECK_FIELDS; i++)
		if (!(keep & check_fields[i].bit))
			check_field_copy(c, &def, &check_fields[i]);
}

/* Bits of the check fields that differ between a and b. */
__u32 model_check_diff(const struct cp_check *a, const struct cp_check *b)
{
	__u32 diff = 0;

	for (size_t i = 0; i < N_CHECK_FIELDS; i++)
		if (!check_field_equal(a, b, &check_fields[i]))
			diff |= check_fields[i].bit;
	return diff;
}

/* The settings fields a request supplies. An ADD supplies them all: its
 * values are cp_request_init()'s defaults unless given, and cmd.h and
 * request.h say an ADD means the same with or without the bits of
 * default-valued fields. A SET supplies only the fields it carries. */
static __u32 spec_fields(const struct cp_request *r)
{
	return r->op == CP_OP_VIP_ADD ? VIP_OPTS : r->fields & VIP_OPTS;
}

/* base: the VIP being set, or NULL for an add. */
void model_spec_build(const struct cp_vip *base, const struct cp_request *r,
		       struct model_vip_spec *s)
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

/* Which fields the op takes and needs (request.c's table, shared with
 * the parsers; checked again here for requests built by hand). */
static int check_op_fields(const struct cp_request *r, struct cp_error *e)
{
	const struct cp_op_fields *f = cp_op_fields(r->op);
	__u32 extra, missing;

	if (!f)
		return cp_error_set(e, -EINVAL, "op", "unknown op %d", (int)r->op);
	extra = r->fields & ~f->allowed;
	if (extra)
		return cp_error_set(e, -EINVAL, model_field_name(lowest_bit(extra)), "not used by %s",
				    cp_op_name(r->op));
	missing = f->required & ~r->fields;
	if (missing)
		return cp_error_set(e, -EINVAL, model_field_name(lowest_bit(missing)), "required by %s",
				    cp_op_name(r->op));
	if (f->one_of && !(r->fields & f->one_of))
		return cp_error_set(e, -EINVAL, cp_op_name(r->op), "changes nothing");
	return 0;
}

static int vip_key_check(const struct lb_vip_key *k, struct cp_error *e)
{
	char buf[64];

	if (k->family != LB_FAMILY_V4 && k->family != LB_FAMILY_V6)
		return cp_error_set(e, -EINVAL, "vip", "missing, or not IPv4/IPv6");
	if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP)
		return cp_error_set(e, -EINVAL, "vip", "protocol %u: only tcp and udp", k->proto);
	if (!addr_well_formed(&k->addr, k->family))
		return cp_error_set(e, -EINVAL, "vip", "IPv4 address with junk in words 1..3");
	if (!addr_unicast(&k->addr, k->family))
		return cp_error_set(e, -EINVAL, "vip", "%s is not a unicast address",
				    model_fmt_addr(&k->addr, k->family, buf, sizeof(buf)));
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
				    model_fmt_vip(&r->vip, buf, sizeof(buf)));
	return 0;
}

static int ring_check(const struct cp_model *m, __u32 size, struct cp_error *e)
{
	__u32 max = m->limits.max_ring < LB_MAGLEV_MAX_RING ? m->limits.max_ring
							     : LB_MAGLEV_MAX_RING;

	if (size < 3)
		return cp_error_set(e, -EINVAL, "ring", "%u is below 3", size);
	if (size > max)
		return cp_error_set(e, -EINVAL, "ring",
				    "%u is larger than %u, the fast path's largest ring", size, max);
	if (!lb_maglev_is_prime(size))
		return cp_error_set(e, -EINVAL, "ring", "%u is not prime", size);
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
	__u32 unused = r->fields & CHECK_PARAMS & ~model_check_relevant(c->type);
	const char *type = cp_check_type_name(c->type);

	if (!unused)
		return 0;
	if (c->type == CP_CHECK_NONE)
		return cp_error_set(e, -EINVAL, model_field_name(lowest_bit(unused)),
				    "needs a health check (check tcp, http or udp)");
	return cp_error_set(e, -EINVAL, model_field_name(lowest_bit(unused)), "not used by a%s %s check",
			    c->type == CP_CHECK_HTTP ? "n" : "", type ? type : "?");
}

static int check_timing(const struct cp_check *c, struct cp_error *e)
{
	if (c->interval_ms < CP_CHECK_MIN_INTERVAL_MS || c->interval_ms > CP_CHECK_MAX_INTERVAL_MS)
		return cp_error_set(e, -EINVAL, "check_interval_ms", "%u ms is out of range %u..%u",
				    c->interval_ms, CP_CHECK_MIN_INTERVAL_MS,
				    CP_CHECK_MAX_INTERVAL_MS);
	if (c->timeout_ms == 0 || c->timeout_ms >= c->interval_ms)
		return cp_error_set(e, -EINVAL, "check_timeout_ms",
				    "%u ms: must be above 0 and below the interval (%u ms)",
				    c->timeout_ms, c->interval_ms);
	if (c->rise < 1 || c->rise > CP_CHECK_MAX_RISE_FALL)
		return cp_error_set(e, -EINVAL, "check_rise", "%u is out of range 1..%u", c->rise,
				    CP_CHECK_MAX_RISE_FALL);
	if (c->fall < 1 || c->fall > CP_CHECK_MAX_RISE_FALL)
		return cp_error_set(e, -EINVAL, "check_fall", "%u is out of range 1..%u", c->fall,
				    CP_CHECK_MAX_RISE_FALL);
	return 0;
}

static int check_kind(const struct lb_vip_key *k, const struct cp_check *c, struct cp_error *e)
{
	if (!k->port && !c->port)
		return cp_error_set(e, -EINVAL, "check_port",
				    "a port-wildcard VIP needs an explicit check port");
	if (c->type == CP_CHECK_HTTP) {
		if (c->path[0] != '/' || !token_ok(c->path))
			return cp_error_set(e, -EINVAL, "check_path",
					    "an HTTP check needs a path starting with '/', without spaces");
		if (!token_ok(c->host))
			return cp_error_set(e, -EINVAL, "check_host",
					    "printable characters only, no spaces");
		if (c->expect_status < 100 || c->expect_status > 599)
			return cp_error_set(e, -EINVAL, "check_status", "%u is out of range 100..599",
					    c->expect_status);
	}
	if (c->type == CP_CHECK_UDP && !c->payload[0])
		return cp_error_set(e, -EINVAL, "check_payload", "a UDP check needs a payload");
	return 0;
}

static int check_check(const struct lb_vip_key *k, const struct cp_request *r,
		       const struct cp_check *c, struct cp_error *e)
{
	int err;

	if ((unsigned)c->type > CP_CHECK_UDP)
		return cp_error_set(e, -EINVAL, "check", "unknown check type %d", (int)c->type);
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
			return cp_error_set(e, -EINVAL, model_field_name(f->bit), "longer than %zu bytes",
					    f->size - 1);
	}
	return 0;
}

static int spec_check(const struct cp_model *m, const struct cp_request *r,
		      const struct model_vip_spec *s, struct cp_error *e)
{
	int err;

	if ((spec_fields(r) & CP_F_AFFINITY) && (r->vip_flags & ~LB_VIP_F_AFFINITY))
		return cp_error_set(e, -EINVAL, "affinity", "unknown flags %#x", r->vip_flags);
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
		return cp_error_set(e, -ENOSPC, "vip", "too many VIPs: the fast path holds %u",
				    m->limits.max_vips);
	/* The table holds at most vip_slots / 2 keys; counting exactly is
	 * quadratic, so only when the easy bound says it might not fit. */
	if (2 * (m->n_vips + 1) <= slots)
		return 0;
	need = vip_table_entries(m) + 1 + !addr_is_vip(m, k);
	if (need > slots)
		return cp_error_set(e, -ENOSPC, "vip",
				    "VIP table full: %zu keys with ICMP entries, %zu fit", need,
				    slots);
	return 0;
}

static int vip_add_check(const struct cp_model *m, const struct cp_request *r,
			 struct cp_error *e)
{
	struct model_vip_spec s;
	char buf[96];
	int err = vip_key_check(&r->vip, e);

	if (err)
		return err;
	if (cp_model_find_vip(m, &r->vip))
		return cp_error_set(e, -EEXIST, "vip", "%s exists",
				    model_fmt_vip(&r->vip, buf, sizeof(buf)));
	err = room_for_vip(m, &r->vip, e);
	if (err)
		return err;
	model_spec_build(NULL, r, &s);
	return spec_check(m, r, &s, e);
}

static int vip_set_check(const struct cp_model *m, const struct cp_request *r,
			 struct cp_error *e)
{
	struct model_vip_spec s;
	struct cp_vip *v;
	int err = vip_lookup(m, r, -ENOENT, &v, e);

	if (err)
		return err;
	model_spec_build(v, r, &s);
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
		return cp_error_set(e, -EINVAL, "backend", "missing, or not IPv4/IPv6");
	exists = cp_vip_find_backend(v, &r->backend, r->backend_family) != NULL;
	if (exists == want)
		return 0;
	model_fmt_addr(&r->backend, r->backend_family, abuf, sizeof(abuf));
	model_fmt_vip(&v->key, vbuf, sizeof(vbuf));
	if (exists)
		return cp_error_set(e, -EEXIST, "backend", "%s is already a backend of %s", abuf,
				    vbuf);
	return cp_error_set(e, err, "backend", "%s is not a backend of %s", abuf, vbuf);
}

/* An ADD's weight is always its value (default 100), a SET's only when
 * given. */
static int weight_check(const struct cp_request *r, struct cp_error *e)
{
	if ((r->op == CP_OP_BACKEND_ADD || (r->fields & CP_F_WEIGHT)) && r->weight > CP_MAX_WEIGHT)
		return cp_error_set(e, -EINVAL, "weight", "%u is out of range 0..%u", r->weight,
				    CP_MAX_WEIGHT);
	return 0;
}

static int backend_add_check(const struct cp_model *m, const struct cp_request *r,
			     struct cp_error *e)
{
	char buf[64];
	int err = backend_lookup(m, r, 0, -ENOENT, e);

	if (err)
		return err;
	/* Backend family vs the node's encap sources is not checked: the
	 * source may be configured later, and meanwhile the fast path
	 * counts the packets as drop_no_source. */
	if (!addr_unicast(&r->backend, r->backend_family))
		return cp_error_set(e, -EINVAL, "backend", "%s is not a unicast address",
				    model_fmt_addr(&r->backend, r->backend_family, buf, sizeof(buf)));
	if (model_count_backends(m) >= m->limits.max_backends)
		return cp_error_set(e, -ENOSPC, "backend",
				    "too many backends: the fast path holds %u VIP-backend pairs",
				    m->limits.max_backends);
	return weight_check(r, e);
}

static int health_check(const struct cp_model *m, const struct cp_request *r,
			struct cp_error *e)
{
	/* sluice-healthd may report on a backend deleted a moment ago:
	 * ENOENT, which it can tell from a malformed report. */
	int err = backend_lookup(m, r, 1, -ENOENT, e);

	if (err)
		return err;
	if (r->health != CP_HEALTH_UP && r->health != CP_HEALTH_DOWN)
		return cp_error_set(e, -EINVAL, "health", "must be up or down");
	return 0;
}

/* Linux's dev_valid_name(): the name also becomes a directory under
 * /sys/fs/bpf/sluice/, so '/' and ".." must never get through. */
static int ifname_check(const char *name, size_t size, struct cp_error *e)
{
	size_t len = strnlen(name, size);

	if (!len)
		return cp_error_set(e, -EINVAL, "interface", "empty name");
	if (len >= IF_NAMESIZE)
		return cp_error_set(e, -EINVAL, "interface", "'%.*s' is longer than %d characters",
				    (int)len, name, IF_NAMESIZE - 1);
	if (!strcmp(name, ".") || !strcmp(name, "..") || strpbrk(name, "/:") || !token_ok(name))
		return cp_error_set(e, -EINVAL, "interface", "'%s' is not an interface name", name);
	return 0;
}

static int interfaces_check(const struct cp_request *r, struct cp_error *e)
{
	if (r->n_interfaces > CP_MAX_INTERFACES)
		return cp_error_set(e, -EINVAL, "interface", "more than %d interfaces",
				    CP_MAX_INTERFACES);
	for (int i = 0; i < r->n_interfaces; i++) {
		int err = ifname_check(r->interfaces[i], sizeof(r->interfaces[i]), e);

		if (err)
			return err;
		for (int j = 0; j < i; j++)
			if (!strcmp(r->interfaces[i], r->interfaces[j]))
				return cp_error_set(e, -EINVAL, "interface", "'%s' is listed twice",
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
	return cp_error_set(e, -EINVAL, "metrics", "'%s': expected ADDR:PORT or [ADDR6]:PORT", s);
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
		return cp_error_set(e, -EINVAL, "encap_source", "%s is not a unicast address",
				    model_fmt_addr(&a4, LB_FAMILY_V4, buf, sizeof(buf)));
	if ((r->fields & CP_F_ENCAP6) && !addr_unicast(&r->encap_src6, LB_FAMILY_V6))
		return cp_error_set(e, -EINVAL, "encap_source6", "%s is not a unicast address",
				    model_fmt_addr(&r->encap_src6, LB_FAMILY_V6, buf, sizeof(buf)));
	if ((r->fields & CP_F_FLOW_TTL_TCP) && r->flow_ttl_tcp > LB_FLOW_TTL_MAX)
		return cp_error_set(e, -EINVAL, "flow_ttl_tcp_s", "%u s: at most %u s (a week)",
				    r->flow_ttl_tcp, LB_FLOW_TTL_MAX);
	if ((r->fields & CP_F_FLOW_TTL_UDP) && r->flow_ttl_udp > LB_FLOW_TTL_MAX)
		return cp_error_set(e, -EINVAL, "flow_ttl_udp_s", "%u s: at most %u s (a week)",
				    r->flow_ttl_udp, LB_FLOW_TTL_MAX);
	if (r->fields & CP_F_METRICS) {
		if (strnlen(r->metrics, sizeof(r->metrics)) >= sizeof(r->metrics))
			return cp_error_set(e, -EINVAL, "metrics", "too long");
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

		return vip_lookup(m, r, -ENOENT, &v, e);
	}
	case CP_OP_BACKEND_ADD:
		return backend_add_check(m, r, e);
	case CP_OP_BACKEND_SET:
		err = backend_lookup(m, r, 1, -ENOENT, e);
		return err ? err : weight_check(r, e);
	case CP_OP_BACKEND_DEL:
		return backend_lookup(m, r, 1, -ENOENT, e);
	case CP_OP_NODE_SET:
		return node_check(r, e);
	case CP_OP_HEALTH_REPORT:
		return health_check(m, r, e);
	default:
		return cp_error_set(e, -EINVAL, "op", "%s does not change the state",
				    cp_op_name(r->op) ? cp_op_name(r->op) : "?");
	}
}
