/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request.h - one operator or health-daemon request, whatever carried it:
 * a sluicectl command line, a line of a config script, or a JSON object on
 * the API socket, and the language they all speak: one table of fields
 * and one of ops (request.c). cmd.c turns argv into a request and back
 * (config lines, `sluicectl save`); request_json.c does the same for
 * JSON; the model applies it. All agree because all read the tables.
 */
#ifndef SLUICE_CP_REQUEST_H
#define SLUICE_CP_REQUEST_H

#include <net/if.h>
#include <linux/types.h>
#include "fwd.h"
#include "address.h"
#include "cp_error.h"

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
			   [--flow-ttl-tcp S] [--flow-ttl-udp S] [--announce-table N] */
	CP_OP_HEALTH_REPORT,	/* health report VIP ADDR up|down [--latency-us N] [--reason TEXT] */
	CP_OP_HEALTH_TARGETS,	/* health targets: every (VIP, backend, check) to probe */
	CP_OP_HEALTH_SET,	/* health set VIP ADDR up|down [--for DUR] [--reason TEXT]: override */
	CP_OP_HEALTH_CLEAR,	/* health clear VIP ADDR: end the override */
	CP_OP_HEALTH_HEARTBEAT,	/* health heartbeat: healthd is alive; answers the targets */
	CP_OP_STATS,		/* stats [--vip VIP] */
	CP_OP_FLOWS,		/* flows VIP */
	CP_OP_RING_DIGEST,	/* ring digest VIP */
	CP_OP_SAVE,		/* save: the state as a config script */
	CP_OP_STATUS,		/* status */
	CP_OP_DETACH,		/* detach [--interface IF]: remove the XDP program */
	CP_OP_APPLY,		/* apply FILE [--dry-run] [--force]: running state := FILE */
	CP_OP_DIFF,		/* diff FILE: what apply FILE would change */
	CP_OP_RELOAD,		/* reload [--dry-run] [--force]: apply sluiced's config file */
	CP_OP_BATCH,		/* batch: "requests", VIP/backend changes applied as one */
	CP_OP_NODE_DRAIN,	/* node drain: withdraw every announcement, keep forwarding */
	CP_OP_NODE_UNDRAIN,	/* node undrain: announce again */
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
#define CP_PATH_MAX 1024	/* a config file named in a request */

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

/* The kernel's own routing tables (RT_TABLE_DEFAULT, _MAIN, _LOCAL): an
 * announce table must be none of them. */
#define CP_ANNOUNCE_TABLE_RESERVED_MIN 253
#define CP_ANNOUNCE_TABLE_RESERVED_MAX 255

/* Ranges of the field table's rows (request.c), named for the tests. */
#define CP_CHECK_MIN_INTERVAL_MS 100
#define CP_CHECK_MAX_INTERVAL_MS 3600000
#define CP_CHECK_MIN_TIMEOUT_MS 1
#define CP_CHECK_MAX_TIMEOUT_MS 3600000
#define CP_CHECK_MAX_RISE_FALL 100	/* rise and fall: 1..100 */
#define CP_MAX_RING 0x7fffffffu		/* LB_RING_WORD keeps the size in 31 bits */

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

/* Which fields a request carries (a SET changes only these; an ADD takes
 * defaults for the others). One bit per row of the field table below. */
