/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request.c - the request language (request.h): the table of fields,
 * the table of ops, and the checked setters and getters through which
 * every carrier (cmd.c, request_json.c, the model, sluice-healthd) reads
 * and writes a field. Every per-value rule lives here, once, which is
 * what makes a command line, a config line and an API object accept
 * exactly the same values.
 *
 * No state; every function may be called from any thread.
 */
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "request.h"

/* --- Ops ----------------------------------------------------------------- */

#define V CP_F_VIP
#define B CP_F_BACKEND

static const struct cp_op_def ops[CP_OP_MAX] = {
	[CP_OP_VIP_ADD] = { "vip.add", "vip", "add", { V }, 1, 0, 1 },
	[CP_OP_VIP_SET] = { "vip.set", "vip", "set", { V }, 1, 1, 1 },
	[CP_OP_VIP_DEL] = { "vip.del", "vip", "del", { V }, 1, 0, 1 },
	[CP_OP_VIP_LIST] = { "vip.list", "vip", "list", { V }, 0, 0, 0, 1 },
	[CP_OP_BACKEND_ADD] = { "backend.add", "backend", "add", { V, B }, 2, 0, 1 },
	[CP_OP_BACKEND_SET] = { "backend.set", "backend", "set", { V, B }, 2, 1, 1 },
	[CP_OP_BACKEND_DEL] = { "backend.del", "backend", "del", { V, B }, 2, 0, 1 },
	[CP_OP_BACKEND_LIST] = { "backend.list", "backend", "list", { V }, 0, 0, 0, 1 },
	[CP_OP_NODE_SET] = { "node.set", "node", "set", { 0 }, 0, 1, 1 },
	[CP_OP_HEALTH_REPORT] = { "health.report", "health", "report", { V, B, CP_F_HEALTH }, 3,
				  0, 0 },
	[CP_OP_HEALTH_TARGETS] = { "health.targets", "health", "targets", { 0 }, 0, 0, 0, 1 },
	[CP_OP_HEALTH_SET] = { "health.set", "health", "set", { V, B, CP_F_HEALTH }, 3, 0, 0 },
	[CP_OP_HEALTH_CLEAR] = { "health.clear", "health", "clear", { V, B }, 2, 0, 0 },
	[CP_OP_HEALTH_HEARTBEAT] = { "health.heartbeat", "health", "heartbeat", { 0 }, 0, 0, 0 },
	[CP_OP_STATS] = { "stats", "stats", NULL, { 0 }, 0, 0, 0, 1 },
	[CP_OP_FLOWS] = { "flows", "flows", NULL, { V }, 1, 0, 0, 1 },
	[CP_OP_RING_DIGEST] = { "ring.digest", "ring", "digest", { V }, 1, 0, 0, 1 },
	[CP_OP_SAVE] = { "save", "save", NULL, { 0 }, 0, 0, 0, 1 },
	[CP_OP_STATUS] = { "status", "status", NULL, { 0 }, 0, 0, 0, 1 },
	[CP_OP_DETACH] = { "detach", "detach", NULL, { 0 }, 0, 0, 0 },
	[CP_OP_APPLY] = { "apply", "apply", NULL, { CP_F_PATH }, 1, 0, 0 },
	[CP_OP_DIFF] = { "diff", "diff", NULL, { CP_F_PATH }, 1, 0, 0 },
	[CP_OP_RELOAD] = { "reload", "reload", NULL, { 0 }, 0, 0, 0 },
	[CP_OP_BATCH] = { "batch", "batch", NULL, { 0 }, 0, 0, 0 },
	/* Not configuration: the state file keeps it as node set --drained. */
	[CP_OP_NODE_DRAIN] = { "node.drain", "node", "drain", { 0 }, 0, 0, 0 },
	[CP_OP_NODE_UNDRAIN] = { "node.undrain", "node", "undrain", { 0 }, 0, 0, 0 },
};

#undef V
#undef B

const struct cp_op_def *cp_op_def(enum cp_op op)
{
	if (op <= CP_OP_NONE || op >= CP_OP_MAX)
		return NULL;
	return &ops[op];
}

const char *cp_op_name(enum cp_op op)
{
	const struct cp_op_def *d = cp_op_def(op);

	return d ? d->name : NULL;
}

enum cp_op cp_op_from_name(const char *name)
{
	int op;

	if (!name)
		return CP_OP_NONE;
	for (op = CP_OP_NONE + 1; op < CP_OP_MAX; op++)
		if (!strcmp(ops[op].name, name))
			return op;
	return CP_OP_NONE;
}

/* --- Fields -------------------------------------------------------------- */

#define OPS_HEALTH_NAMED (CP_OPM(CP_OP_HEALTH_REPORT) | CP_OPM(CP_OP_HEALTH_SET) | \
			  CP_OPM(CP_OP_HEALTH_CLEAR))
