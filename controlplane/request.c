/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request.c - the parts of a request every carrier shares (request.h):
 * op names, defaults, addresses and VIPs in text form, and the checked
 * setters/getters through which cmd.c and request_json.c read and write
 * each field. Keeping every per-value rule here is what makes a command
 * line and an API object accept exactly the same values.
 *
 * No state; every function may be called from any thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "request.h"

int cp_error_set(struct cp_error *e, int err, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}

/* --- Ops --------------------------------------------------------------- */

static const char *const op_names[CP_OP_MAX] = {
	[CP_OP_VIP_ADD] = "vip.add",
	[CP_OP_VIP_SET] = "vip.set",
	[CP_OP_VIP_DEL] = "vip.del",
	[CP_OP_VIP_LIST] = "vip.list",
	[CP_OP_BACKEND_ADD] = "backend.add",
	[CP_OP_BACKEND_SET] = "backend.set",
	[CP_OP_BACKEND_DEL] = "backend.del",
	[CP_OP_BACKEND_LIST] = "backend.list",
	[CP_OP_NODE_SET] = "node.set",
	[CP_OP_HEALTH_REPORT] = "health.report",
	[CP_OP_HEALTH_TARGETS] = "health.targets",
	[CP_OP_STATS] = "stats",
	[CP_OP_FLOWS] = "flows",
	[CP_OP_RING_DIGEST] = "ring.digest",
	[CP_OP_SAVE] = "save",
	[CP_OP_STATUS] = "status",
	[CP_OP_DETACH] = "detach",
};

const char *cp_op_name(enum cp_op op)
{
	if (op <= CP_OP_NONE || op >= CP_OP_MAX)
		return NULL;
	return op_names[op];
}

enum cp_op cp_op_from_name(const char *name)
{
	int op;

	if (!name)
		return CP_OP_NONE;
	for (op = CP_OP_NONE + 1; op < CP_OP_MAX; op++)
		if (!strcmp(op_names[op], name))
			return op;
	return CP_OP_NONE;
}

#define F_CHECK (CP_F_CHECK_TYPE | CP_F_CHECK_PORT | CP_F_CHECK_PATH | CP_F_CHECK_STATUS | \
		 CP_F_CHECK_INTERVAL | CP_F_CHECK_TIMEOUT | CP_F_CHECK_RISE |	\
		 CP_F_CHECK_FALL | CP_F_CHECK_HOST | CP_F_CHECK_PAYLOAD)
#define F_VIP_OPTS (CP_F_AFFINITY | CP_F_RING | F_CHECK)
#define F_VB (CP_F_VIP | CP_F_BACKEND)
#define F_NODE (CP_F_INTERFACES | CP_F_ENCAP4 | CP_F_ENCAP6 | CP_F_METRICS | \
		CP_F_FLOW_TTL_TCP | CP_F_FLOW_TTL_UDP)

static const struct cp_op_fields op_fields[CP_OP_MAX] = {
	[CP_OP_VIP_ADD] = { CP_F_VIP | F_VIP_OPTS, CP_F_VIP, 0 },
	[CP_OP_VIP_SET] = { CP_F_VIP | F_VIP_OPTS, CP_F_VIP, F_VIP_OPTS },
	[CP_OP_VIP_DEL] = { CP_F_VIP, CP_F_VIP, 0 },
	[CP_OP_VIP_LIST] = { CP_F_VIP, 0, 0 },
	[CP_OP_BACKEND_ADD] = { F_VB | CP_F_WEIGHT | CP_F_DRAIN, F_VB, 0 },
	[CP_OP_BACKEND_SET] = { F_VB | CP_F_WEIGHT | CP_F_DRAIN, F_VB, CP_F_WEIGHT | CP_F_DRAIN },
	[CP_OP_BACKEND_DEL] = { F_VB, F_VB, 0 },
	[CP_OP_BACKEND_LIST] = { CP_F_VIP, 0, 0 },
	[CP_OP_NODE_SET] = { F_NODE, 0, F_NODE },
	[CP_OP_HEALTH_REPORT] = { F_VB | CP_F_HEALTH | CP_F_LATENCY | CP_F_REASON,
				  F_VB | CP_F_HEALTH, 0 },
	[CP_OP_HEALTH_TARGETS] = { 0, 0, 0 },
	[CP_OP_STATS] = { CP_F_VIP, 0, 0 },
	[CP_OP_FLOWS] = { CP_F_VIP, CP_F_VIP, 0 },
	[CP_OP_RING_DIGEST] = { CP_F_VIP, CP_F_VIP, 0 },
	[CP_OP_SAVE] = { 0, 0, 0 },
	[CP_OP_STATUS] = { 0, 0, 0 },
	[CP_OP_DETACH] = { CP_F_INTERFACES, 0, 0 },
};