#define CP_F_AFFINITY (1ull << 0)
#define CP_F_RING (1ull << 1)
#define CP_F_CHECK_TYPE (1ull << 2)
#define CP_F_CHECK_PORT (1ull << 3)
#define CP_F_CHECK_PATH (1ull << 4)
#define CP_F_CHECK_STATUS (1ull << 5)
#define CP_F_CHECK_INTERVAL (1ull << 6)
#define CP_F_CHECK_TIMEOUT (1ull << 7)
#define CP_F_CHECK_RISE (1ull << 8)
#define CP_F_CHECK_FALL (1ull << 9)
#define CP_F_CHECK_HOST (1ull << 10)
#define CP_F_CHECK_PAYLOAD (1ull << 11)
#define CP_F_WEIGHT (1ull << 12)
#define CP_F_DRAIN (1ull << 13)		/* drain = 1 / 0 (undrain) */
#define CP_F_VIP (1ull << 14)		/* the request names a VIP */
#define CP_F_BACKEND (1ull << 15)		/* the request names a backend */
#define CP_F_INTERFACES (1ull << 16)
#define CP_F_ENCAP4 (1ull << 17)
#define CP_F_ENCAP6 (1ull << 18)
#define CP_F_METRICS (1ull << 19)
#define CP_F_LATENCY (1ull << 20)
#define CP_F_HEALTH (1ull << 21)		/* health report: up/down given */
#define CP_F_REASON (1ull << 22)		/* health report: reason given */
#define CP_F_FLOW_TTL_TCP (1ull << 23)
#define CP_F_FLOW_TTL_UDP (1ull << 24)
#define CP_F_PATH (1ull << 25)		/* apply, diff: the config file */
#define CP_F_DRY_RUN (1ull << 26)		/* apply, reload: validate and show, change nothing */
#define CP_F_FORCE (1ull << 27)		/* apply, reload: even if it undoes runtime changes */
#define CP_F_ANNOUNCE_TABLE (1ull << 28)	/* node set: kernel table of the VIP routes */
#define CP_F_DRAINED (1ull << 29)	/* node set: out of the fleet (node drain) */
#define CP_F_INITIAL_HEALTH (1ull << 30)	/* vip add/set: a new backend's health */
#define CP_F_FOR (1ull << 31)		/* health set: how long the override holds */
/* Bits 32 up are free. */

/* Backend health as reported by sluice-healthd or set by an operator. */
enum cp_health {
	CP_HEALTH_UNKNOWN = 0,	/* no report yet (the backend's initial state holds);
				 * as an override: none; as a VIP's initial health:
				 * auto (down with a check, up without) */
	CP_HEALTH_UP,
	CP_HEALTH_DOWN,
};

/* The longest override `health set --for` takes: 30 days. */
#define CP_HEALTH_MAX_FOR_S (30u * 24 * 3600)

enum cp_affinity {
	CP_AFFINITY_NONE = 0,	/* the flow key is the 5-tuple */
	CP_AFFINITY_SOURCE,	/* the client address only (LB_VIP_F_AFFINITY) */
};

/* A VIP's settings: what vip add and vip set carry, and what the model
 * keeps of a VIP besides its key and backends. */
struct cp_vip_spec {
	enum cp_affinity affinity;
	__u32 ring_size;		/* prime; default LB_DEFAULT_RING_SIZE */
	struct cp_check check;
	enum cp_health initial_health;	/* of backends added later; UNKNOWN: auto */
};

struct cp_request {
	enum cp_op op;
	__u64 fields;			/* CP_F_* present */

	/* VIP: key.addr/port/proto/family; port 0 is the wildcard. */
	struct lb_vip_key vip;
	struct cp_vip_spec spec;

	/* Backend */
	struct lb_addr backend;
	__u8 backend_family;
	__u8 drain;			/* with CP_F_DRAIN: 1 drain, 0 undrain */
	__u32 weight;			/* 0..CP_MAX_WEIGHT */

	/* Health report, health set (override) */
	enum cp_health health;
	__u32 latency_us;
	char reason[128];
	__u32 for_s;			/* health set: 0 until cleared */

	/* Node settings */
	char interfaces[CP_MAX_INTERFACES][IF_NAMESIZE];
	__u8 n_interfaces;
	__be32 encap_src4;
	struct lb_addr encap_src6;
	char metrics[64];		/* "127.0.0.1:9109" or "[::1]:9109" */
	__u32 flow_ttl_tcp;		/* seconds, 0..LB_FLOW_TTL_MAX; 0: never expire */
	__u32 flow_ttl_udp;
	__u32 announce_table;		/* 0: announce nothing */
	__u8 drained;			/* with CP_F_DRAINED */

	/* A whole configuration: apply, diff, reload */
	char path[CP_PATH_MAX];		/* absolute: sluiced reads it */
	__u8 dry_run;
	__u8 force;
};

/* --- The request language: one row per field ----------------------------
 *
 * Every field of a request is one row of a table (request.c, cp_fields):
 * its name in the API's JSON and on the command line, how its value is
 * written, its range, unit and default, the member of struct cp_request
 * that holds it, which ops take it and which health checks use it. The
 * command line (cmd.c: options, formatting, --help), the JSON decoder and
 * encoder (request_json.c), the model's error messages and re-checks and
 * sluice-healthd's reading of health.targets are all generated from it,
 * so adding a VIP option is one row here plus its rule in model_check.c.
 *
 * Durations. A duration always states its unit: in its name where the
 * value is a bare number (JSON "check_interval_ms", "flow_ttl_tcp_s",
 * the option --latency-us), else after the number (--check-interval 2s,
 * --flow-ttl-tcp 15m; a bare number other than 0 is refused there). */