#define OPS_VIP_NAMED (CP_OPM(CP_OP_VIP_ADD) | CP_OPM(CP_OP_VIP_SET) | CP_OPM(CP_OP_VIP_DEL) | \
		       CP_OPM(CP_OP_VIP_LIST) | CP_OPM(CP_OP_BACKEND_ADD) |		\
		       CP_OPM(CP_OP_BACKEND_SET) | CP_OPM(CP_OP_BACKEND_DEL) |		\
		       CP_OPM(CP_OP_BACKEND_LIST) | OPS_HEALTH_NAMED |			\
		       CP_OPM(CP_OP_STATS) | CP_OPM(CP_OP_FLOWS) | CP_OPM(CP_OP_RING_DIGEST))
#define OPS_BACKEND_NAMED (CP_OPM(CP_OP_BACKEND_ADD) | CP_OPM(CP_OP_BACKEND_SET) |	\
			   CP_OPM(CP_OP_BACKEND_DEL) | OPS_HEALTH_NAMED)
#define OPS_VIP (CP_OPM(CP_OP_VIP_ADD) | CP_OPM(CP_OP_VIP_SET))
#define OPS_BACKEND (CP_OPM(CP_OP_BACKEND_ADD) | CP_OPM(CP_OP_BACKEND_SET))
#define OPS_NODE CP_OPM(CP_OP_NODE_SET)
#define OPS_REPORT CP_OPM(CP_OP_HEALTH_REPORT)
#define OPS_APPLY (CP_OPM(CP_OP_APPLY) | CP_OPM(CP_OP_RELOAD))
#define OPS_OVERRIDE CP_OPM(CP_OP_HEALTH_SET)

#define CK(t) (1u << (t))
#define CK_ANY (CK(CP_CHECK_TCP) | CK(CP_CHECK_HTTP) | CK(CP_CHECK_UDP))

#define AT(member) .off = offsetof(struct cp_request, member), \
	.size = sizeof(((struct cp_request *)0)->member)

static const char *const check_words[] = { "none", "tcp", "http", "udp" };
static const char *const health_words[] = { NULL, "up", "down" };	/* unknown: no report */
static const char *const affinity_words[] = { "none", "source" };
static const char *const initial_words[] = { "auto", "up", "down" };	/* enum cp_health */

#define WORDS(w) .words = (w), .n_words = (int)(sizeof(w) / sizeof((w)[0]))

