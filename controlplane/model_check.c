// SPDX-License-Identifier: Apache-2.0
/*
 * model_check.c - what the model accepts: cp_model_check() validates a
 * change completely against the model before anything moves, and names
 * the field and the reason when it refuses. Pure: reads the model,
 * changes nothing; the one question it asks outside is the is_local
 * hook's (model.h), whether a backend is this host.
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
const char *model_field_name(__u64 bit)
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

/* --- What an address may be ------------------------------------------- */

/* An address of a class no packet can be forwarded to or from (address.h)
 * names its class; a mapped IPv4 says which address was meant. role
 * ends the reason: "not usable as a VIP". */
static int addr_class_check(const struct lb_addr *a, __u8 family, __u64 field,
			    const char *role, struct cp_error *e)
{
	const char *cls = cp_addr_unusable(a, family);
	char buf[64], v4buf[64];
	struct lb_addr v4;

	if (!cls)
		return 0;
	model_fmt_addr(a, family, buf, sizeof(buf));
	if (cp_addr_unmap4(a, family, &v4))
		return cp_error_set(e, -EINVAL, model_field_name(field), "%s is %s: use %s", buf,
				    cls, model_fmt_addr(&v4, LB_FAMILY_V4, v4buf, sizeof(v4buf)));
	return cp_error_set(e, -EINVAL, model_field_name(field), "%s is %s: %s", buf, cls, role);
}

static int addr_eq(const struct lb_addr *a, __u8 fa, const struct lb_addr *b, __u8 fb)
{
	return fa == fb && !memcmp(a, b, sizeof(*a));
}

/* The node's encap source of family, or NULL if it has none. */
static const struct lb_addr *encap_source(const struct cp_node *n, __u8 family,
					  struct lb_addr *tmp)
{
	static const struct lb_addr none;

	if (family == LB_FAMILY_V6)
		return memcmp(&n->encap_src6, &none, sizeof(none)) ? &n->encap_src6 : NULL;
	memset(tmp, 0, sizeof(*tmp));
	tmp->w[0] = n->encap_src4;
	return n->encap_src4 ? tmp : NULL;
}

/* The first VIP at address a, or NULL. */
static const struct cp_vip *vip_at(const struct cp_model *m, const struct lb_addr *a, __u8 fam)
{
	if (!model_vip_addr_maybe(m, a, fam))
		return NULL;
	for (size_t i = 0; i < m->n_vips; i++)
		if (addr_eq(&m->vips[i].key.addr, m->vips[i].key.family, a, fam))
			return &m->vips[i];
	return NULL;
}

/* The first VIP with a backend at address a, or NULL. */
static const struct cp_vip *backend_at(const struct cp_model *m, const struct lb_addr *a,
				       __u8 fam)
{
	if (!model_addr_maybe(m, a, fam))
		return NULL;
	for (size_t i = 0; i < m->n_vips; i++)
		if (cp_vip_find_backend(&m->vips[i], a, fam))
			return &m->vips[i];
	return NULL;
}

/* a (a VIP's, a backend's or an encap source's address: field) must not
 * be another role's: a VIP as a backend loops packets through the
 * balancer, and a VIP or a backend at the encap source takes the
 * balancer's own traffic. skip: the roles a is allowed to share
 * (its own). */
#define ROLE_VIP 1
#define ROLE_BACKEND 2
#define ROLE_ENCAP 4
static int addr_roles_check(const struct cp_model *m, const struct lb_addr *a, __u8 fam,
			    __u64 field, int skip, struct cp_error *e)
{
	const char *other = field == CP_F_BACKEND ? "a backend" : "the encap source";
	char buf[64], vbuf[96];
	const struct cp_vip *v = NULL;
	struct lb_addr tmp;
	const struct lb_addr *src = encap_source(&m->node, fam, &tmp);

	if (!(skip & ROLE_VIP) && (v = vip_at(m, a, fam)))
		return cp_error_set(e, -EINVAL, model_field_name(field),
				    "%s is the address of VIP %s: a VIP cannot also be %s",
				    model_fmt_addr(a, fam, buf, sizeof(buf)),
				    model_fmt_vip(&v->key, vbuf, sizeof(vbuf)), other);
	other = field == CP_F_VIP ? "a VIP" : "the encap source";
	if (!(skip & ROLE_BACKEND) && (v = backend_at(m, a, fam)))
		return cp_error_set(e, -EINVAL, model_field_name(field),
				    "%s is a backend of VIP %s: a backend cannot also be %s",
				    model_fmt_addr(a, fam, buf, sizeof(buf)),
				    model_fmt_vip(&v->key, vbuf, sizeof(vbuf)), other);
	if (!(skip & ROLE_ENCAP) && src && addr_eq(a, fam, src, fam))
		return cp_error_set(e, -EINVAL, model_field_name(field),
				    "%s is the node's encap source (%s): the balancer's own address",
				    model_fmt_addr(a, fam, buf, sizeof(buf)),
				    model_field_name(fam == LB_FAMILY_V6 ? CP_F_ENCAP6 : CP_F_ENCAP4));
	return 0;
}