enum cp_kind {
	CP_KIND_VIP,		/* ADDR:PORT/PROTO (address.h) */
	CP_KIND_ADDR,		/* an address; CP_FF_V4/CP_FF_V6 restrict the family */
	CP_KIND_ENDPOINT,	/* ADDR:PORT or [ADDR6]:PORT, kept in canonical form */
	CP_KIND_IFNAMES,	/* interface names; each setting appends one */
	CP_KIND_WORD,		/* one of the row's words; the member holds its index */
	CP_KIND_TEXT,		/* printable ASCII (CP_FF_SPACES, CP_FF_SLASH) */
	CP_KIND_NUM,		/* whole number in [min, max] */
	CP_KIND_DURATION,	/* whole number of the row's unit in [min, max] */
	CP_KIND_BOOL,		/* 0 or 1 */
};

enum cp_unit {
	CP_UNIT_NONE = 0,
	CP_UNIT_US,
	CP_UNIT_MS,
	CP_UNIT_S,
};

#define CP_FF_V4 (1u << 0)	/* ADDR: IPv4 only */
#define CP_FF_V6 (1u << 1)	/* ADDR: IPv6 only */
#define CP_FF_SPACES (1u << 2)	/* TEXT: spaces allowed */
#define CP_FF_SLASH (1u << 3)	/* TEXT: starts with '/' */
#define CP_FF_LOOSE (1u << 4)	/* NUM: min..max only bounds the value; the
				 * model has the real rule (--help says it) */

/* Ops as a mask, for the ops a field applies to. */
#define CP_OPM(op) (1u << (op))

struct cp_field {
	__u64 bit;		/* CP_F_* */
	const char *api;	/* JSON member, and the field the model's errors name */
	const char *cli;	/* sluicectl long option, without "--"; NULL: positional only */
	const char *cli_off;	/* BOOL: the option that sets 0 ("undrain"); cli sets 1 */
	enum cp_kind kind;
	__u32 flags;		/* CP_FF_* */
	enum cp_unit unit;	/* NUM, DURATION */
	long long min, max;	/* NUM, DURATION: in unit */
	long long def;		/* NUM, DURATION, BOOL, WORD: cp_request_init()'s value */
	const char *const *words;	/* WORD: value -> word, NULL for none; ends at n_words */
	int n_words;
	__u32 ops;		/* CP_OPM() of the ops that take the field */
	__u32 checks;		/* 1 << CP_CHECK_*: check types that use it; 0: not a check field */
	size_t off, size;	/* the member of struct cp_request */
	size_t family_off;	/* ADDR: the member that holds its family, or 0 */
	const char *metavar;	/* --help: the value's placeholder ("N", "DUR") */
	const char *help;	/* --help: what it means (range and default are added) */
};

/* The rows, in the order commands and JSON objects are written. */
extern const struct cp_field cp_fields[];
extern const size_t cp_n_fields;

/* The row of a CP_F_* bit, of a JSON name, of a long option (cli or
 * cli_off) given with its length; NULL if none. */
const struct cp_field *cp_field_of(__u64 bit);
const struct cp_field *cp_field_by_api(const char *name, size_t len);
const struct cp_field *cp_field_by_cli(const char *name, size_t len);

/* The unit's suffix ("ms"), "" for CP_UNIT_NONE. */
const char *cp_unit_name(enum cp_unit u);

/* --- Ops ----------------------------------------------------------------- */

/* An op as the command line spells it and which fields it takes as
 * positionals. The op's required fields are its first n_required
 * positionals; the fields it accepts are the rows whose ops name it. */
struct cp_op_def {
	const char *name;	/* on the wire and in logs: "vip.add" */
	const char *group;	/* first word of the command: "vip" */
	const char *verb;	/* second word, or NULL: "add" */
	__u64 pos[3];		/* positional fields, in order; 0 ends */
	int n_required;
	int set;		/* changes only what it carries: needs one of its options */
	int change;		/* changes the desired state: may be in a config script */
	/* Only reads: a monitoring client (sluiced --api-read-group) may
	 * send it. 0 (the default of a new row): root only. */
	int read;
};