const struct cp_field cp_fields[] = {
	{ CP_F_VIP, "vip", "vip", .kind = CP_KIND_VIP, .ops = OPS_VIP_NAMED, AT(vip),
	  .metavar = "VIP", .help = "only this VIP (ADDR:PORT/PROTO)" },
	{ CP_F_BACKEND, "backend", NULL, .kind = CP_KIND_ADDR, .ops = OPS_BACKEND_NAMED,
	  AT(backend), .family_off = offsetof(struct cp_request, backend_family) },
	{ CP_F_HEALTH, "health", NULL, .kind = CP_KIND_WORD, WORDS(health_words),
	  .def = CP_HEALTH_UNKNOWN, .ops = OPS_REPORT | OPS_OVERRIDE, AT(health) },
	{ CP_F_AFFINITY, "affinity", "affinity", .kind = CP_KIND_WORD, WORDS(affinity_words),
	  .def = CP_AFFINITY_NONE, .ops = OPS_VIP, AT(spec.affinity), .metavar = "none|source",
	  .help = "source: all connections of a client go to one backend (the flow key has "
		  "no ports)" },
	{ CP_F_RING, "ring", "ring", .kind = CP_KIND_NUM, .flags = CP_FF_LOOSE, .min = 1,
	  .max = CP_MAX_RING, .def = LB_DEFAULT_RING_SIZE, .ops = OPS_VIP, AT(spec.ring_size),
	  .metavar = "M",
	  .help = "Maglev ring size: a prime from 3 to the fast path's largest ring "
		  "(sluiced --max-ring); larger spreads load more evenly and costs memory" },
	{ CP_F_CHECK_TYPE, "check", "check", .kind = CP_KIND_WORD, WORDS(check_words),
	  .def = CP_CHECK_NONE, .ops = OPS_VIP, .checks = CK_ANY | CK(CP_CHECK_NONE),
	  AT(spec.check.type), .metavar = "none|tcp|http|udp",
	  .help = "how sluice-healthd checks the backends: TCP connect, HTTP GET, or a UDP "
		  "datagram that must be answered; none: always up" },
	{ CP_F_CHECK_PORT, "check_port", "check-port", .kind = CP_KIND_NUM, .min = 0,
	  .max = 65535, .def = 0, .ops = OPS_VIP, .checks = CK_ANY, AT(spec.check.port),
	  .metavar = "P",
	  .help = "port checked; 0 means the VIP's port, which a wildcard VIP does not have" },
	{ CP_F_CHECK_PATH, "check_path", "check-path", .kind = CP_KIND_TEXT,
	  .flags = CP_FF_SLASH, .ops = OPS_VIP, .checks = CK(CP_CHECK_HTTP), AT(spec.check.path),
	  .metavar = "/PATH", .help = "http (required): the path to GET" },
	{ CP_F_CHECK_HOST, "check_host", "check-host", .kind = CP_KIND_TEXT, .ops = OPS_VIP,
	  .checks = CK(CP_CHECK_HTTP), AT(spec.check.host), .metavar = "HOST",
	  .help = "http: the Host header; empty: the backend's address" },
	{ CP_F_CHECK_STATUS, "check_status", "check-status", .kind = CP_KIND_NUM, .min = 100,
	  .max = 599, .def = CP_CHECK_DEFAULT_STATUS, .ops = OPS_VIP,
	  .checks = CK(CP_CHECK_HTTP), AT(spec.check.expect_status), .metavar = "N",
	  .help = "http: the status that means up" },
	{ CP_F_CHECK_INTERVAL, "check_interval_ms", "check-interval", .kind = CP_KIND_DURATION,
	  .unit = CP_UNIT_MS, .min = CP_CHECK_MIN_INTERVAL_MS, .max = CP_CHECK_MAX_INTERVAL_MS,
	  .def = CP_CHECK_DEFAULT_INTERVAL_MS, .ops = OPS_VIP, .checks = CK_ANY,
	  AT(spec.check.interval_ms), .metavar = "DUR", .help = "time between two checks" },
	{ CP_F_CHECK_TIMEOUT, "check_timeout_ms", "check-timeout", .kind = CP_KIND_DURATION,
	  .unit = CP_UNIT_MS, .min = CP_CHECK_MIN_TIMEOUT_MS, .max = CP_CHECK_MAX_TIMEOUT_MS,
	  .def = CP_CHECK_DEFAULT_TIMEOUT_MS, .ops = OPS_VIP, .checks = CK_ANY,
	  AT(spec.check.timeout_ms), .metavar = "DUR",
	  .help = "time a check may take, below the interval" },
	{ CP_F_CHECK_RISE, "check_rise", "check-rise", .kind = CP_KIND_NUM, .min = 1,
	  .max = CP_CHECK_MAX_RISE_FALL, .def = CP_CHECK_DEFAULT_RISE, .ops = OPS_VIP,
	  .checks = CK_ANY, AT(spec.check.rise), .metavar = "N",
	  .help = "successes in a row that mark a backend up" },
	{ CP_F_CHECK_FALL, "check_fall", "check-fall", .kind = CP_KIND_NUM, .min = 1,
	  .max = CP_CHECK_MAX_RISE_FALL, .def = CP_CHECK_DEFAULT_FALL, .ops = OPS_VIP,
	  .checks = CK_ANY, AT(spec.check.fall), .metavar = "N",
	  .help = "failures in a row that mark it down" },
	{ CP_F_CHECK_PAYLOAD, "check_payload", "check-payload", .kind = CP_KIND_TEXT,
	  .flags = CP_FF_SPACES, .ops = OPS_VIP, .checks = CK(CP_CHECK_UDP), AT(spec.check.payload),
	  .metavar = "TEXT", .help = "udp (required): the datagram sent" },
	{ CP_F_INITIAL_HEALTH, "initial_health", "initial-health", .kind = CP_KIND_WORD,
	  WORDS(initial_words), .def = CP_HEALTH_UNKNOWN, .ops = OPS_VIP,
	  AT(spec.initial_health), .metavar = "auto|up|down",
	  .help = "the health of a backend added later until its first check; auto: down "
		  "when the VIP has a check, up when it has none (HAProxy's init-state)" },
	{ CP_F_WEIGHT, "weight", "weight", .kind = CP_KIND_NUM, .min = 0, .max = CP_MAX_WEIGHT,
	  .def = CP_DEFAULT_WEIGHT, .ops = OPS_BACKEND, AT(weight), .metavar = "N",
	  .help = "its share of new connections, relative to the other backends of the VIP; "
		  "0 takes none" },
	{ CP_F_DRAIN, "drain", "drain", "undrain", .kind = CP_KIND_BOOL, .min = 0, .max = 1,
	  .def = 0, .ops = OPS_BACKEND, AT(drain),
	  .help = "take no new connections; established ones keep flowing (--undrain: take "
		  "new ones again)" },
	{ CP_F_INTERFACES, "interfaces", "interface", .kind = CP_KIND_IFNAMES,
	  .ops = OPS_NODE | CP_OPM(CP_OP_DETACH), AT(interfaces), .metavar = "IF",
	  .help = "an interface the fast path forwards on; repeat for several (at most 8). "
		  "The list given replaces the previous one" },
	{ CP_F_ENCAP4, "encap_source", "encap-source", .kind = CP_KIND_ADDR, .flags = CP_FF_V4,
	  .ops = OPS_NODE, AT(encap_src4), .metavar = "ADDR4",
	  .help = "outer source address of packets sent to IPv4 backends; none: IPv4 "
		  "backends unusable" },
	{ CP_F_ENCAP6, "encap_source6", "encap-source6", .kind = CP_KIND_ADDR, .flags = CP_FF_V6,
	  .ops = OPS_NODE, AT(encap_src6), .metavar = "ADDR6",
	  .help = "the same for IPv6 backends" },
	{ CP_F_METRICS, "metrics", "metrics", .kind = CP_KIND_ENDPOINT, .ops = OPS_NODE,
	  AT(metrics), .metavar = "ADDR:PORT",
	  .help = "where /metrics and /healthz are served (127.0.0.1:9109, [::1]:9109); "
		  "none given: sluiced's own. A running sluiced moves there within a second; "
		  "if it cannot listen there it logs why and keeps the old one" },
	{ CP_F_FLOW_TTL_TCP, "flow_ttl_tcp_s", "flow-ttl-tcp", .kind = CP_KIND_DURATION,
	  .unit = CP_UNIT_S, .min = 0, .max = LB_FLOW_TTL_MAX, .def = CP_DEFAULT_FLOW_TTL_TCP,
	  .ops = OPS_NODE, AT(flow_ttl_tcp), .metavar = "DUR",
	  .help = "idle time after which a TCP connection-table entry expires: its next "
		  "packet picks from the ring again; 0 never expires" },
	{ CP_F_FLOW_TTL_UDP, "flow_ttl_udp_s", "flow-ttl-udp", .kind = CP_KIND_DURATION,
	  .unit = CP_UNIT_S, .min = 0, .max = LB_FLOW_TTL_MAX, .def = CP_DEFAULT_FLOW_TTL_UDP,
	  .ops = OPS_NODE, AT(flow_ttl_udp), .metavar = "DUR",
	  .help = "the same for UDP flows" },
	{ CP_F_ANNOUNCE_TABLE, "announce_table", "announce-table", .kind = CP_KIND_NUM,
	  .flags = CP_FF_LOOSE, .min = 0, .max = UINT32_MAX, .def = 0, .ops = OPS_NODE,
	  AT(announce_table), .metavar = "N",
	  .help = "kernel routing table in which sluiced keeps one blackhole route "
		  "(protocol 200) per VIP address in service, for bird2 to learn and announce "
		  "over BGP; not 253, 254 or 255 (the kernel's default, main and local); 0: "
		  "announce nothing" },
	{ CP_F_DRAINED, "drained", "drained", .kind = CP_KIND_BOOL, .min = 0, .max = 1,
	  .def = 0, .ops = OPS_NODE, AT(drained),
	  .help = "the node is out of the fleet: nothing announced, whatever still arrives "
		  "is forwarded. Set by `node drain`, cleared by `node undrain`; a config "
		  "applied later keeps it as it is" },
	{ CP_F_LATENCY, "latency_us", "latency-us", .kind = CP_KIND_NUM, .unit = CP_UNIT_US,
	  .min = 0, .max = UINT32_MAX, .def = 0, .ops = OPS_REPORT, AT(latency_us),
	  .metavar = "N", .help = "duration of the last check in microseconds" },
	{ CP_F_REASON, "reason", "reason", .kind = CP_KIND_TEXT, .flags = CP_FF_SPACES,
	  .ops = OPS_REPORT | OPS_OVERRIDE, AT(reason), .metavar = "TEXT",
	  .help = "why, for logs and backend list (printable ASCII)" },
	{ CP_F_FOR, "for_s", "for", .kind = CP_KIND_DURATION, .unit = CP_UNIT_S, .min = 0,
	  .max = CP_HEALTH_MAX_FOR_S, .def = 0, .ops = OPS_OVERRIDE, AT(for_s), .metavar = "DUR",
	  .help = "the override ends by itself after DUR and healthd's view holds again; "
		  "0: until `health clear`" },
	{ CP_F_PATH, "path", NULL, .kind = CP_KIND_TEXT, .flags = CP_FF_SPACES | CP_FF_SLASH,
	  .ops = CP_OPM(CP_OP_APPLY) | CP_OPM(CP_OP_DIFF), AT(path), .metavar = "FILE" },
	{ CP_F_DRY_RUN, "dry_run", "dry-run", .kind = CP_KIND_BOOL, .min = 0, .max = 1, .def = 0,
	  .ops = OPS_APPLY, AT(dry_run),
	  .help = "validate the file and print what would change; change nothing" },
	{ CP_F_FORCE, "force", "force", .kind = CP_KIND_BOOL, .min = 0, .max = 1, .def = 0,
	  .ops = OPS_APPLY, AT(force),
	  .help = "apply even if it undoes changes made at runtime since the last apply or "
		  "reload, or removes every VIP or interface (those are refused otherwise, "
		  "with the list)" },
};