/* A backend on this host would be the balancer sending to itself: the
 * route to it is local (or broadcast), never out of an interface. */
static int backend_local_check(const struct cp_model *m, const struct lb_addr *a, __u8 fam,
			       struct cp_error *e)
{
	char buf[64];
	int local = m->is_local ? m->is_local(m->is_local_arg, fam, a) : CP_LOCAL_NO;

	if (local == CP_LOCAL_ADDR)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_BACKEND),
				    "%s is this host's own address (route is local): the balancer cannot be its own backend",
				    model_fmt_addr(a, fam, buf, sizeof(buf)));
	if (local == CP_LOCAL_BROADCAST)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_BACKEND),
				    "%s is the broadcast address of a connected subnet (route is broadcast): not a backend",
				    model_fmt_addr(a, fam, buf, sizeof(buf)));
	return 0;
}

/* The settings fields a request supplies. An ADD supplies them all: its
 * values are cp_request_init()'s defaults unless given, and cmd.h and
 * request.h say an ADD means the same with or without the bits of
 * default-valued fields. A SET supplies only the fields it carries. */
static __u64 spec_fields(const struct cp_request *r)
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
	__u64 extra, missing;

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
	__u64 bits = r->fields;

	cp_op_fields(r->op, &f);
	if (r->op == CP_OP_VIP_ADD || r->op == CP_OP_BACKEND_ADD)
		bits |= f.allowed;
	return cp_request_check_values(r, bits & ~(CP_F_VIP | CP_F_BACKEND), e);
}

static int vip_key_check(const struct lb_vip_key *k, struct cp_error *e)
{
	if (k->family != LB_FAMILY_V4 && k->family != LB_FAMILY_V6)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_VIP),
				    "missing, or not IPv4/IPv6");
	if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_VIP),
				    "protocol %u: only tcp and udp", k->proto);
	if (!addr_well_formed(&k->addr, k->family))
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_VIP),
				    "IPv4 address with junk in words 1..3");
	return addr_class_check(&k->addr, k->family, CP_F_VIP, "not usable as a VIP", e);
}

const struct cp_vip *cp_model_vip_named(const struct cp_model *m, const struct lb_vip_key *k,
				       int err, struct cp_error *e)
{
	const struct cp_vip *v = cp_model_find_vip(m, k);
	char buf[96], hint[80] = "";
	struct lb_vip_key k4;

	if (v)
		return v;
	/* The one VIP a mistyped family can hide: [::ffff:A]:P for A:P. */
	k4 = *k;
	if (cp_addr_unmap4(&k->addr, k->family, &k4.addr)) {
		k4.family = LB_FAMILY_V4;
		snprintf(hint, sizeof(hint), " (IPv4-mapped: use %s)",
			 model_fmt_vip(&k4, buf, sizeof(buf)));
	}
	cp_error_set(e, err, model_field_name(CP_F_VIP), "%s: no such VIP%s",
		     model_fmt_vip(k, buf, sizeof(buf)), hint);
	return NULL;
}

/* The VIP the request names: must exist unless adding. */
static int vip_lookup(const struct cp_model *m, const struct cp_request *r, int err,
		      struct cp_vip **out, struct cp_error *e)
{
	*out = (struct cp_vip *)cp_model_vip_named(m, &r->vip, err, e);
	return *out ? 0 : err;
}

/* n_backends: the VIP's backends, every one of them (drained and down
 * ones come back without a ring change). Maglev gives each backend at
 * least one slot only when the ring has as many slots as backends. */
static int ring_check(const struct cp_model *m, __u32 size, size_t n_backends,
		      struct cp_error *e)
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
	if (size < n_backends)
		return cp_error_set(e, -EINVAL, model_field_name(CP_F_RING),
				    "%u slots for %zu backends: every backend needs a slot, so the ring needs at least %zu",
				    size, n_backends, n_backends);
	return 0;
}

