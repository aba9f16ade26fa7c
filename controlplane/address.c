/* SPDX-License-Identifier: Apache-2.0 */
/*
 * address.c - addresses, VIPs and endpoints in text form (address.h).
 *
 * No state; every function may be called from any thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "address.h"

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

int cp_addr_unmap4(const struct lb_addr *a, __u8 family, struct lb_addr *v4)
{
	if (family != LB_FAMILY_V6 || a->w[0] || a->w[1] || a->w[2] != htonl(0xffff))
		return 0;
	memset(v4, 0, sizeof(*v4));
	v4->w[0] = a->w[3];
	return 1;
}

/* The classes RFC 1122 3.2.1.3 and RFC 4291 2.5 say a unicast peer
 * cannot have, plus link-local: a VIP or a backend reached through a
 * router cannot be link-local, and the fast path never forwards within
 * one link's scope. */
static const char *unusable4(__u32 h)
{
	if (h == 0)
		return "unspecified";
	if (h == 0xffffffffu)
		return "the limited broadcast address";
	if ((h >> 24) == 127)
		return "loopback";
	if ((h >> 16) == 0xa9fe)	/* 169.254/16 */
		return "link-local";
	if ((h >> 28) == 0xe)		/* 224/4 */
		return "multicast";
	return NULL;
}

static const char *unusable6(const struct lb_addr *a)
{
	__u32 h = ntohl(a->w[0]);
	struct lb_addr v4;

	if (!(a->w[0] | a->w[1] | a->w[2]) && ntohl(a->w[3]) <= 1)
		return a->w[3] ? "loopback" : "unspecified";
	if (cp_addr_unmap4(a, LB_FAMILY_V6, &v4))
		return "IPv4-mapped IPv6";
	if ((h >> 22) == (0xfe80u >> 6))	/* fe80::/10 */
		return "link-local";
	if ((h >> 24) == 0xff)			/* ff00::/8 */
		return "multicast";
	return NULL;
}

const char *cp_addr_unusable(const struct lb_addr *a, __u8 family)
{
	if (family == LB_FAMILY_V4)
		return a->w[1] | a->w[2] | a->w[3] ? "malformed" : unusable4(ntohl(a->w[0]));
	if (family == LB_FAMILY_V6)
		return unusable6(a);
	return "malformed";
}

socklen_t cp_sockaddr(const struct lb_addr *a, __u8 family, __u16 port,
		      struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == LB_FAMILY_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->w, sizeof(s6->sin6_addr));
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = a->w[0];
		return sizeof(*s4);
	}
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

/* Which ports a text may name: a VIP's "*" (or 0) is every port. */
enum port_rule {
	PORT_NONZERO,
	PORT_ANY,	/* 0 allowed */
	PORT_WILD,	/* 0 or "*": the port wildcard */
};

/* Port text of n bytes. why gets the reason on error. */
static int parse_port(const char *p, size_t n, enum port_rule rule, __u16 *port, char *why,
		      size_t wl)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0) {
		snprintf(why, wl, "missing port after ':'");
		return -EINVAL;
	}
	if (rule == PORT_WILD && n == 1 && p[0] == '*') {
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
	if (v > 65535 || (rule == PORT_NONZERO && v == 0)) {
		snprintf(why, wl, "port %.*s out of range (%s)", (int)(n < 16 ? n : 16), p,
			 rule == PORT_WILD ? "0-65535, 0 or * for any port" :
			 rule == PORT_ANY ? "0-65535" : "1-65535");
		return -EINVAL;
	}
	*port = (__u16)v;
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

/* "A.B.C.D:PORT" or "[V6]:PORT" in the first n bytes of s. */
static int parse_endpoint(const char *s, size_t n, enum port_rule rule, struct lb_addr *a,
			  __u8 *fam, __u16 *port, char *why, size_t wl)
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
		return parse_port(close + 2, (size_t)(end - close - 2), rule, port, why, wl);
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
	return parse_port(colon + 1, (size_t)(end - colon - 1), rule, port, why, wl);
}

int cp_parse_endpoint(const char *s, int port0_ok, struct lb_addr *a, __u8 *family,
		      __u16 *port, char *why, size_t wl)
{
	struct lb_addr ta;
	__u16 tp;
	__u8 tf;
	int err;

	if (!s) {
		snprintf(why, wl, "missing");
		return -EINVAL;
	}
	err = parse_endpoint(s, strlen(s), port0_ok ? PORT_ANY : PORT_NONZERO, &ta, &tf, &tp,
			     why, wl);
	if (err)
		return err;
	*a = ta;
	*family = tf;
	*port = tp;
	return 0;
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
	__u16 port;
	int err;

	if (!s)
		return cp_error_set(e, -EINVAL, "vip", "missing VIP (ADDR:PORT/PROTO)");
	memset(&tmp, 0, sizeof(tmp));
	slash = strrchr(s, '/');
	if (!slash)
		return cp_error_set(e, -EINVAL, "vip", "VIP '%.64s': missing /proto (tcp or udp)", s);
	err = parse_proto(slash + 1, &tmp.proto, why, sizeof(why));
	if (!err)
		err = parse_endpoint(s, (size_t)(slash - s), PORT_WILD, &tmp.addr, &tmp.family,
				     &port, why, sizeof(why));
	if (err)
		return cp_error_set(e, -EINVAL, "vip", "VIP '%.64s': %s", s, why);
	tmp.port = htons(port);
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

const char *cp_format_endpoint(const struct lb_addr *a, __u8 family, __u16 port, char *buf,
			       size_t len)
{
	return format_endpoint(a, family, port, 0, "", buf, len);
}

const char *cp_format_vip(const struct lb_vip_key *k, char *buf, size_t len)
{
	char proto[8], suffix[16];

	snprintf(suffix, sizeof(suffix), "/%s", proto_name(k->proto, proto, sizeof(proto)));
	return format_endpoint(&k->addr, k->family, ntohs(k->port), 1, suffix, buf, len);
}