const size_t cp_n_fields = sizeof(cp_fields) / sizeof(cp_fields[0]);

const struct cp_field *cp_field_of(__u64 bit)
{
	for (size_t i = 0; i < cp_n_fields; i++)
		if (cp_fields[i].bit == bit)
			return &cp_fields[i];
	return NULL;
}

static int name_is(const char *known, const char *name, size_t len)
{
	return known && strlen(known) == len && !strncmp(known, name, len);
}

const struct cp_field *cp_field_by_api(const char *name, size_t len)
{
	for (size_t i = 0; i < cp_n_fields; i++)
		if (name_is(cp_fields[i].api, name, len))
			return &cp_fields[i];
	return NULL;
}

const struct cp_field *cp_field_by_cli(const char *name, size_t len)
{
	for (size_t i = 0; i < cp_n_fields; i++)
		if (name_is(cp_fields[i].cli, name, len) || name_is(cp_fields[i].cli_off, name, len))
			return &cp_fields[i];
	return NULL;
}

const char *cp_unit_name(enum cp_unit u)
{
	switch (u) {
	case CP_UNIT_US: return "us";
	case CP_UNIT_MS: return "ms";
	case CP_UNIT_S: return "s";
	case CP_UNIT_NONE: break;
	}
	return "";
}

int cp_op_fields(enum cp_op op, struct cp_op_fields *out)
{
	const struct cp_op_def *d = cp_op_def(op);

	if (!d)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < cp_n_fields; i++)
		if (cp_fields[i].ops & CP_OPM(op))
			out->allowed |= cp_fields[i].bit;
	for (int i = 0; i < d->n_required; i++)
		out->required |= d->pos[i];
	out->one_of = d->set ? out->allowed & ~out->required : 0;
	return 0;
}