const struct cp_op_fields *cp_op_fields(enum cp_op op)
{
	if (op <= CP_OP_NONE || op >= CP_OP_MAX)
		return NULL;
	return &op_fields[op];
}

void cp_request_init(struct cp_request *r, enum cp_op op)
{
	/* memset, not an initialiser: requests are compared with memcmp,
	 * so padding and the tails of strings must be zero too. */
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->weight = CP_DEFAULT_WEIGHT;
	r->ring_size = LB_DEFAULT_RING_SIZE;
	r->check.type = CP_CHECK_NONE;
	r->check.expect_status = CP_CHECK_DEFAULT_STATUS;
	r->check.interval_ms = CP_CHECK_DEFAULT_INTERVAL_MS;
	r->check.timeout_ms = CP_CHECK_DEFAULT_TIMEOUT_MS;
	r->check.rise = CP_CHECK_DEFAULT_RISE;
	r->check.fall = CP_CHECK_DEFAULT_FALL;
	r->health = CP_HEALTH_UNKNOWN;
	r->flow_ttl_tcp = CP_DEFAULT_FLOW_TTL_TCP;
	r->flow_ttl_udp = CP_DEFAULT_FLOW_TTL_UDP;
}

/* --- Addresses and VIPs ------------------------------------------------ */

int cp_parse_addr(const char *s, struct lb_addr *a, __u8 *family)
{
	struct lb_addr tmp;

	memset(&tmp, 0, sizeof(tmp));
	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &tmp.w[0]) == 1) {
		*family = LB_FAMILY_V4;
	} else if (inet_pton(AF_INET6, s, tmp.w) == 1) {
		*family = LB_FAMILY_V6;
	} else {
		return -EINVAL;
	}
	*a = tmp;
	return 0;
}

const char *cp_format_addr(const struct lb_addr *a, __u8 family, char *buf, size_t len)
{
	if (family == LB_FAMILY_V4)
		return inet_ntop(AF_INET, &a->w[0], buf, len);
	if (family == LB_FAMILY_V6)
		return inet_ntop(AF_INET6, a->w, buf, len);
	errno = EAFNOSUPPORT;
	return NULL;
}

/* Port text of n bytes: digits, or "*" (port 0) when wild_ok. why gets the
 * reason on error. */
static int parse_port(const char *p, size_t n, int wild_ok, __u32 *port, char *why, size_t wl)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0) {
		snprintf(why, wl, "missing port after ':'");
		return -EINVAL;
	}
	if (wild_ok && n == 1 && p[0] == '*') {
		*port = 0;
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9') {
			snprintf(why, wl, "bad port '%.*s'", (int)(n < 16 ? n : 16), p);
			return -EINVAL;
		}
		if (v <= 65535)	/* saturate: "999999999999" is out of range, not wrapped */
			v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v > 65535 || (!wild_ok && v == 0)) {
		snprintf(why, wl, "port %.*s out of range (%s)", (int)(n < 16 ? n : 16), p,
			 wild_ok ? "0-65535, 0 or * for any port" : "1-65535");
		return -EINVAL;
	}
	*port = (__u32)v;
	return 0;
}