/* The definition of op; NULL for CP_OP_NONE or out of range. */
const struct cp_op_def *cp_op_def(enum cp_op op);
/* Name of an op as used on the wire and in logs ("vip.add"); NULL if out of range. */
const char *cp_op_name(enum cp_op op);
/* The op with that wire name, or CP_OP_NONE. */
enum cp_op cp_op_from_name(const char *name);

/* Which fields an op accepts, which it needs, and (SET ops) the fields
 * of which at least one must be given, else the request changes nothing. */
struct cp_op_fields {
	__u64 allowed;
	__u64 required;
	__u64 one_of;
};

/* The fields of op; -EINVAL for CP_OP_NONE or out of range. */
int cp_op_fields(enum cp_op op, struct cp_op_fields *out);

/* --- Values ---------------------------------------------------------------
 * Every carrier reads and writes every field through these, so a value
 * one accepts the others accept too, with the same error. Each setter
 * checks one value on its own (syntax and range) and sets its CP_F_* bit;
 * relations between fields (timeout < interval, a ring size that is prime
 * and fits the fast path, a check port for a wildcard VIP, a path only for
 * HTTP) are for model_check.c. */

/* Initialises a request with every row's default. */
void cp_request_init(struct cp_request *r, enum cp_op op);

/* NUM, DURATION (in the row's unit) and BOOL fields. Out of range:
 * -EINVAL with e->field = name (the caller's spelling: the row's cli on
 * the command line, its api in JSON; NULL: the api); r unchanged. */
int cp_request_set_num(struct cp_request *r, __u64 bit, long long v, const char *name,
		       struct cp_error *e);
/* The value of a numeric field; 0 for a bit that is not one. */
__u64 cp_request_get_num(const struct cp_request *r, __u64 bit);

/* Every other field, from text: VIP, ADDR (the row's family), ENDPOINT
 * (stored canonical), IFNAMES (appends one name; duplicates and more
 * than CP_MAX_INTERFACES are errors), WORD (one of the row's words),
 * TEXT (printable ASCII; CP_FF_SLASH: starts with '/'; without
 * CP_FF_SPACES no spaces). A string that does not fit its array is an
 * error, never cut. -EINVAL with e->field = name; r unchanged. */
int cp_request_set_text(struct cp_request *r, __u64 bit, const char *s, const char *name,
			struct cp_error *e);
/* The text of a text field (not IFNAMES), as the setter reads it back.
 * 0, -ENOSPC (buf too small) or -EINVAL (not a text field, or a value the
 * setter would refuse). */
int cp_request_get_text(const struct cp_request *r, __u64 bit, char *buf, size_t len);

/* 0 if every field in bits holds a value its setter would take (a
 * request built by hand, not by a parser); else -EINVAL naming the first
 * bad one by its API name. */
int cp_request_check_values(const struct cp_request *r, __u64 bits, struct cp_error *e);

/* CP_F_* bits of the fields whose value differs from cp_request_init()'s.
 * An ADD request means the same with or without the bits of
 * default-valued fields; formatters use this. */
__u64 cp_request_nondefault(const struct cp_request *r);

/* Wire/CLI names of enum values; NULL when out of range. */
const char *cp_check_type_name(enum cp_check_type t);
const char *cp_health_name(enum cp_health h);

/* --- VIP settings and health checks ------------------------------------- */

/* The fields of a VIP's settings (struct cp_vip_spec): what vip set may
 * change. */
__u64 cp_spec_fields(void);
/* The CP_F_CHECK_* fields a check of type t uses, CP_F_CHECK_TYPE
 * included; CP_F_CHECK_TYPE alone for CP_CHECK_NONE. */
__u64 cp_check_fields(enum cp_check_type t);
/* Every check field. */
__u64 cp_check_fields_all(void);
/* Copies the settings in bits from src to dst (strings with their tails
 * zeroed, so equal settings memcmp equal). */
void cp_spec_copy(struct cp_vip_spec *dst, const struct cp_vip_spec *src, __u64 bits);
/* Bits of the settings that differ between a and b. */
__u64 cp_spec_diff(const struct cp_vip_spec *a, const struct cp_vip_spec *b);
/* Resets the check fields s's check type does not use to their
 * defaults: one state has one form, so saving, loading and diffing
 * compare what matters. */
void cp_spec_canonical(struct cp_vip_spec *s);

#endif /* SLUICE_CP_REQUEST_H */