/* --- Members ------------------------------------------------------------- */

static void *member(struct cp_request *r, const struct cp_field *f)
{
	return (char *)r + f->off;
}

static const void *cmember(const struct cp_request *r, const struct cp_field *f)
{
	return (const char *)r + f->off;
}

/* Numbers are stored in members of 1, 2 or 4 bytes (enums are 4). */
static void store(struct cp_request *r, const struct cp_field *f, __u64 v)
{
	void *p = member(r, f);

	switch (f->size) {
	case 1: *(__u8 *)p = (__u8)v; break;
	case 2: *(__u16 *)p = (__u16)v; break;
	default: *(__u32 *)p = (__u32)v; break;
	}
}

static __u64 load(const struct cp_request *r, const struct cp_field *f)
{
	const void *p = cmember(r, f);

	switch (f->size) {
	case 1: return *(const __u8 *)p;
	case 2: return *(const __u16 *)p;
	default: return *(const __u32 *)p;
	}
}

static int is_numeric(const struct cp_field *f)
{
	return f->kind == CP_KIND_NUM || f->kind == CP_KIND_DURATION || f->kind == CP_KIND_BOOL;
}

/* Every field at its default, op 0: copied by every init (a big config
 * file makes hundreds of thousands of requests). */
static struct cp_request defaults;
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

static void defaults_make(void)
{
	/* memset, not an initialiser: requests are compared with memcmp,
	 * so padding and the tails of strings must be zero too. */
	memset(&defaults, 0, sizeof(defaults));
	for (size_t i = 0; i < cp_n_fields; i++)
		if (is_numeric(&cp_fields[i]) || cp_fields[i].kind == CP_KIND_WORD)
			store(&defaults, &cp_fields[i], (__u64)cp_fields[i].def);
}

static const struct cp_request *request_defaults(void)
{
	pthread_once(&defaults_once, defaults_make);
	return &defaults;
}

void cp_request_init(struct cp_request *r, enum cp_op op)
{
	memcpy(r, request_defaults(), sizeof(*r));
	r->op = op;
}

__u64 cp_request_nondefault(const struct cp_request *r)
{
	const struct cp_request *d = request_defaults();
	__u64 f = 0;

	for (size_t i = 0; i < cp_n_fields; i++) {
		const struct cp_field *x = &cp_fields[i];
		size_t off = x->family_off ? x->family_off : x->off;
		size_t size = x->family_off ? 1 : x->size;

		if (memcmp((const char *)r + off, (const char *)d + off, size))
			f |= x->bit;
	}
	return f;
}

/* --- Numbers ------------------------------------------------------------- */

int cp_request_set_num(struct cp_request *r, __u64 bit, long long v, const char *name,
		       struct cp_error *e)
{
	const struct cp_field *f = cp_field_of(bit);
	const char *u;