/* The address part of an endpoint, n bytes, already without brackets. */
static int parse_host(const char *s, size_t n, int v6, struct lb_addr *a, __u8 *fam,
		      char *why, size_t wl)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n >= sizeof(tmp) || (n && memchr(s, '\0', n)))
		goto bad;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (cp_parse_addr(tmp, a, fam) || (*fam == LB_FAMILY_V6) != v6)
		goto bad;
	return 0;
bad:
	snprintf(why, wl, "bad %saddress '%.*s'", v6 ? "IPv6 " : "", (int)(n < 48 ? n : 48), s);
	return -EINVAL;
}

/* "A.B.C.D:PORT" or "[V6]:PORT" in the first n bytes of s. An IPv6
 * address must be bracketed: "2001:db8::1:80" has no single meaning. */
static int parse_endpoint(const char *s, size_t n, int wild_ok, struct lb_addr *a, __u8 *fam,
			  __u32 *port, char *why, size_t wl)
{
	const char *end = s + n, *colon, *close;
	int err;

	if (n && s[0] == '[') {
		close = memchr(s, ']', n);
		if (!close) {
			snprintf(why, wl, "missing ']' after the IPv6 address");
			return -EINVAL;
		}
		err = parse_host(s + 1, (size_t)(close - s - 1), 1, a, fam, why, wl);
		if (err)
			return err;
		if (close + 1 == end || close[1] != ':') {
			snprintf(why, wl, "missing ':port' after ']'");
			return -EINVAL;
		}
		return parse_port(close + 2, (size_t)(end - close - 2), wild_ok, port, why, wl);
	}
	colon = memrchr(s, ':', n);
	if (!colon) {
		snprintf(why, wl, "missing ':port'");
		return -EINVAL;
	}
	if (memchr(s, ':', (size_t)(colon - s))) {
		snprintf(why, wl, "an IPv6 address needs brackets: [ADDR]:PORT");
		return -EINVAL;
	}
	err = parse_host(s, (size_t)(colon - s), 0, a, fam, why, wl);
	if (err)
		return err;
	return parse_port(colon + 1, (size_t)(end - colon - 1), wild_ok, port, why, wl);
}

static int parse_proto(const char *p, __u8 *proto, char *why, size_t wl)
{
	if (!strcasecmp(p, "tcp")) {
		*proto = IPPROTO_TCP;
	} else if (!strcasecmp(p, "udp")) {
		*proto = IPPROTO_UDP;
	} else if (!*p) {
		snprintf(why, wl, "missing protocol after '/' (tcp or udp)");
		return -EINVAL;
	} else {
		snprintf(why, wl, "unknown protocol '%.16s' (tcp or udp)", p);
		return -EINVAL;
	}
	return 0;
}

int cp_parse_vip(const char *s, struct lb_vip_key *k, struct cp_error *e)
{
	struct lb_vip_key tmp;
	const char *slash;
	char why[128];
	__u32 port;
	int err;

	if (!s)
		return cp_error_set(e, -EINVAL, "vip", "missing VIP (ADDR:PORT/PROTO)");
	memset(&tmp, 0, sizeof(tmp));
	slash = strrchr(s, '/');
	if (!slash)
		return cp_error_set(e, -EINVAL, "vip", "VIP '%.64s': missing /proto (tcp or udp)", s);
	err = parse_proto(slash + 1, &tmp.proto, why, sizeof(why));
	if (!err)
		err = parse_endpoint(s, (size_t)(slash - s), 1, &tmp.addr, &tmp.family, &port,
				     why, sizeof(why));
	if (err)
		return cp_error_set(e, -EINVAL, "vip", "VIP '%.64s': %s", s, why);
	tmp.port = htons((__u16)port);
	*k = tmp;
	return 0;
}

static const char *proto_name(__u8 proto, char *buf, size_t len)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	}
	snprintf(buf, len, "%u", proto);
	return buf;
}

/* Writes "ADDR:PORT" / "[ADDR]:PORT" ("*" for port 0 if wild) plus
 * suffix into buf; NULL (errno set) if it does not fit. */
