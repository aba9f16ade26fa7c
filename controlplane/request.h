/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request.h - one operator or health-daemon request, whatever carried it:
 * a sluicectl command line, a line of a config script, or a JSON object on
 * the API socket. cmd.c turns argv into a request and back (config lines,
 * `sluicectl save`); request.c turns JSON into a request and back; model.c
 * applies it. All three agree because they share this struct.
 */
#ifndef SLUICE_CP_REQUEST_H
#define SLUICE_CP_REQUEST_H

#include <net/if.h>
#include <linux/types.h>
#include "fwd.h"

#define CP_API_VERSION 1

enum cp_op {
	CP_OP_NONE = 0,
	CP_OP_VIP_ADD,		/* vip add VIP [--affinity source|none] [--ring M] [check opts] */
	CP_OP_VIP_SET,		/* vip set VIP [same options]: change flags/ring/check */
	CP_OP_VIP_DEL,		/* vip del VIP */
	CP_OP_VIP_LIST,		/* vip list [VIP] */
	CP_OP_BACKEND_ADD,	/* backend add VIP ADDR [--weight N] [--drain] */
	CP_OP_BACKEND_SET,	/* backend set VIP ADDR --weight N | --drain | --undrain */
	CP_OP_BACKEND_DEL,	/* backend del VIP ADDR */
	CP_OP_BACKEND_LIST,	/* backend list [VIP] */
	CP_OP_NODE_SET,		/* node set [--interface IF]... [--encap-source A] [--encap-source6 A] [--metrics A:P]
			   [--flow-ttl-tcp S] [--flow-ttl-udp S] */
	CP_OP_HEALTH_REPORT,	/* health report VIP ADDR up|down [--latency-us N] [--reason TEXT] */
	CP_OP_HEALTH_TARGETS,	/* health targets: every (VIP, backend, check) to probe */
	CP_OP_STATS,		/* stats [--vip VIP] */
	CP_OP_FLOWS,		/* flows VIP */
	CP_OP_RING_DIGEST,	/* ring digest VIP */
	CP_OP_SAVE,		/* save: the state as a config script */
	CP_OP_STATUS,		/* status */
	CP_OP_DETACH,		/* detach [--interface IF]: remove the XDP program */
	CP_OP_MAX,
};

/* Health-check kinds of a VIP's backends. */
enum cp_check_type {
	CP_CHECK_NONE = 0,
	CP_CHECK_TCP,		/* TCP connect */
	CP_CHECK_HTTP,		/* HTTP/1.1 GET path, expect status */
	CP_CHECK_UDP,		/* send payload, expect any answer */
};

#define CP_CHECK_PATH_MAX 256
#define CP_CHECK_PAYLOAD_MAX 256
#define CP_MAX_INTERFACES 8

/* Defaults, HAProxy's `check inter 2s rise 2 fall 3`. */
#define CP_CHECK_DEFAULT_INTERVAL_MS 2000
#define CP_CHECK_DEFAULT_TIMEOUT_MS 1000
#define CP_CHECK_DEFAULT_RISE 2
#define CP_CHECK_DEFAULT_FALL 3
#define CP_CHECK_DEFAULT_STATUS 200
#define CP_DEFAULT_WEIGHT 100

/* Idle timeouts of connection-table entries (lb_config.flow_ttl_*), in
 * seconds; 0 never expires. IPVS's defaults (ip_vs_proto_tcp.c: 15 min
 * for an established connection; ip_vs_proto_udp.c: 5 min). They are
 * long on purpose: our table cannot see FIN or RST, so the TCP timeout
 * must outlast the idle gaps of a live connection, and an entry that
 * outlives its connection costs only a way that LRU reclaims first. */
#define CP_DEFAULT_FLOW_TTL_TCP 900
#define CP_DEFAULT_FLOW_TTL_UDP 300
#define CP_MAX_WEIGHT 65535

struct cp_check {
	enum cp_check_type type;
	__u16 port;		/* 0: the VIP's port (must be set for a wildcard VIP) */
	__u16 expect_status;	/* HTTP */
	__u32 interval_ms;
	__u32 timeout_ms;
	__u8 rise;
	__u8 fall;
	char path[CP_CHECK_PATH_MAX];	/* HTTP, starts with '/' */
	char host[CP_CHECK_PATH_MAX];	/* HTTP Host header; empty: the backend address */
	char payload[CP_CHECK_PAYLOAD_MAX];	/* UDP, as given (no NUL inside) */
};

