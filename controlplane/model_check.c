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

/* The API's name of a field: errors name fields the way JSON does. */
const char *model_field_name(__u32 bit)
{
	const struct cp_field *f = cp_field_of(bit);

	return f ? f->api : "?";
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

/* The settings fields a request supplies. An ADD supplies them all: its
 * values are cp_request_init()'s defaults unless given, and cmd.h and
 * request.h say an ADD means the same with or without the bits of
 * default-valued fields. A SET supplies only the fields it carries. */
static __u32 spec_fields(const struct cp_request *r)
{
	return r->op == CP_OP_VIP_ADD ? cp_spec_fields() : r->fields & cp_spec_fields();
}

/* base: the VIP being set, or NULL for an add. */
void model_spec_build(const struct cp_vip *base, const struct cp_request *r,
		      struct cp_vip_spec *s)
{
	struct cp_request d;

	cp_request_init(&d, CP_OP_VIP_ADD);
	*s = base ? base->spec : d.spec;
	cp_spec_copy(s, &r->spec, spec_fields(r));
	cp_spec_canonical(s);
}

/* Which fields the op takes and needs (request.c's table, shared with
 * the parsers; checked again here for requests built by hand). */
static int check_op_fields(const struct cp_request *r, struct cp_error *e)
{
	struct cp_op_fields f;
	__u32 extra, missing;

	if (cp_op_fields(r->op, &f))
		return cp_error_set(e, -EINVAL, "op", "unknown op %d", (int)r->op);
	extra = r->fields & ~f.allowed;
	if (extra)
		return cp_error_set(e, -EINVAL, model_field_name(lowest_bit(extra)), "not used by %s",
				    cp_op_name(r->op));
	missing = f.required & ~r->fields;
	if (missing)
		return cp_error_set(e, -EINVAL, model_field_name(lowest_bit(missing)),
				    "required by %s", cp_op_name(r->op));
	if (f.one_of && !(r->fields & f.one_of))
		return cp_error_set(e, -EINVAL, cp_op_name(r->op), "changes nothing");
	return 0;
}

/* Every value the request carries must be one a parser could have
 * produced (request.c's rules; a request built by hand may hold
 * anything). An ADD carries all the op's fields: its defaults unless
 * given. The VIP and the backend have rules of their own below. */
static int values_check(const struct cp_request *r, struct cp_error *e)
{
	struct cp_op_fields f;
	__u32 bits = r->fields;

	cp_op_fields(r->op, &f);
	if (r->op == CP_OP_VIP_ADD || r->op == CP_OP_BACKEND_ADD)
		bits |= f.allowed;
	return cp_request_check_values(r, bits & ~(CP_F_VIP | CP_F_BACKEND), e);
}

static int vip_key_check(const struct lb_vip_key *k, struct cp_error *e)
{
	char buf[64];

	if (k->family != LB_FAMILY_V4 && k->family != LB_FAMILY_V6)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_VIP),
				    "missing, or not IPv4/IPv6");
	if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_VIP),
				    "protocol %u: only tcp and udp", k->proto);
	if (!addr_well_formed(&k->addr, k->family))
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_VIP),
				    "IPv4 address with junk in words 1..3");
	if (!addr_unicast(&k->addr, k->family))
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_VIP),
				    "%s is not a unicast address",
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
		return cp_error_set(e, err, model_field_name(CP_F_VIP), "%s: no such VIP",
				    model_fmt_vip(&r->vip, buf, sizeof(buf)));
	return 0;
}

static int ring_check(const struct cp_model *m, __u32 size, struct cp_error *e)
{
	__u32 max = m->limits.max_ring < LB_MAGLEV_MAX_RING ? m->limits.max_ring
							     : LB_MAGLEV_MAX_RING;

	if (size < 3)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_RING), "%u is below 3", size);
	if (size > max)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_RING),
				    "%u is larger than %u, the fast path's largest ring (--max-ring %u)",
				    size, max, m->limits.max_ring);
	if (!lb_maglev_is_prime(size))
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_RING),
				    "%u is not prime", size);
	return 0;
}

/* The request may only carry parameters the resulting check type uses:
 * a parameter that would be ignored is the operator's mistake. */
static int check_params_used(const struct cp_request *r, const struct cp_check *c,
			     struct cp_error *e)
{
	__u32 unused = r->fields & cp_check_fields_all() & ~cp_check_fields(c->type);
	const char *type = cp_check_type_name(c->type);

	if (!unused)
		return 0;
	if (c->type == CP_CHECK_NONE)
		return cp_error_set(e, -EINVAL, model_field_name(lowest_bit(unused)),
				    "needs a health check (check tcp, http or udp)");
	return cp_error_set(e, -EINVAL, model_field_name(lowest_bit(unused)),
			    "not used by a%s %s check", c->type == CP_CHECK_HTTP ? "n" : "",
			    type ? type : "?");
}

/* What one field cannot say on its own: how the check's settings fit
 * together and with the VIP. */
static int check_relations(const struct lb_vip_key *k, const struct cp_check *c,
			   struct cp_error *e)
{
	if (c->timeout_ms >= c->interval_ms)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_CHECK_TIMEOUT),
				    "%u ms: must be above 0 and below the interval (%u ms)",
				    c->timeout_ms, c->interval_ms);
	if (!k->port && !c->port)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_CHECK_PORT),
				    "a port-wildcard VIP needs an explicit check port");
	if (c->type == CP_CHECK_HTTP && !c->path[0])
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_CHECK_PATH),
				    "an HTTP check needs a path starting with '/', without spaces");
	if (c->type == CP_CHECK_UDP && !c->payload[0])
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_CHECK_PAYLOAD),
				    "a UDP check needs a payload");
	return 0;
}