static const char *format_endpoint(const struct lb_addr *a, __u8 family, __u16 port, int wild,
				   const char *suffix, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN], pbuf[8];
	int n;

	if (!cp_format_addr(a, family, addr, sizeof(addr)))
		return NULL;
	if (wild && port == 0)
		snprintf(pbuf, sizeof(pbuf), "*");
	else
		snprintf(pbuf, sizeof(pbuf), "%u", port);
	n = snprintf(buf, len, family == LB_FAMILY_V6 ? "[%s]:%s%s" : "%s:%s%s", addr, pbuf,
		     suffix);
	if (n < 0 || (size_t)n >= len) {
		errno = ENOSPC;
		return NULL;
	}
	return buf;
}

const char *cp_format_vip(const struct lb_vip_key *k, char *buf, size_t len)
{
	char proto[8], suffix[16];

	snprintf(suffix, sizeof(suffix), "/%s", proto_name(k->proto, proto, sizeof(proto)));
	return format_endpoint(&k->addr, k->family, ntohs(k->port), 1, suffix, buf, len);
}

/* --- Numeric fields ---------------------------------------------------- */

struct num_range {
	__u32 bit;
	long long min, max;
	const char *unit;
};

static const struct num_range num_ranges[] = {
	{ CP_F_RING, 1, CP_MAX_RING, "" },
	{ CP_F_CHECK_PORT, 0, 65535, "" },	/* 0: the VIP's port */
	{ CP_F_CHECK_STATUS, 100, 599, "" },
	{ CP_F_CHECK_INTERVAL, CP_CHECK_MIN_INTERVAL_MS, CP_CHECK_MAX_INTERVAL_MS, "ms" },
	{ CP_F_CHECK_TIMEOUT, CP_CHECK_MIN_TIMEOUT_MS, CP_CHECK_MAX_TIMEOUT_MS, "ms" },
	{ CP_F_CHECK_RISE, 1, CP_CHECK_MAX_RISE_FALL, "" },
	{ CP_F_CHECK_FALL, 1, CP_CHECK_MAX_RISE_FALL, "" },
	{ CP_F_WEIGHT, 0, CP_MAX_WEIGHT, "" },
	{ CP_F_DRAIN, 0, 1, "" },
	{ CP_F_LATENCY, 0, UINT32_MAX, "" },
	{ CP_F_FLOW_TTL_TCP, 0, LB_FLOW_TTL_MAX, "s" },
	{ CP_F_FLOW_TTL_UDP, 0, LB_FLOW_TTL_MAX, "s" },
};

static const struct num_range *num_range(__u32 bit)
{
	size_t i;

	for (i = 0; i < sizeof(num_ranges) / sizeof(num_ranges[0]); i++)
		if (num_ranges[i].bit == bit)
			return &num_ranges[i];
	return NULL;
}

int cp_request_set_num(struct cp_request *r, __u32 bit, long long v, const char *name,
		       struct cp_error *e)
{
	const struct num_range *nr = num_range(bit);

	if (!nr)
		return cp_error_set(e, -EINVAL, name, "'%s' is not a numeric field", name);
	if (v < nr->min || v > nr->max)
		return cp_error_set(e, -EINVAL, name, "%s %lld%s out of range (%lld%s..%lld%s)", name,
				    v, nr->unit, nr->min, nr->unit, nr->max, nr->unit);
	switch (bit) {
	case CP_F_RING: r->ring_size = (__u32)v; break;
	case CP_F_CHECK_PORT: r->check.port = (__u16)v; break;
	case CP_F_CHECK_STATUS: r->check.expect_status = (__u16)v; break;
	case CP_F_CHECK_INTERVAL: r->check.interval_ms = (__u32)v; break;
	case CP_F_CHECK_TIMEOUT: r->check.timeout_ms = (__u32)v; break;
	case CP_F_CHECK_RISE: r->check.rise = (__u8)v; break;
	case CP_F_CHECK_FALL: r->check.fall = (__u8)v; break;
	case CP_F_WEIGHT: r->weight = (__u32)v; break;
	case CP_F_DRAIN: r->drain = (__u8)v; break;
	case CP_F_LATENCY: r->latency_us = (__u32)v; break;
	case CP_F_FLOW_TTL_TCP: r->flow_ttl_tcp = (__u32)v; break;
	case CP_F_FLOW_TTL_UDP: r->flow_ttl_udp = (__u32)v; break;
	}
	r->fields |= bit;
	return 0;
}