	name = name ? name : f ? f->api : "?";
	if (!f || !is_numeric(f))
		return cp_error_set(e, -EINVAL, name, "'%s' is not a numeric field", name);
	u = f->kind == CP_KIND_DURATION ? cp_unit_name(f->unit) : "";
	if (v < f->min || v > f->max)
		return cp_error_set(e, -EINVAL, name, "%s %lld%s out of range (%lld%s..%lld%s)", name,
				    v, u, f->min, u, f->max, u);
	store(r, f, (__u64)v);
	r->fields |= bit;
	return 0;
}

__u64 cp_request_get_num(const struct cp_request *r, __u64 bit)
{
	const struct cp_field *f = cp_field_of(bit);

	return f && is_numeric(f) ? load(r, f) : 0;
}

/* --- Text ---------------------------------------------------------------- */

static const char *word_list(const struct cp_field *f, char *buf, size_t len)
{
	int n = 0, left = 0;

	for (int i = 0; i < f->n_words; i++)
		left += f->words[i] != NULL;
	buf[0] = '\0';
	for (int i = 0; i < f->n_words; i++) {
		if (!f->words[i])
			continue;
		n++;
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			 n == 1 ? "" : n == left ? " or " : ", ", f->words[i]);
	}
	return buf;
}

static int set_word(struct cp_request *r, const struct cp_field *f, const char *s,
		    const char *name, struct cp_error *e)
{
	char list[64];

	for (int i = 0; i < f->n_words; i++) {
		if (f->words[i] && !strcmp(s, f->words[i])) {
			store(r, f, (__u64)i);
			return 0;
		}
	}
	return cp_error_set(e, -EINVAL, name, "unknown %s '%.32s' (%s)", name, s,
			    word_list(f, list, sizeof(list)));
}

/* Printable ASCII only: the values end up in HTTP request lines,
 * config-file lines and JSON, and one rule that suits all three beats
 * an escaping scheme per carrier. */
static int text_check(const struct cp_field *f, const char *s, const char *name,
		      struct cp_error *e)
{
	size_t len = strlen(s), i;
	int spaces = f->flags & CP_FF_SPACES;

	if (len >= f->size)
		return cp_error_set(e, -EINVAL, name, "%s is %zu bytes long; at most %zu allowed",
				    name, len, f->size - 1);
	if ((f->flags & CP_FF_SLASH) && s[0] != '/')
		return cp_error_set(e, -EINVAL, name, "%s '%.48s' must start with '/'", name, s);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x7e || c < 0x20 || (c == ' ' && !spaces))
			return cp_error_set(e, -EINVAL, name,
					    "%s: byte 0x%02x at offset %zu not allowed (printable ASCII%s)",
					    name, c, i, spaces ? "" : ", no spaces");
	}
	return 0;
}

static int set_free_text(struct cp_request *r, const struct cp_field *f, const char *s,
			 const char *name, struct cp_error *e)
{
	int err = text_check(f, s, name, e);

	if (err)
		return err;
	memset(member(r, f), 0, f->size);
	memcpy(member(r, f), s, strlen(s));
	return 0;
}

/* Linux's dev_valid_name(), restricted to printable ASCII: the name also
 * becomes a directory under /sys/fs/bpf/sluice/, so '/' and ".." must
 * never get through. */
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

/* An address member holds 4 bytes (an IPv4-only field) or an lb_addr. */
static int set_addr(struct cp_request *r, const struct cp_field *f, const char *s,
		    const char *name, struct cp_error *e)
{
	struct lb_addr a;
	__u8 fam;

	if (cp_parse_addr(s, &a, &fam))
		return cp_error_set(e, -EINVAL, name, "bad address '%.48s'", s);
	if ((f->flags & CP_FF_V4) && fam != LB_FAMILY_V4)
		return cp_error_set(e, -EINVAL, name, "'%.48s' is not an IPv4 address", s);
	if ((f->flags & CP_FF_V6) && fam != LB_FAMILY_V6)
		return cp_error_set(e, -EINVAL, name, "'%.48s' is not an IPv6 address", s);
	memcpy(member(r, f), &a, f->size);
	if (f->family_off)
		*((__u8 *)r + f->family_off) = fam;
	return 0;
}

/* Stored in canonical form, so that equal settings compare equal. */
static int set_endpoint(struct cp_request *r, const struct cp_field *f, const char *s,
			const char *name, struct cp_error *e)
{
	struct lb_addr a;
	char why[128];
	__u16 port;
	__u8 fam;

	if (cp_parse_endpoint(s, 0, &a, &fam, &port, why, sizeof(why)))
		return cp_error_set(e, -EINVAL, name, "'%.64s': %s (ADDR:PORT or [ADDR6]:PORT)", s,
				    why);
	memset(member(r, f), 0, f->size);
	if (!cp_format_endpoint(&a, fam, port, member(r, f), f->size))
		return cp_error_set(e, -EINVAL, name, "'%.64s' does not fit", s);
	return 0;
}

