/* SPDX-License-Identifier: Apache-2.0 */
/*
 * address.h - addresses, VIPs and ADDR:PORT endpoints in the text form
 * every carrier uses (command lines, config scripts, JSON, /metrics,
 * logs). One parser and one formatter each, so that what one part of
 * Sluice prints another reads back.
 *
 * No state; every function may be called from any thread.
 */
#ifndef SLUICE_CP_ADDRESS_H
#define SLUICE_CP_ADDRESS_H

#include <stddef.h>
#include <sys/socket.h>
#include <linux/types.h>
#include "fwd.h"
#include "cp_error.h"

/* "10.0.0.1" or "2001:db8::1". 0, or -EINVAL (a and family untouched). */
int cp_parse_addr(const char *s, struct lb_addr *a, __u8 *family);

/* "10.100.0.1:80/tcp", "[2001:db8::1]:443/tcp", "10.100.0.1:*\/udp" or
 * ":0" for the port wildcard. Protocol tcp or udp (any case); an IPv6
 * address must be bracketed. 0, or -EINVAL with e->field "vip" and the
 * reason ("missing /proto", "port 70000 out of range", "bad address
 * 'x'"); k is written only on success. */
int cp_parse_vip(const char *s, struct lb_vip_key *k, struct cp_error *e);

/* "A.B.C.D:PORT" or "[ADDR6]:PORT" (an IPv6 address must be bracketed:
 * "2001:db8::1:80" has no single meaning). Port 1-65535, or 0 as well
 * with port0_ok (a listener on an ephemeral port). 0, or -EINVAL with
 * the reason in why (wl bytes); outputs written only on success. */
int cp_parse_endpoint(const char *s, int port0_ok, struct lb_addr *a, __u8 *family,
		      __u16 *port, char *why, size_t wl);

/* a (of family) and port as a socket address in *ss; returns its
 * length (sizeof sockaddr_in or sockaddr_in6). */
socklen_t cp_sockaddr(const struct lb_addr *a, __u8 family, __u16 port,
		      struct sockaddr_storage *ss);

/* Why a (of family) cannot be a VIP, a backend or an encap source, as
 * words that follow "ADDR is ": "unspecified", "loopback",
 * "link-local", "multicast", "the limited broadcast address" or
 * "IPv4-mapped IPv6". NULL when it is none of these. An address that
 * is not IPv4 or IPv6, or an IPv4 one with junk in words 1..3, is
 * "malformed". Pure; any thread. */
const char *cp_addr_unusable(const struct lb_addr *a, __u8 family);

/* For an IPv4-mapped IPv6 address (::ffff:A.B.C.D), the IPv4 address it
 * maps in *v4 and 1; else 0. */
int cp_addr_unmap4(const struct lb_addr *a, __u8 family, struct lb_addr *v4);

/* Text forms the parsers above read back. Each returns buf, or NULL
 * (errno ENOSPC: buf too small; EAFNOSUPPORT: family not
 * LB_FAMILY_V4/V6) -- never with a 64-byte buffer and a valid input. */
const char *cp_format_addr(const struct lb_addr *a, __u8 family, char *buf, size_t len);
const char *cp_format_vip(const struct lb_vip_key *k, char *buf, size_t len);
const char *cp_format_endpoint(const struct lb_addr *a, __u8 family, __u16 port, char *buf,
			       size_t len);

#endif /* SLUICE_CP_ADDRESS_H */