__u64 cp_request_get_num(const struct cp_request *r, __u32 bit)
{
	switch (bit) {
	case CP_F_RING: return r->ring_size;
	case CP_F_CHECK_PORT: return r->check.port;
	case CP_F_CHECK_STATUS: return r->check.expect_status;
	case CP_F_CHECK_INTERVAL: return r->check.interval_ms;
	case CP_F_CHECK_TIMEOUT: return r->check.timeout_ms;
	case CP_F_CHECK_RISE: return r->check.rise;
	case CP_F_CHECK_FALL: return r->check.fall;
	case CP_F_WEIGHT: return r->weight;
	case CP_F_DRAIN: return r->drain;
	case CP_F_LATENCY: return r->latency_us;
	case CP_F_FLOW_TTL_TCP: return r->flow_ttl_tcp;
	case CP_F_FLOW_TTL_UDP: return r->flow_ttl_udp;
	}
	return 0;
}

/* --- Text fields ------------------------------------------------------- */

static const char *const check_names[] = {
	[CP_CHECK_NONE] = "none",
	[CP_CHECK_TCP] = "tcp",
	[CP_CHECK_HTTP] = "http",
	[CP_CHECK_UDP] = "udp",
};

const char *cp_check_type_name(enum cp_check_type t)
{
	if ((unsigned)t >= sizeof(check_names) / sizeof(check_names[0]))
		return NULL;
	return check_names[t];
}

const char *cp_health_name(enum cp_health h)
{
	switch (h) {
	case CP_HEALTH_UP: return "up";
	case CP_HEALTH_DOWN: return "down";
	case CP_HEALTH_UNKNOWN: return NULL;	/* never on the wire: no report */
	}
	return NULL;
}

/* Rules for free-text fields. Printable ASCII only: the values end up
 * in HTTP request lines, config-file lines and JSON, and one rule that
 * suits all three beats an escaping scheme per carrier. */
struct text_rule {
	__u32 bit;
	size_t off;		/* of the destination array in struct cp_request */
	size_t size;		/* of that array, NUL included */
	int space_ok;
	int slash_first;	/* HTTP path */
};

#define TEXT_AT(member) offsetof(struct cp_request, member), \
	sizeof(((struct cp_request *)0)->member)

static const struct text_rule text_rules[] = {
	{ CP_F_CHECK_PATH, TEXT_AT(check.path), 0, 1 },
	{ CP_F_CHECK_HOST, TEXT_AT(check.host), 0, 0 },
	{ CP_F_CHECK_PAYLOAD, TEXT_AT(check.payload), 1, 0 },
	{ CP_F_REASON, TEXT_AT(reason), 1, 0 },
};

static const struct text_rule *text_rule(__u32 bit)
{
	size_t i;

	for (i = 0; i < sizeof(text_rules) / sizeof(text_rules[0]); i++)
		if (text_rules[i].bit == bit)
			return &text_rules[i];
	return NULL;
}

/* 0 if s follows rule t; else -EINVAL with the reason in e. */
static int text_check(const struct text_rule *t, const char *s, const char *name,
		      struct cp_error *e)
{
	size_t len = strlen(s), i;