/* Which optional fields a request carries (VIP_SET/BACKEND_SET change
 * only these; ADD takes defaults for the others). */
#define CP_F_AFFINITY (1u << 0)
#define CP_F_RING (1u << 1)
#define CP_F_CHECK_TYPE (1u << 2)
#define CP_F_CHECK_PORT (1u << 3)
#define CP_F_CHECK_PATH (1u << 4)
#define CP_F_CHECK_STATUS (1u << 5)
#define CP_F_CHECK_INTERVAL (1u << 6)
#define CP_F_CHECK_TIMEOUT (1u << 7)
#define CP_F_CHECK_RISE (1u << 8)
#define CP_F_CHECK_FALL (1u << 9)
#define CP_F_CHECK_HOST (1u << 10)
#define CP_F_CHECK_PAYLOAD (1u << 11)
#define CP_F_WEIGHT (1u << 12)
#define CP_F_DRAIN (1u << 13)		/* drain = 1 / 0 (undrain) */
#define CP_F_VIP (1u << 14)		/* the request names a VIP */
#define CP_F_BACKEND (1u << 15)		/* the request names a backend */
#define CP_F_INTERFACES (1u << 16)
#define CP_F_ENCAP4 (1u << 17)
#define CP_F_ENCAP6 (1u << 18)
#define CP_F_METRICS (1u << 19)
#define CP_F_LATENCY (1u << 20)
#define CP_F_HEALTH (1u << 21)		/* health report: up/down given */
#define CP_F_REASON (1u << 22)		/* health report: reason given */
#define CP_F_FLOW_TTL_TCP (1u << 23)
#define CP_F_FLOW_TTL_UDP (1u << 24)

/* Backend health as reported by sluice-healthd. */
enum cp_health {
	CP_HEALTH_UNKNOWN = 0,	/* no report yet: treated as up */
	CP_HEALTH_UP,
	CP_HEALTH_DOWN,
};

struct cp_request {
	enum cp_op op;
	__u32 fields;			/* CP_F_* present */

	/* VIP: key.addr/port/proto/family; port 0 is the wildcard. */
	struct lb_vip_key vip;
	__u32 vip_flags;		/* LB_VIP_F_* (affinity) */
	__u32 ring_size;		/* prime; default LB_DEFAULT_RING_SIZE */
	struct cp_check check;

	/* Backend */
	struct lb_addr backend;
	__u8 backend_family;
	__u8 drain;			/* with CP_F_DRAIN: 1 drain, 0 undrain */
	__u32 weight;			/* 0..CP_MAX_WEIGHT */

	/* Health report */
	enum cp_health health;
	__u32 latency_us;
	char reason[128];

	/* Node settings */
	char interfaces[CP_MAX_INTERFACES][IF_NAMESIZE];
	__u8 n_interfaces;
	__be32 encap_src4;
	struct lb_addr encap_src6;
	char metrics[64];		/* "127.0.0.1:9109" or "[::1]:9109" */
	__u32 flow_ttl_tcp;		/* seconds, 0..LB_FLOW_TTL_MAX; 0: never expire */
	__u32 flow_ttl_udp;
};

/* A precise error: which field and why. Filled by every validator. */
struct cp_error {
	char field[32];		/* "vip", "weight", "ring", "line 12", ... */
	char msg[256];
};

/* Sets e (if not NULL) and returns err, a -errno value, so that a refusal
 * is one statement: return cp_error_set(e, -EINVAL, "weight", ...). */