static int spec_check(const struct cp_model *m, const struct cp_request *r,
		      const struct cp_vip_spec *s, struct cp_error *e)
{
	int err = ring_check(m, s->ring_size, e);

	if (!err)
		err = check_params_used(r, &s->check, e);
	if (err || s->check.type == CP_CHECK_NONE)
		return err;
	return check_relations(&r->vip, &s->check, e);
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
		return cp_error_set(e, -ENOSPC, model_field_name(CP_F_VIP),
				    "too many VIPs: %zu requested, %u fit (--max-vips %u)",
				    m->n_vips + 1, m->limits.max_vips, m->limits.max_vips);
	/* The table holds at most vip_slots / 2 keys; counting exactly is
	 * quadratic, so only when the easy bound says it might not fit. */
	if (2 * (m->n_vips + 1) <= slots)
		return 0;
	need = vip_table_entries(m) + 1 + !addr_is_vip(m, k);
	if (need > slots)
		return cp_error_set(e, -ENOSPC, model_field_name(CP_F_VIP),
				    "VIP table full: %zu keys with ICMP entries, %zu fit", need,
				    slots);
	return 0;
}

static int vip_add_check(const struct cp_model *m, const struct cp_request *r,
			 struct cp_error *e)
{
	struct cp_vip_spec s;
	char buf[96];
	int err = vip_key_check(&r->vip, e);

	if (err)
		return err;
	if (cp_model_find_vip(m, &r->vip))
		return cp_error_set(e, -EEXIST, model_field_name(CP_F_VIP), "%s exists",
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
	struct cp_vip_spec s;
	struct cp_vip *v;
	int err = vip_lookup(m, r, -ENOENT, &v, e);

	if (err)
		return err;
	model_spec_build(v, r, &s);
	return spec_check(m, r, &s, e);
}

/* The VIP and the backend a backend request names; the backend must
 * exist (want 1) or not (want 0). err: -errno for "no such". */
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
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_BACKEND),
				    "missing, or not IPv4/IPv6");
	exists = cp_vip_find_backend(v, &r->backend, r->backend_family) != NULL;
	if (exists == want)
		return 0;
	model_fmt_addr(&r->backend, r->backend_family, abuf, sizeof(abuf));
	model_fmt_vip(&v->key, vbuf, sizeof(vbuf));
	if (exists)
		return cp_error_set(e, -EEXIST, model_field_name(CP_F_BACKEND),
				    "%s is already a backend of %s", abuf,
				    vbuf);
	return cp_error_set(e, err, model_field_name(CP_F_BACKEND),
			    "%s is not a backend of %s", abuf, vbuf);
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
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_BACKEND),
				    "%s is not a unicast address",
				    model_fmt_addr(&r->backend, r->backend_family, buf, sizeof(buf)));
	if (model_count_backends(m) >= m->limits.max_backends)
		return cp_error_set(e, -ENOSPC, model_field_name(CP_F_BACKEND),
				    "too many backends: %zu requested, %u fit (--max-backends %u)",
				    model_count_backends(m) + 1, m->limits.max_backends,
				    m->limits.max_backends);
	return 0;
}

static int health_check(const struct cp_model *m, const struct cp_request *r,
			struct cp_error *e)
{
	/* sluice-healthd may report on a backend deleted a moment ago:
	 * ENOENT, which it can tell from a malformed report. */
	return backend_lookup(m, r, 1, -ENOENT, e);
}

static int node_check(const struct cp_request *r, struct cp_error *e)
{
	char buf[64];
	struct lb_addr a4 = { { r->encap_src4, 0, 0, 0 } };

	if ((r->fields & CP_F_ENCAP4) && !addr_unicast(&a4, LB_FAMILY_V4))
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_ENCAP4),
				    "%s is not a unicast address",
				    model_fmt_addr(&a4, LB_FAMILY_V4, buf, sizeof(buf)));
	if ((r->fields & CP_F_ENCAP6) && !addr_unicast(&r->encap_src6, LB_FAMILY_V6))
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_ENCAP6),
				    "%s is not a unicast address",
				    model_fmt_addr(&r->encap_src6, LB_FAMILY_V6, buf, sizeof(buf)));
	return 0;
}

static int op_check(const struct cp_model *m, const struct cp_request *r, struct cp_error *e)
{
	struct cp_vip *v;

	switch (r->op) {
	case CP_OP_VIP_ADD:
		return vip_add_check(m, r, e);
	case CP_OP_VIP_SET:
		return vip_set_check(m, r, e);
	case CP_OP_VIP_DEL:
		return vip_lookup(m, r, -ENOENT, &v, e);
	case CP_OP_BACKEND_ADD:
		return backend_add_check(m, r, e);
	case CP_OP_BACKEND_SET:
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

int cp_model_check(const struct cp_model *m, const struct cp_request *r, struct cp_error *e)
{
	int err = check_op_fields(r, e);

	if (!err)
		err = values_check(r, e);
	return err ? err : op_check(m, r, e);
}