	if (len >= t->size)
		return cp_error_set(e, -EINVAL, name, "%s is %zu bytes long; at most %zu allowed",
				    name, len, t->size - 1);
	if (t->slash_first && s[0] != '/')
		return cp_error_set(e, -EINVAL, name, "%s '%.48s' must start with '/'", name, s);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x7e || c < 0x20 || (c == ' ' && !t->space_ok))
			return cp_error_set(e, -EINVAL, name,
					    "%s: byte 0x%02x at offset %zu not allowed (printable ASCII%s)",
					    name, c, i, t->space_ok ? "" : ", no spaces");
	}
	return 0;
}

/* Linux's dev_valid_name(), restricted to printable ASCII. */
static int ifname_check(const char *s, const char *name, struct cp_error *e)
{
	size_t len = strlen(s), i;

	if (len == 0 || len >= IF_NAMESIZE)
		return cp_error_set(e, -EINVAL, name, "interface name '%.32s' must be 1-%d bytes",
				    s, IF_NAMESIZE - 1);
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return cp_error_set(e, -EINVAL, name, "'%s' is not an interface name", s);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c > 0x7e || c == '/' || c == ':')
			return cp_error_set(e, -EINVAL, name,
					    "interface name '%.16s': byte 0x%02x not allowed", s, c);
	}
	return 0;
}

static int add_interface(struct cp_request *r, const char *s, const char *name,
			 struct cp_error *e)
{
	int err = ifname_check(s, name, e), i;

	if (err)
		return err;
	for (i = 0; i < r->n_interfaces; i++)
		if (!strcmp(r->interfaces[i], s))
			return cp_error_set(e, -EINVAL, name, "interface '%s' given twice", s);
	if (r->n_interfaces >= CP_MAX_INTERFACES)
		return cp_error_set(e, -EINVAL, name, "more than %d interfaces", CP_MAX_INTERFACES);
	memset(r->interfaces[r->n_interfaces], 0, IF_NAMESIZE);
	memcpy(r->interfaces[r->n_interfaces], s, strlen(s));
	r->n_interfaces++;
	return 0;
}

static int set_addr(struct cp_request *r, __u32 bit, const char *s, const char *name,
		    struct cp_error *e)
{
	struct lb_addr a;
	__u8 fam;

	if (cp_parse_addr(s, &a, &fam))
		return cp_error_set(e, -EINVAL, name, "bad address '%.48s'", s);
	if (bit == CP_F_BACKEND) {
		r->backend = a;
		r->backend_family = fam;
	} else if (bit == CP_F_ENCAP4) {
		if (fam != LB_FAMILY_V4)
			return cp_error_set(e, -EINVAL, name, "'%.48s' is not an IPv4 address", s);
		r->encap_src4 = a.w[0];
	} else {
		if (fam != LB_FAMILY_V6)
			return cp_error_set(e, -EINVAL, name, "'%.48s' is not an IPv6 address", s);
		r->encap_src6 = a;
	}
	return 0;
}

static int set_metrics(struct cp_request *r, const char *s, const char *name, struct cp_error *e)
{
	struct lb_addr a;
	char why[128];
	__u32 port;
	__u8 fam;

	if (parse_endpoint(s, strlen(s), 0, &a, &fam, &port, why, sizeof(why)))
		return cp_error_set(e, -EINVAL, name, "'%.64s': %s (ADDR:PORT or [ADDR6]:PORT)", s,
				    why);
	/* Canonical form, so that equal settings compare equal. */
	memset(r->metrics, 0, sizeof(r->metrics));
	if (!format_endpoint(&a, fam, (__u16)port, 0, "", r->metrics, sizeof(r->metrics)))
		return cp_error_set(e, -EINVAL, name, "'%.64s' does not fit", s);
	return 0;
}

/* Keywords: affinity, check type, health. */
static int set_keyword(struct cp_request *r, __u32 bit, const char *s, const char *name,
		       struct cp_error *e)
{
	int t;