int cp_error_set(struct cp_error *e, int err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Name of an op as used on the wire and in logs ("vip.add"); NULL if out of range. */
const char *cp_op_name(enum cp_op op);
/* The op with that wire name, or CP_OP_NONE. */
enum cp_op cp_op_from_name(const char *name);

/* Initialises a request with every default (weight, ring, check). */
void cp_request_init(struct cp_request *r, enum cp_op op);

/* Address parsing, shared by every parser: "10.0.0.1", "2001:db8::1".
 * Returns 0 or -EINVAL. */
int cp_parse_addr(const char *s, struct lb_addr *a, __u8 *family);
/* "10.100.0.1:80/tcp", "[2001:db8::1]:443/tcp", "10.100.0.1:*\/udp" or
 * ":0" for the port wildcard. Protocol tcp or udp (any case); an IPv6
 * address must be bracketed. 0, or -EINVAL with e->field "vip" and the
 * reason ("missing /proto", "port 70000 out of range", "bad address
 * 'x'"); k is written only on success. */
int cp_parse_vip(const char *s, struct lb_vip_key *k, struct cp_error *e);
/* Formats a VIP key the way cp_parse_vip reads it. buf >= 64 bytes.
 * Both return buf, or NULL (errno ENOSPC: buf too small; EAFNOSUPPORT:
 * family not LB_FAMILY_V4/V6) -- never with a 64-byte buffer and a valid
 * key. */
const char *cp_format_vip(const struct lb_vip_key *k, char *buf, size_t len);
const char *cp_format_addr(const struct lb_addr *a, __u8 family, char *buf, size_t len);

/* --- Field access shared by the parsers ------------------------------
 * cmd.c (command lines) and request_json.c (API objects) read and write
 * every field through the functions below, so a value one of them
 * accepts the other accepts too, with the same error. Each setter checks
 * one value on its own (syntax and range) and sets its CP_F_* bit;
 * relations between fields (timeout < interval, a ring size that is prime
 * and fits the fast path, a check port for a wildcard VIP, a path only for
 * HTTP) are for model.c to check. */

/* Ranges the setters enforce. */
#define CP_CHECK_MIN_INTERVAL_MS 100
#define CP_CHECK_MAX_INTERVAL_MS 3600000
#define CP_CHECK_MIN_TIMEOUT_MS 1
#define CP_CHECK_MAX_TIMEOUT_MS 3600000
#define CP_CHECK_MAX_RISE_FALL 100	/* rise and fall: 1..100 */
#define CP_MAX_RING 0x7fffffffu		/* LB_RING_WORD keeps the size in 31 bits */

/* Which fields an op accepts, which it needs, and (SET ops) the fields
 * of which at least one must be given, else the request changes nothing. */
struct cp_op_fields {
	__u32 allowed;
	__u32 required;
	__u32 one_of;
};

/* The table entry of op; NULL for CP_OP_NONE or out of range. */
const struct cp_op_fields *cp_op_fields(enum cp_op op);

/* Numeric fields: CP_F_RING, CHECK_PORT, CHECK_STATUS, CHECK_INTERVAL and
 * CHECK_TIMEOUT (ms), CHECK_RISE, CHECK_FALL, WEIGHT, DRAIN (0/1),
 * LATENCY, FLOW_TTL_TCP and FLOW_TTL_UDP (s). Out of range: -EINVAL with e->field = name (the caller's
 * spelling: "check-interval" on the CLI, "check_interval_ms" in JSON);
 * r unchanged. */
int cp_request_set_num(struct cp_request *r, __u32 bit, long long v, const char *name,
		       struct cp_error *e);
/* The value of a numeric field; 0 for a bit that is not one. */
__u64 cp_request_get_num(const struct cp_request *r, __u32 bit);

/* Text fields: CP_F_VIP, BACKEND, HEALTH ("up"/"down"), AFFINITY
 * ("source"/"none"), CHECK_TYPE ("none"/"tcp"/"http"/"udp"), CHECK_PATH
 * (starts with '/', no spaces), CHECK_HOST (no spaces), CHECK_PAYLOAD and
 * REASON (printable ASCII and spaces), ENCAP4 (IPv4), ENCAP6 (IPv6),
 * METRICS ("ADDR:PORT", "[ADDR6]:PORT"; stored canonical), INTERFACES
 * (appends one name; duplicates and more than CP_MAX_INTERFACES are
 * errors). A string that does not fit its array is an error, never cut.
 * -EINVAL with e->field = name; r unchanged. */
int cp_request_set_text(struct cp_request *r, __u32 bit, const char *s, const char *name,
			struct cp_error *e);
/* The text of a text field (not INTERFACES), as the setter reads it back.
 * 0, -ENOSPC (buf too small) or -EINVAL (not a text field, or a value the
 * setter would refuse, e.g. unknown vip_flags bits). */
int cp_request_get_text(const struct cp_request *r, __u32 bit, char *buf, size_t len);

/* CP_F_* bits of the fields whose value differs from cp_request_init()'s
 * (VIP/BACKEND: an address is set). An ADD request means the same with
 * or without the bits of default-valued fields; formatters use this. */
__u32 cp_request_nondefault(const struct cp_request *r);

/* Wire/CLI names of enum values; NULL when out of range. */
const char *cp_check_type_name(enum cp_check_type t);
const char *cp_health_name(enum cp_health h);

#endif /* SLUICE_CP_REQUEST_H */