/* The request may only carry parameters the resulting check type uses:
 * a parameter that would be ignored is the operator's mistake. */
static int check_params_used(const struct cp_request *r, const struct cp_check *c,
			     struct cp_error *e)
{
	__u64 unused = r->fields & cp_check_fields_all() & ~cp_check_fields(c->type);
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
		      const struct cp_vip_spec *s, size_t n_backends, struct cp_error *e)
{
	int err = ring_check(m, s->ring_size, n_backends, e);

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
	err = addr_roles_check(m, &r->vip.addr, r->vip.family, CP_F_VIP, ROLE_VIP, e);
	if (!err)
		err = room_for_vip(m, &r->vip, e);
	if (err)
		return err;
	model_spec_build(NULL, r, &s);
	return spec_check(m, r, &s, 0, e);
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
	return spec_check(m, r, &s, v->n_backends, e);
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
	exists = model_vip_backend(m, v, &r->backend, r->backend_family) != NULL;
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

/* The 1 + n-th backend of v: a ring of M slots holds M backends. */
static int ring_room_check(const struct cp_vip *v, struct cp_error *e)
{
	char buf[96];

	if (v->n_backends < v->spec.ring_size)
		return 0;
	return cp_error_set(e, -EINVAL, model_field_name(CP_F_BACKEND),
			    "VIP %s has a ring of %u slots and %zu backends: a backend more needs a ring of at least %zu (vip set --ring)",
			    model_fmt_vip(&v->key, buf, sizeof(buf)), v->spec.ring_size,
			    v->n_backends, v->n_backends + 1);
}

static int backend_add_check(const struct cp_model *m, const struct cp_request *r,
			     struct cp_error *e)
{
	const struct lb_addr *a = &r->backend;
	__u8 fam = r->backend_family;
	int err = backend_lookup(m, r, 0, -ENOENT, e);

	/* Backend family vs the node's encap sources is not checked: the
	 * source may be configured later, and meanwhile the fast path
	 * counts the packets as drop_no_source. */
	if (!err)
		err = addr_class_check(a, fam, CP_F_BACKEND, "not routable to a backend", e);
	/* Another VIP's backend at the same address is fine: one server
	 * behind several services. */
	if (!err)
		err = addr_roles_check(m, a, fam, CP_F_BACKEND, ROLE_BACKEND, e);
	if (!err)
		err = ring_room_check(cp_model_find_vip(m, &r->vip), e);
	if (!err)
		err = backend_local_check(m, a, fam, e);
	if (err)
		return err;
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

/* An encap source is the outer source address backends answer ICMP to:
 * a unicast address of this host that is no VIP and no backend. */
static int encap_check(const struct cp_model *m, const struct lb_addr *a, __u8 fam, __u64 field,
		       struct cp_error *e)
{
	int err = addr_class_check(a, fam, field, "not usable as an encap source", e);

	return err ? err : addr_roles_check(m, a, fam, field, ROLE_ENCAP, e);
}

static int node_check(const struct cp_model *m, const struct cp_request *r, struct cp_error *e)
{
	struct lb_addr a4 = { { r->encap_src4, 0, 0, 0 } };
	int err = 0;

	if (r->fields & CP_F_ENCAP4)
		err = encap_check(m, &a4, LB_FAMILY_V4, CP_F_ENCAP4, e);
	if (!err && (r->fields & CP_F_ENCAP6))
		err = encap_check(m, &r->encap_src6, LB_FAMILY_V6, CP_F_ENCAP6, e);
	/* Routes of ours there would mix with the kernel's own. */
	if (!err && (r->fields & CP_F_ANNOUNCE_TABLE) &&
	    r->announce_table >= CP_ANNOUNCE_TABLE_RESERVED_MIN &&
	    r->announce_table <= CP_ANNOUNCE_TABLE_RESERVED_MAX)
		err = cp_error_set(e, -EINVAL, model_field_name(CP_F_ANNOUNCE_TABLE),
				   "table %u is the kernel's %s table: take one of your own "
				   "(1-252 or above 255; 0: announce nothing)", r->announce_table,
				   r->announce_table == 253 ? "default" :
				   r->announce_table == 254 ? "main" : "local");
	return err;
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
		return node_check(m, r, e);
	case CP_OP_HEALTH_REPORT:
	case CP_OP_HEALTH_SET:
	case CP_OP_HEALTH_CLEAR:
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