	if (bit == CP_F_AFFINITY) {
		if (strcmp(s, "source") && strcmp(s, "none"))
			return cp_error_set(e, -EINVAL, name,
					    "unknown affinity '%.32s' (source or none)", s);
		r->vip_flags = s[0] == 's' ? r->vip_flags | LB_VIP_F_AFFINITY
					   : r->vip_flags & ~LB_VIP_F_AFFINITY;
		return 0;
	}
	if (bit == CP_F_HEALTH) {
		if (strcmp(s, "up") && strcmp(s, "down"))
			return cp_error_set(e, -EINVAL, name,
					    "unknown health state '%.32s' (up or down)", s);
		r->health = s[0] == 'u' ? CP_HEALTH_UP : CP_HEALTH_DOWN;
		return 0;
	}
	for (t = CP_CHECK_NONE; t <= CP_CHECK_UDP; t++) {
		if (!strcmp(s, check_names[t])) {
			r->check.type = t;
			return 0;
		}
	}
	return cp_error_set(e, -EINVAL, name, "unknown check '%.32s' (none, tcp, http or udp)", s);
}

static int set_text_field(struct cp_request *r, __u32 bit, const char *s, const char *name,
			  struct cp_error *e)
{
	const struct text_rule *t;
	int err;

	switch (bit) {
	case CP_F_VIP:
		err = cp_parse_vip(s, &r->vip, e);
		if (err && e)	/* cp_parse_vip says "vip"; report the caller's name */
			snprintf(e->field, sizeof(e->field), "%s", name);
		return err;
	case CP_F_BACKEND:
	case CP_F_ENCAP4:
	case CP_F_ENCAP6:
		return set_addr(r, bit, s, name, e);
	case CP_F_METRICS:
		return set_metrics(r, s, name, e);
	case CP_F_INTERFACES:
		return add_interface(r, s, name, e);
	case CP_F_AFFINITY:
	case CP_F_HEALTH:
	case CP_F_CHECK_TYPE:
		return set_keyword(r, bit, s, name, e);
	}
	t = text_rule(bit);
	if (!t)
		return cp_error_set(e, -EINVAL, name, "'%s' is not a text field", name);
	err = text_check(t, s, name, e);
	if (err)
		return err;
	memset((char *)r + t->off, 0, t->size);
	memcpy((char *)r + t->off, s, strlen(s));
	return 0;
}

/* Writes into a copy and commits only on success, so a refused value
 * leaves r as it was (the helpers may have written part of it). */
int cp_request_set_text(struct cp_request *r, __u32 bit, const char *s, const char *name,
			struct cp_error *e)
{
	struct cp_request tmp = *r;
	int err;

	if (!s)
		return cp_error_set(e, -EINVAL, name, "%s: missing value", name);
	err = set_text_field(&tmp, bit, s, name, e);
	if (err)
		return err;
	tmp.fields |= bit;
	*r = tmp;
	return 0;
}

/* s: a value formatted into a scratch buffer big enough for any valid
 * one, so NULL always means "no text form". */
static int put(char *buf, size_t len, const char *s)
{
	if (!s)
		return -EINVAL;
	if (strlen(s) >= len)
		return -ENOSPC;
	strcpy(buf, s);
	return 0;
}

/* Copy of a free-text field, if it is still one the setter would take
 * (a model may have filled the request by hand). */
static int get_free_text(const struct cp_request *r, __u32 bit, char *buf, size_t len)
{
	const struct text_rule *t = text_rule(bit);
	const char *s;

	if (!t)
		return -EINVAL;
	s = (const char *)r + t->off;
	if (strnlen(s, t->size) >= t->size || text_check(t, s, "", NULL))
		return -EINVAL;
	return put(buf, len, s);
}