static int set_text_field(struct cp_request *r, const struct cp_field *f, const char *s,
			  const char *name, struct cp_error *e)
{
	int err;

	switch (f->kind) {
	case CP_KIND_VIP:
		err = cp_parse_vip(s, member(r, f), e);
		if (err && e)	/* cp_parse_vip says "vip"; report the caller's name */
			snprintf(e->field, sizeof(e->field), "%s", name);
		return err;
	case CP_KIND_ADDR:
		return set_addr(r, f, s, name, e);
	case CP_KIND_ENDPOINT:
		return set_endpoint(r, f, s, name, e);
	case CP_KIND_IFNAMES:
		return add_interface(r, s, name, e);
	case CP_KIND_WORD:
		return set_word(r, f, s, name, e);
	case CP_KIND_TEXT:
		return set_free_text(r, f, s, name, e);
	default:
		return cp_error_set(e, -EINVAL, name, "'%s' is not a text field", name);
	}
}

/* Writes into a copy and commits only on success, so a refused value
 * leaves r as it was (the helpers may have written part of it). */
int cp_request_set_text(struct cp_request *r, __u64 bit, const char *s, const char *name,
			struct cp_error *e)
{
	const struct cp_field *f = cp_field_of(bit);
	struct cp_request tmp = *r;
	int err;

	name = name ? name : f ? f->api : "?";
	if (!f || is_numeric(f))
		return cp_error_set(e, -EINVAL, name, "'%s' is not a text field", name);
	if (!s)
		return cp_error_set(e, -EINVAL, name, "%s: missing value", name);
	err = set_text_field(&tmp, f, s, name, e);
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

/* The text of a field whose member is a string, if it is still one the
 * setter would take (a model may have filled the request by hand):
 * read back through the setter. */
static int get_string(const struct cp_request *r, const struct cp_field *f, char *buf,
		      size_t len)
{
	const char *s = cmember(r, f);
	struct cp_request chk;

	if (strnlen(s, f->size) >= f->size)
		return -EINVAL;
	cp_request_init(&chk, r->op);
	if (set_text_field(&chk, f, s, "", NULL))
		return -EINVAL;
	return put(buf, len, cmember(&chk, f));
}

int cp_request_get_text(const struct cp_request *r, __u64 bit, char *buf, size_t len)
{
	const struct cp_field *f = cp_field_of(bit);
	char tmp[80];
	__u64 v;

	if (!f)
		return -EINVAL;
	switch (f->kind) {
	case CP_KIND_VIP:
		if (r->vip.proto != IPPROTO_TCP && r->vip.proto != IPPROTO_UDP)
			return -EINVAL;
		return put(buf, len, cp_format_vip(&r->vip, tmp, sizeof(tmp)));
	case CP_KIND_ADDR: {
		struct lb_addr a = { 0 };
		__u8 fam = f->family_off ? *((const __u8 *)r + f->family_off) :
			   f->flags & CP_FF_V4 ? LB_FAMILY_V4 : LB_FAMILY_V6;

		memcpy(&a, cmember(r, f), f->size);
		return put(buf, len, cp_format_addr(&a, fam, tmp, sizeof(tmp)));
	}
	case CP_KIND_WORD:
		v = load(r, f);
		return put(buf, len, v < (__u64)f->n_words ? f->words[v] : NULL);
	case CP_KIND_ENDPOINT:
	case CP_KIND_TEXT:
		return get_string(r, f, buf, len);
	default:
		return -EINVAL;
	}
}

/* --- Requests built by hand ---------------------------------------------- */

static int interfaces_ok(const struct cp_request *r, const struct cp_field *f,
			 struct cp_error *e)
{
	struct cp_request chk;
	int err = 0;

	if (r->n_interfaces > CP_MAX_INTERFACES)
		return cp_error_set(e, -EINVAL, f->api, "more than %d interfaces",
				    CP_MAX_INTERFACES);
	cp_request_init(&chk, r->op);
	for (int i = 0; i < r->n_interfaces && !err; i++) {
		if (strnlen(r->interfaces[i], IF_NAMESIZE) >= IF_NAMESIZE)
			return cp_error_set(e, -EINVAL, f->api,
					    "interface name '%.16s' is longer than %d bytes",
					    r->interfaces[i], IF_NAMESIZE - 1);
		err = add_interface(&chk, r->interfaces[i], f->api, e);
	}
	return err;
}

/* Every value is read back through its own setter: a request is valid
 * exactly when a parser could have produced it. */
static int value_ok(const struct cp_request *r, const struct cp_field *f, struct cp_error *e)
{
	char buf[CP_CHECK_PATH_MAX + 16], list[64];
	const char *s = cmember(r, f);
	struct cp_request chk;
	__u64 v;
	int err;

	cp_request_init(&chk, r->op);
	switch (f->kind) {
	case CP_KIND_NUM:
	case CP_KIND_DURATION:
	case CP_KIND_BOOL:
		return cp_request_set_num(&chk, f->bit, (long long)load(r, f), f->api, e);
	case CP_KIND_IFNAMES:
		return interfaces_ok(r, f, e);
	case CP_KIND_WORD:
		v = load(r, f);
		if (v < (__u64)f->n_words && f->words[v])
			return 0;
		return cp_error_set(e, -EINVAL, f->api, "%s must be %s", f->api,
				    word_list(f, list, sizeof(list)));
	case CP_KIND_TEXT:
	case CP_KIND_ENDPOINT:
		if (strnlen(s, f->size) >= f->size)
			return cp_error_set(e, -EINVAL, f->api, "%s is longer than %zu bytes",
					    f->api, f->size - 1);
		if (!s[0])
			return 0;	/* none given; model_check.c says where one is needed */
		return cp_request_set_text(&chk, f->bit, s, f->api, e);
	default:
		err = cp_request_get_text(r, f->bit, buf, sizeof(buf));
		if (err)
			return cp_error_set(e, err, f->api, "not a valid %s", f->api);
		return cp_request_set_text(&chk, f->bit, buf, f->api, e);
	}
}

int cp_request_check_values(const struct cp_request *r, __u64 bits, struct cp_error *e)
{
	for (size_t i = 0; i < cp_n_fields; i++) {
		int err;

		if (!(bits & cp_fields[i].bit))
			continue;
		err = value_ok(r, &cp_fields[i], e);
		if (err)
			return err;
	}
	return 0;
}

const char *cp_check_type_name(enum cp_check_type t)
{
	const struct cp_field *f = cp_field_of(CP_F_CHECK_TYPE);

	return (unsigned)t < (unsigned)f->n_words ? f->words[t] : NULL;
}

const char *cp_health_name(enum cp_health h)
{
	const struct cp_field *f = cp_field_of(CP_F_HEALTH);

	return (unsigned)h < (unsigned)f->n_words ? f->words[h] : NULL;
}

/* --- VIP settings and health checks ------------------------------------ */

/* A settings row's member, as an offset into struct cp_vip_spec. */
static int is_spec(const struct cp_field *f)
{
	return f->off >= offsetof(struct cp_request, spec) &&
	       f->off < offsetof(struct cp_request, spec) + sizeof(struct cp_vip_spec);
}

static size_t spec_off(const struct cp_field *f)
{
	return f->off - offsetof(struct cp_request, spec);
}

__u64 cp_spec_fields(void)
{
	__u64 bits = 0;

	for (size_t i = 0; i < cp_n_fields; i++)
		if (is_spec(&cp_fields[i]))
			bits |= cp_fields[i].bit;
	return bits;
}

__u64 cp_check_fields(enum cp_check_type t)
{
	__u64 bits = 0;

	if ((unsigned)t > CP_CHECK_UDP)
		return CP_F_CHECK_TYPE;
	for (size_t i = 0; i < cp_n_fields; i++)
		if (cp_fields[i].checks & CK(t))
			bits |= cp_fields[i].bit;
	return bits;
}

__u64 cp_check_fields_all(void)
{
	__u64 bits = 0;

	for (size_t i = 0; i < cp_n_fields; i++)
		if (cp_fields[i].checks)
			bits |= cp_fields[i].bit;
	return bits;
}

void cp_spec_copy(struct cp_vip_spec *dst, const struct cp_vip_spec *src, __u64 bits)
{
	for (size_t i = 0; i < cp_n_fields; i++) {
		const struct cp_field *f = &cp_fields[i];
		char *d = (char *)dst + spec_off(f);
		const char *s = (const char *)src + spec_off(f);

		if (!is_spec(f) || !(bits & f->bit))
			continue;
		if (f->kind != CP_KIND_TEXT) {
			memcpy(d, s, f->size);
			continue;
		}
		memset(d, 0, f->size);
		memcpy(d, s, strnlen(s, f->size - 1));
	}
}

__u64 cp_spec_diff(const struct cp_vip_spec *a, const struct cp_vip_spec *b)
{
	__u64 diff = 0;

	for (size_t i = 0; i < cp_n_fields; i++) {
		const struct cp_field *f = &cp_fields[i];
		const char *x = (const char *)a + spec_off(f), *y = (const char *)b + spec_off(f);

		if (!is_spec(f))
			continue;
		if (f->kind == CP_KIND_TEXT ? strncmp(x, y, f->size) : memcmp(x, y, f->size))
			diff |= f->bit;
	}
	return diff;
}

void cp_spec_canonical(struct cp_vip_spec *s)
{
	struct cp_request d;

	cp_request_init(&d, CP_OP_VIP_ADD);
	cp_spec_copy(s, &d.spec, cp_check_fields_all() & ~cp_check_fields(s->check.type));
}