int cp_request_get_text(const struct cp_request *r, __u32 bit, char *buf, size_t len)
{
	char tmp[80];
	struct cp_request chk;

	switch (bit) {
	case CP_F_VIP:
		if (r->vip.proto != IPPROTO_TCP && r->vip.proto != IPPROTO_UDP)
			return -EINVAL;
		return put(buf, len, cp_format_vip(&r->vip, tmp, sizeof(tmp)));
	case CP_F_BACKEND:
		return put(buf, len, cp_format_addr(&r->backend, r->backend_family, tmp, sizeof(tmp)));
	case CP_F_ENCAP4:
		return put(buf, len, inet_ntop(AF_INET, &r->encap_src4, tmp, sizeof(tmp)));
	case CP_F_ENCAP6:
		return put(buf, len, cp_format_addr(&r->encap_src6, LB_FAMILY_V6, tmp, sizeof(tmp)));
	case CP_F_HEALTH:
		return put(buf, len, cp_health_name(r->health));
	case CP_F_CHECK_TYPE:
		return put(buf, len, cp_check_type_name(r->check.type));
	case CP_F_AFFINITY:
		if (r->vip_flags & ~LB_VIP_F_AFFINITY)
			return -EINVAL;	/* a flag no command can set */
		return put(buf, len, r->vip_flags ? "source" : "none");
	case CP_F_METRICS:
		/* Re-read through the setter: valid, and in canonical form. */
		cp_request_init(&chk, r->op);
		if (strnlen(r->metrics, sizeof(r->metrics)) >= sizeof(r->metrics) ||
		    set_metrics(&chk, r->metrics, "", NULL))
			return -EINVAL;
		return put(buf, len, chk.metrics);
	}
	return get_free_text(r, bit, buf, len);
}

static int addr_set(const struct lb_addr *a)
{
	return (a->w[0] | a->w[1] | a->w[2] | a->w[3]) != 0;
}

__u32 cp_request_nondefault(const struct cp_request *r)
{
	const struct cp_check *c = &r->check;
	__u32 f = 0;

	f |= r->vip.family ? CP_F_VIP : 0;
	f |= r->backend_family ? CP_F_BACKEND : 0;
	f |= r->vip_flags ? CP_F_AFFINITY : 0;
	f |= r->ring_size != LB_DEFAULT_RING_SIZE ? CP_F_RING : 0;
	f |= c->type != CP_CHECK_NONE ? CP_F_CHECK_TYPE : 0;
	f |= c->port ? CP_F_CHECK_PORT : 0;
	f |= c->path[0] ? CP_F_CHECK_PATH : 0;
	f |= c->host[0] ? CP_F_CHECK_HOST : 0;
	f |= c->payload[0] ? CP_F_CHECK_PAYLOAD : 0;
	f |= c->expect_status != CP_CHECK_DEFAULT_STATUS ? CP_F_CHECK_STATUS : 0;
	f |= c->interval_ms != CP_CHECK_DEFAULT_INTERVAL_MS ? CP_F_CHECK_INTERVAL : 0;
	f |= c->timeout_ms != CP_CHECK_DEFAULT_TIMEOUT_MS ? CP_F_CHECK_TIMEOUT : 0;
	f |= c->rise != CP_CHECK_DEFAULT_RISE ? CP_F_CHECK_RISE : 0;
	f |= c->fall != CP_CHECK_DEFAULT_FALL ? CP_F_CHECK_FALL : 0;
	f |= r->weight != CP_DEFAULT_WEIGHT ? CP_F_WEIGHT : 0;
	f |= r->drain ? CP_F_DRAIN : 0;
	f |= r->n_interfaces ? CP_F_INTERFACES : 0;
	f |= r->encap_src4 ? CP_F_ENCAP4 : 0;
	f |= addr_set(&r->encap_src6) ? CP_F_ENCAP6 : 0;
	f |= r->metrics[0] ? CP_F_METRICS : 0;
	f |= r->latency_us ? CP_F_LATENCY : 0;
	f |= r->reason[0] ? CP_F_REASON : 0;
	f |= r->health != CP_HEALTH_UNKNOWN ? CP_F_HEALTH : 0;
	f |= r->flow_ttl_tcp != CP_DEFAULT_FLOW_TTL_TCP ? CP_F_FLOW_TTL_TCP : 0;
	f |= r->flow_ttl_udp != CP_DEFAULT_FLOW_TTL_UDP ? CP_F_FLOW_TTL_UDP : 0;
	return f;
}
