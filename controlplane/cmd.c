/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd.c - the sluicectl command language (cmd.h): argv -> request,
 * request -> one config line, line -> words, and the usage texts.
 *
 * Two tables drive everything: opts[] (every long option, in the order
 * cp_cmd_format writes them) and cmds[] (every command: its words, its
 * positionals and the options it takes). Values are checked by request.c's
 * setters, the same ones the JSON decoder uses.
 *
 * No state; every function may be called from any thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* --- Tables ------------------------------------------------------------ */

enum opt_kind {
	K_TEXT,		/* cp_request_set_text */
	K_NUM,		/* whole number */
	K_DUR,		/* duration, stored in ms */
	K_SEC,		/* duration, stored in whole seconds; a plain number is seconds */
	K_FLAG,		/* no value: stores .flag */
};

struct opt {
	const char *name;	/* without "--" */
	enum opt_kind kind;
	__u32 bit;
	__u8 flag;
};

enum {
	O_VIP, O_AFFINITY, O_RING, O_CHECK, O_CHECK_PORT, O_CHECK_PATH, O_CHECK_HOST,
	O_CHECK_STATUS, O_CHECK_INTERVAL, O_CHECK_TIMEOUT, O_CHECK_RISE, O_CHECK_FALL,
	O_CHECK_PAYLOAD, O_WEIGHT, O_DRAIN, O_UNDRAIN, O_INTERFACE, O_ENCAP4, O_ENCAP6,
	O_METRICS, O_FLOW_TTL_TCP, O_FLOW_TTL_UDP, O_LATENCY, O_REASON, O_MAX,
};

/* Table order is the canonical order of cp_cmd_format. */
static const struct opt opts[O_MAX] = {
	[O_VIP] = { "vip", K_TEXT, CP_F_VIP, 0 },
	[O_AFFINITY] = { "affinity", K_TEXT, CP_F_AFFINITY, 0 },
	[O_RING] = { "ring", K_NUM, CP_F_RING, 0 },
	[O_CHECK] = { "check", K_TEXT, CP_F_CHECK_TYPE, 0 },
	[O_CHECK_PORT] = { "check-port", K_NUM, CP_F_CHECK_PORT, 0 },
	[O_CHECK_PATH] = { "check-path", K_TEXT, CP_F_CHECK_PATH, 0 },
	[O_CHECK_HOST] = { "check-host", K_TEXT, CP_F_CHECK_HOST, 0 },
	[O_CHECK_STATUS] = { "check-status", K_NUM, CP_F_CHECK_STATUS, 0 },
	[O_CHECK_INTERVAL] = { "check-interval", K_DUR, CP_F_CHECK_INTERVAL, 0 },
	[O_CHECK_TIMEOUT] = { "check-timeout", K_DUR, CP_F_CHECK_TIMEOUT, 0 },
	[O_CHECK_RISE] = { "check-rise", K_NUM, CP_F_CHECK_RISE, 0 },
	[O_CHECK_FALL] = { "check-fall", K_NUM, CP_F_CHECK_FALL, 0 },
	[O_CHECK_PAYLOAD] = { "check-payload", K_TEXT, CP_F_CHECK_PAYLOAD, 0 },
	[O_WEIGHT] = { "weight", K_NUM, CP_F_WEIGHT, 0 },
	[O_DRAIN] = { "drain", K_FLAG, CP_F_DRAIN, 1 },
	[O_UNDRAIN] = { "undrain", K_FLAG, CP_F_DRAIN, 0 },
	[O_INTERFACE] = { "interface", K_TEXT, CP_F_INTERFACES, 0 },
	[O_ENCAP4] = { "encap-source", K_TEXT, CP_F_ENCAP4, 0 },
	[O_ENCAP6] = { "encap-source6", K_TEXT, CP_F_ENCAP6, 0 },
	[O_METRICS] = { "metrics", K_TEXT, CP_F_METRICS, 0 },
	[O_FLOW_TTL_TCP] = { "flow-ttl-tcp", K_SEC, CP_F_FLOW_TTL_TCP, 0 },
	[O_FLOW_TTL_UDP] = { "flow-ttl-udp", K_SEC, CP_F_FLOW_TTL_UDP, 0 },
	[O_LATENCY] = { "latency-us", K_NUM, CP_F_LATENCY, 0 },
	[O_REASON] = { "reason", K_TEXT, CP_F_REASON, 0 },
};

#define OPT(o) (1u << (o))
#define VIP_OPTS (OPT(O_AFFINITY) | OPT(O_RING) | OPT(O_CHECK) | OPT(O_CHECK_PORT) |	\
		  OPT(O_CHECK_PATH) | OPT(O_CHECK_HOST) | OPT(O_CHECK_STATUS) |		\
		  OPT(O_CHECK_INTERVAL) | OPT(O_CHECK_TIMEOUT) | OPT(O_CHECK_RISE) |	\
		  OPT(O_CHECK_FALL) | OPT(O_CHECK_PAYLOAD))
#define NODE_OPTS (OPT(O_INTERFACE) | OPT(O_ENCAP4) | OPT(O_ENCAP6) | OPT(O_METRICS) |	\
		   OPT(O_FLOW_TTL_TCP) | OPT(O_FLOW_TTL_UDP))

#define MAX_POS 3

struct cmd {
	const char *group;
	const char *verb;	/* NULL: the group word is the whole command */
	enum cp_op op;
	__u32 pos[MAX_POS];	/* positional fields in order; 0 ends */
	int n_required;		/* how many leading positionals must be given */
	__u32 opts;		/* OPT() mask */
};

static const struct cmd cmds[] = {
	{ "vip", "add", CP_OP_VIP_ADD, { CP_F_VIP }, 1, VIP_OPTS },
	{ "vip", "set", CP_OP_VIP_SET, { CP_F_VIP }, 1, VIP_OPTS },
	{ "vip", "del", CP_OP_VIP_DEL, { CP_F_VIP }, 1, 0 },
	{ "vip", "list", CP_OP_VIP_LIST, { CP_F_VIP }, 0, 0 },
	{ "backend", "add", CP_OP_BACKEND_ADD, { CP_F_VIP, CP_F_BACKEND }, 2,
	  OPT(O_WEIGHT) | OPT(O_DRAIN) },
	{ "backend", "set", CP_OP_BACKEND_SET, { CP_F_VIP, CP_F_BACKEND }, 2,
	  OPT(O_WEIGHT) | OPT(O_DRAIN) | OPT(O_UNDRAIN) },
	{ "backend", "del", CP_OP_BACKEND_DEL, { CP_F_VIP, CP_F_BACKEND }, 2, 0 },
	{ "backend", "list", CP_OP_BACKEND_LIST, { CP_F_VIP }, 0, 0 },
	{ "node", "set", CP_OP_NODE_SET, { 0 }, 0, NODE_OPTS },
	{ "health", "report", CP_OP_HEALTH_REPORT, { CP_F_VIP, CP_F_BACKEND, CP_F_HEALTH }, 3,
	  OPT(O_LATENCY) | OPT(O_REASON) },
	{ "health", "targets", CP_OP_HEALTH_TARGETS, { 0 }, 0, 0 },
	{ "stats", NULL, CP_OP_STATS, { 0 }, 0, OPT(O_VIP) },
	{ "flows", NULL, CP_OP_FLOWS, { CP_F_VIP }, 1, 0 },
	{ "ring", "digest", CP_OP_RING_DIGEST, { CP_F_VIP }, 1, 0 },
	{ "save", NULL, CP_OP_SAVE, { 0 }, 0, 0 },
	{ "status", NULL, CP_OP_STATUS, { 0 }, 0, 0 },
	{ "detach", NULL, CP_OP_DETACH, { 0 }, 0, OPT(O_INTERFACE) },
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))
#define GROUPS "vip, backend, node, health, stats, flows, ring, save, status, detach"

/* Name used in messages: "backend add", "stats". */
static const char *cmd_name(const struct cmd *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->group, c->verb ? " " : "", c->verb ? c->verb : "");
	return buf;
}

static const char *pos_name(__u32 bit)
{
	return bit == CP_F_VIP ? "vip" : bit == CP_F_BACKEND ? "backend" : "health";
}

static const char *pos_what(__u32 bit)
{
	return bit == CP_F_VIP ? "a VIP (ADDR:PORT/PROTO)" :
	       bit == CP_F_BACKEND ? "a backend address" : "a health state (up or down)";
}

/* --- Suggestions ------------------------------------------------------- */

/* Levenshtein distance, for "did you mean"; words over 31 bytes are
 * never close to anything we know. */
static unsigned int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	unsigned int row[32], diag, up;

	if (la > 31 || lb > 31)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned int)j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = (unsigned int)i;
		for (j = 1; j <= lb; j++) {
			unsigned int best = diag + (a[i - 1] != b[j - 1]);

			up = row[j];
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* Writes "; did you mean 'PREFIXbest'?" into buf if a candidate is within
 * two edits, else "". */
static const char *suggest(const char *w, const char *const *cands, size_t n,
			   const char *prefix, char *buf, size_t len)
{
	unsigned int best = 3, d;
	const char *hit = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!cands[i])
			continue;
		d = distance(w, cands[i]);
		if (d < best) {
			best = d;
			hit = cands[i];
		}
	}
	if (hit)
		snprintf(buf, len, "; did you mean '%s%s'?", prefix, hit);
	else
		buf[0] = '\0';
	return buf;
}

/* --- Finding the command ----------------------------------------------- */

static int group_exists(const char *w)
{
	size_t i;

	for (i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i].group, w))
			return 1;
	return 0;
}

static int unknown_group(const char *w, struct cp_error *e)
{
	const char *names[N_CMDS];
	char hint[64];
	size_t i;

	for (i = 0; i < N_CMDS; i++)
		names[i] = cmds[i].group;
	suggest(w, names, N_CMDS, "", hint, sizeof(hint));
	return cp_error_set(e, -EINVAL, w, "unknown command '%.32s'%s; commands: " GROUPS, w, hint);
}

static int unknown_verb(const char *group, const char *w, struct cp_error *e)
{
	const char *names[N_CMDS] = { NULL };
	char verbs[64] = "", hint[64];
	size_t i;

	for (i = 0; i < N_CMDS; i++) {
		if (strcmp(cmds[i].group, group))
			continue;
		names[i] = cmds[i].verb;
		snprintf(verbs + strlen(verbs), sizeof(verbs) - strlen(verbs), "%s%s",
			 verbs[0] ? ", " : "", cmds[i].verb);
	}
	if (!w)
		return cp_error_set(e, -EINVAL, group, "'%s' needs a subcommand: %s", group, verbs);
	suggest(w, names, N_CMDS, "", hint, sizeof(hint));
	return cp_error_set(e, -EINVAL, w, "unknown command '%s %.32s'%s; '%s' takes %s", group, w,
			    hint, group, verbs);
}

/* The command argv starts with, *used = how many words named it; or
 * NULL with e set. */
static const struct cmd *find_cmd(int argc, char **argv, int *used, struct cp_error *e)
{
	size_t i;

	if (argc < 1 || !argv[0]) {
		cp_error_set(e, -EINVAL, "command", "no command given; commands: " GROUPS);
		return NULL;
	}
	if (!group_exists(argv[0])) {
		unknown_group(argv[0], e);
		return NULL;
	}
	for (i = 0; i < N_CMDS; i++) {
		if (strcmp(cmds[i].group, argv[0]))
			continue;
		*used = cmds[i].verb ? 2 : 1;
		if (!cmds[i].verb || (argc > 1 && argv[1] && !strcmp(cmds[i].verb, argv[1])))
			return &cmds[i];
	}
	unknown_verb(argv[0], argc > 1 ? argv[1] : NULL, e);
	return NULL;
}

/* --- Values ------------------------------------------------------------ */

/* Whole number, optional '-' (so "-1" is reported as out of range, not
 * as gibberish). Saturates far beyond any field's range. */
static int parse_int(const char *s, long long *v)
{
	int neg = *s == '-';
	long long x = 0;

	s += neg;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (x < 1000000000000000LL)
			x = x * 10 + (*s - '0');
	}
	*v = neg ? -x : x;
	return 0;
}

static long long unit_ms(const char *u)
{
	if (!*u || !strcmp(u, "ms"))
		return 1;
	if (!strcmp(u, "s"))
		return 1000;
	if (!strcmp(u, "m"))
		return 60000;
	if (!strcmp(u, "h"))
		return 3600000;
	return 0;
}

/* "2s", "500ms", "1.5s", "1m", "1h"; a plain number is ms. The integer
 * part saturates at 10^12, far past any range (the range check reports
 * it) and small enough that 10^12 h in ms still fits a long long. */
static int parse_duration(const char *s, const char *name, long long *ms, struct cp_error *e)
{
	long long ip = 0, fp = 0, scale = 1, mult;
	const char *p = s;

	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		ip = ip * 10 + (*p - '0');
		if (ip > 1000000000000LL)
			ip = 1000000000000LL;
	}
	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			goto bad;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale < 1000000000LL) {
				fp = fp * 10 + (*p - '0');
				scale *= 10;
			} else if (*p != '0') {
				goto frac;
			}
		}
	}
	mult = unit_ms(p);
	if (!mult)
		goto bad;
	if (fp * mult % scale)
		goto frac;
	*ms = ip * mult + fp * mult / scale;
	return 0;
bad:
	return cp_error_set(e, -EINVAL, name,
			    "bad %s '%.32s': expected a duration such as 2s, 500ms or 1.5s", name, s);
frac:
	return cp_error_set(e, -EINVAL, name, "bad %s '%.32s': not a whole number of milliseconds",
			    name, s);
}

static int set_value(const struct opt *o, const char *val, struct cp_request *r,
		     struct cp_error *e)
{
	long long v = 0;
	int err;

	switch (o->kind) {
	case K_TEXT:
		return cp_request_set_text(r, o->bit, val, o->name, e);
	case K_NUM:
		if (parse_int(val, &v))
			return cp_error_set(e, -EINVAL, o->name,
					    "bad %s '%.32s': expected a whole number", o->name, val);
		return cp_request_set_num(r, o->bit, v, o->name, e);
	case K_DUR:
		err = parse_duration(val, o->name, &v, e);
		return err ? err : cp_request_set_num(r, o->bit, v, o->name, e);
	case K_SEC:
		if (parse_int(val, &v)) {
			if (parse_duration(val, o->name, &v, NULL))
				return cp_error_set(e, -EINVAL, o->name,
						    "bad %s '%.32s': expected seconds or a duration such as 900s, 15m or 1h",
						    o->name, val);
			if (v % 1000)
				return cp_error_set(e, -EINVAL, o->name,
						    "bad %s '%.32s': not a whole number of seconds",
						    o->name, val);
			v /= 1000;
		}
		return cp_request_set_num(r, o->bit, v, o->name, e);
	case K_FLAG:
		return cp_request_set_num(r, o->bit, o->flag, o->name, e);
	}
	return -EINVAL;
}

/* --- Options and positionals ------------------------------------------- */

static int find_opt(const char *name, size_t len)
{
	int i;

	for (i = 0; i < O_MAX; i++)
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
			return i;
	return -1;
}

static int bad_option(const struct cmd *c, const char *w, size_t wlen, int known,
		      struct cp_error *e)
{
	const char *names[O_MAX] = { NULL };
	char field[32], cname[24], hint[64] = "";
	int i;

	snprintf(field, sizeof(field), "%.*s", (int)wlen, w);
	cmd_name(c, cname, sizeof(cname));
	if (known)
		return cp_error_set(e, -EINVAL, field,
				    "option '%s' does not apply to '%s'; see 'sluicectl %s --help'",
				    field, cname, c->group);
	for (i = 0; i < O_MAX; i++)
		if (c->opts & OPT(i))
			names[i] = opts[i].name;
	if (wlen > 2 && w[1] == '-' && wlen - 2 < sizeof(field)) {
		char bare[32];

		snprintf(bare, sizeof(bare), "%.*s", (int)(wlen - 2), w + 2);
		suggest(bare, names, O_MAX, "--", hint, sizeof(hint));
	}
	return cp_error_set(e, -EINVAL, field, "unknown option '%s' for '%s'%s; see 'sluicectl %s --help'",
			    field, cname, hint, c->group);
}

/* Refuses an option given twice, and --drain with --undrain. */
static int check_repeat(int id, __u32 seen, struct cp_error *e)
{
	int i;

	if (id == O_INTERFACE)
		return 0;	/* repeats by design; add_interface refuses duplicates */
	if (seen & OPT(id))
		return cp_error_set(e, -EINVAL, opts[id].name, "option '--%s' given twice",
				    opts[id].name);
	for (i = 0; i < O_MAX; i++)
		if ((seen & OPT(i)) && opts[i].bit == opts[id].bit)
			return cp_error_set(e, -EINVAL, opts[id].name,
					    "option '--%s' conflicts with '--%s'", opts[id].name,
					    opts[i].name);
	return 0;
}

/* argv[*i] is an option; consumes its value too. */
static int parse_opt(const struct cmd *c, int argc, char **argv, int *i, __u32 *seen,
		     struct cp_request *r, struct cp_error *e)
{
	const char *w = argv[*i], *eq = strchr(w, '='), *val;
	size_t wlen = eq ? (size_t)(eq - w) : strlen(w);
	int id = w[1] == '-' ? find_opt(w + 2, wlen - 2) : -1, err;
	const struct opt *o;

	if (id < 0 || !(c->opts & OPT(id)))
		return bad_option(c, w, wlen, id >= 0, e);
	o = &opts[id];
	err = check_repeat(id, *seen, e);
	if (err)
		return err;
	*seen |= OPT(id);
	if (o->kind == K_FLAG) {
		if (eq)
			return cp_error_set(e, -EINVAL, o->name, "option '--%s' takes no value",
					    o->name);
		return set_value(o, NULL, r, e);
	}
	if (eq) {
		val = eq + 1;
	} else if (*i + 1 < argc && argv[*i + 1] && strncmp(argv[*i + 1], "--", 2)) {
		val = argv[++*i];
	} else {
		return cp_error_set(e, -EINVAL, o->name,
				    "option '--%s' needs a value (write --%s=VALUE for one starting with --)",
				    o->name, o->name);
	}
	return set_value(o, val, r, e);
}

static int parse_pos(const struct cmd *c, const char *w, int idx, struct cp_request *r,
		     struct cp_error *e)
{
	char cname[24];

	if (idx >= MAX_POS || !c->pos[idx])
		return cp_error_set(e, -EINVAL, w, "unexpected argument '%.48s' for '%s'; see 'sluicectl %s --help'",
				    w, cmd_name(c, cname, sizeof(cname)), c->group);
	return cp_request_set_text(r, c->pos[idx], w, pos_name(c->pos[idx]), e);
}

/* A SET with nothing to change is a mistake, not a no-op: say so. */
static int check_one_of(const struct cmd *c, const struct cp_request *r, struct cp_error *e)
{
	const struct cp_op_fields *f = cp_op_fields(c->op);
	char cname[24], list[128] = "";
	int i, n = 0;

	if (!f->one_of || (r->fields & f->one_of))
		return 0;
	cmd_name(c, cname, sizeof(cname));
	for (i = 0; i < O_MAX; i++)
		n += !!(c->opts & OPT(i));
	if (n > 6)
		return cp_error_set(e, -EINVAL, cname,
				    "'%s' changes nothing: give at least one option; see 'sluicectl %s --help'",
				    cname, c->group);
	for (i = 0; i < O_MAX; i++)
		if (c->opts & OPT(i))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s--%s",
				 list[0] ? (--n == 1 ? " or " : ", ") : "", opts[i].name);
	return cp_error_set(e, -EINVAL, cname, "'%s' changes nothing: give %s", cname, list);
}

static int parse_args(const struct cmd *c, int argc, char **argv, struct cp_request *r,
		      struct cp_error *e)
{
	int i, npos = 0, err;
	__u32 seen = 0;
	char cname[24];

	for (i = 0; i < argc; i++) {
		const char *w = argv[i];

		if (!w)
			return cp_error_set(e, -EINVAL, "command", "NULL argument");
		if (w[0] == '-' && w[1])
			err = parse_opt(c, argc, argv, &i, &seen, r, e);
		else
			err = parse_pos(c, w, npos++, r, e);
		if (err)
			return err;
	}
	if (npos < c->n_required)
		return cp_error_set(e, -EINVAL, pos_name(c->pos[npos]), "'%s' needs %s; see 'sluicectl %s --help'",
				    cmd_name(c, cname, sizeof(cname)), pos_what(c->pos[npos]), c->group);
	return check_one_of(c, r, e);
}

int cp_cmd_parse(int argc, char **argv, struct cp_request *r, struct cp_error *e)
{
	const struct cmd *c;
	struct cp_request tmp;
	int used = 0, err;

	c = find_cmd(argc, argv, &used, e);
	if (!c)
		return -EINVAL;
	cp_request_init(&tmp, c->op);
	err = parse_args(c, argc - used, argv + used, &tmp, e);
	if (err)
		return err;
	*r = tmp;
	return 0;
}

/* --- Splitting --------------------------------------------------------- */

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* One word starting at *src (not a space); unquoted into *dst. POSIX
 * shell rules: nothing is special inside '...'; inside "..." and outside
 * quotes a backslash takes the next byte literally. */
static int split_word(char **src, char **dst)
{
	char *s = *src, *d = *dst, quote = 0;

	for (; *s; s++) {
		if (quote == '\'' && *s != '\'') {
			*d++ = *s;
		} else if (*s == '\\') {
			if (!*++s)
				return -EINVAL;	/* nothing to escape: no line continuation */
			*d++ = *s;
		} else if (quote && *s == quote) {
			quote = 0;
		} else if (quote) {
			*d++ = *s;
		} else if (*s == '\'' || *s == '"') {
			quote = *s;
		} else if (is_space(*s)) {
			break;
		} else {
			*d++ = *s;
		}
	}
	if (quote)
		return -EINVAL;
	*src = s;
	*dst = d;
	return 0;
}

int cp_cmd_split(char *line, char **words, int max)
{
	char *s = line, *d = line;
	int n = 0, err;

	for (;;) {
		while (is_space(*s))
			s++;
		if (!*s || *s == '#')	/* '#' starts a comment only at a word's start */
			break;
		if (n >= max)
			return -E2BIG;
		words[n++] = d;
		err = split_word(&s, &d);
		if (err)
			return err;
		/* d <= s always (unquoting only shrinks), so this NUL never
		 * lands on a byte not yet read -- except *s itself, a space
		 * or the end, which is skipped next. */
		if (*s)
			s++;
		*d++ = '\0';
	}
	if (n < max)
		words[n] = NULL;
	return n;
}

/* --- Formatting -------------------------------------------------------- */

struct out {
	char *buf;
	size_t len;	/* capacity, NUL included */
	size_t pos;	/* bytes written, NUL excluded */
	int err;	/* first error; later writes are dropped */
};

static void put_raw(struct out *o, const char *s, size_t n)
{
	if (o->err)
		return;
	if (o->pos + n >= o->len) {
		o->err = -ENOSPC;
		return;
	}
	memcpy(o->buf + o->pos, s, n);
	o->pos += n;
	o->buf[o->pos] = '\0';
}

/* Bytes that need no quotes, for cp_cmd_split and for a shell (globs
 * '*' and '[]' excepted: VIPs are full of them and stay readable). */
static int plain(const char *w)
{
	if (!*w)
		return 0;
	for (; *w; w++)
		if (!((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z') ||
		      (*w >= '0' && *w <= '9') || strchr("-_./:,=+@%*[]^", *w)))
			return 0;
	return 1;
}

/* One word, space-separated from the previous, quoted if needed: '...'
 * unless it holds a quote, else "..." with \ before " \ $ `. */
static void put_word(struct out *o, const char *w)
{
	const char *p;

	if (o->pos)
		put_raw(o, " ", 1);
	if (plain(w)) {
		put_raw(o, w, strlen(w));
		return;
	}
	if (!strchr(w, '\'')) {
		put_raw(o, "'", 1);
		put_raw(o, w, strlen(w));
		put_raw(o, "'", 1);
		return;
	}
	put_raw(o, "\"", 1);
	for (p = w; *p; p++) {
		if (strchr("\"\\$`", *p))
			put_raw(o, "\\", 1);
		put_raw(o, p, 1);
	}
	put_raw(o, "\"", 1);
}

/* "--name value", or "--name=value" when the value starts with '-' and
 * would otherwise read as an option. */
static void put_opt(struct out *o, const struct opt *op, const char *val)
{
	char word[CP_CHECK_PATH_MAX + 32];

	if (val[0] != '-') {
		snprintf(word, sizeof(word), "--%s", op->name);
		put_word(o, word);
		put_word(o, val);
		return;
	}
	if ((size_t)snprintf(word, sizeof(word), "--%s=%s", op->name, val) >= sizeof(word)) {
		o->err = -ENOSPC;
		return;
	}
	put_word(o, word);
}

static void put_interfaces(struct out *o, const struct opt *op, const struct cp_request *r)
{
	struct cp_request check;
	int i;

	/* Re-add each through the setter: a name it would refuse cannot
	 * be written, since the line would not read back. */
	cp_request_init(&check, r->op);
	if (r->n_interfaces > CP_MAX_INTERFACES)
		o->err = o->err ? o->err : -EINVAL;
	for (i = 0; i < r->n_interfaces && !o->err; i++) {
		if (strnlen(r->interfaces[i], IF_NAMESIZE) >= IF_NAMESIZE ||
		    cp_request_set_text(&check, CP_F_INTERFACES, r->interfaces[i], "", NULL)) {
			o->err = -EINVAL;
			return;
		}
		put_opt(o, op, r->interfaces[i]);
	}
}

static void put_value(struct out *o, const struct opt *op, const struct cp_request *r)
{
	char val[CP_CHECK_PATH_MAX + 16];
	__u64 v = cp_request_get_num(r, op->bit);
	int err = 0;

	switch (op->kind) {
	case K_TEXT:
		err = cp_request_get_text(r, op->bit, val, sizeof(val));
		break;
	case K_NUM:
	case K_SEC:
		snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
		break;
	case K_DUR:
		snprintf(val, sizeof(val), v && v % 1000 == 0 ? "%llus" : "%llums",
			 (unsigned long long)(v && v % 1000 == 0 ? v / 1000 : v));
		break;
	case K_FLAG:
		if (v > 1) {
			err = -EINVAL;	/* neither --drain nor --undrain */
			break;
		}
		if (v == op->flag) {
			snprintf(val, sizeof(val), "--%s", op->name);
			put_word(o, val);
		}
		return;
	}
	if (err) {
		o->err = o->err ? o->err : err;
		return;
	}
	put_opt(o, op, val);
}

static const struct cmd *cmd_for_op(enum cp_op op)
{
	size_t i;

	for (i = 0; i < N_CMDS; i++)
		if (cmds[i].op == op)
			return &cmds[i];
	return NULL;
}

static void put_positionals(struct out *o, const struct cmd *c, const struct cp_request *r)
{
	char val[80];
	int i, err;

	for (i = 0; i < MAX_POS && c->pos[i]; i++) {
		if (i >= c->n_required && !(r->fields & c->pos[i]))
			break;
		err = cp_request_get_text(r, c->pos[i], val, sizeof(val));
		if (err) {
			o->err = o->err ? o->err : err;
			return;
		}
		put_word(o, val);
	}
}

int cp_cmd_format(const struct cp_request *r, char *buf, size_t len)
{
	const struct cmd *c = cmd_for_op(r->op);
	struct out o = { buf, len, 0, 0 };
	__u32 have;
	int id;

	if (!c)
		return -EINVAL;
	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	/* An ADD means the same with or without default-valued options:
	 * leave them out. Any other op carries exactly r->fields. */
	if (c->op == CP_OP_VIP_ADD || c->op == CP_OP_BACKEND_ADD)
		have = cp_request_nondefault(r);
	else
		have = r->fields;
	put_word(&o, c->group);
	if (c->verb)
		put_word(&o, c->verb);
	put_positionals(&o, c, r);
	for (id = 0; id < O_MAX; id++) {
		if (!(c->opts & OPT(id)) || !(have & opts[id].bit))
			continue;
		if (id == O_INTERFACE)
			put_interfaces(&o, &opts[id], r);
		else
			put_value(&o, &opts[id], r);
	}
	if (o.err)
		buf[0] = '\0';
	return o.err ? o.err : (int)o.pos;
}

/* --- Usage ------------------------------------------------------------- */

#define USAGE_VIP \
"Usage: sluicectl vip add VIP [OPTION]...\n" \
"       sluicectl vip set VIP OPTION...\n" \
"       sluicectl vip del VIP\n" \
"       sluicectl vip list [VIP]\n" \
"\n" \
"A VIP is a virtual service, ADDR:PORT/PROTO: 10.100.0.1:80/tcp or\n" \
"[2001:db8::1]:443/udp. PORT * (or 0) takes every port of the address;\n" \
"PROTO is tcp or udp. 'add' creates it with the options given and the\n" \
"defaults below for the rest; 'set' changes only the options given;\n" \
"'del' removes it with its backends; 'list' shows one VIP or all.\n" \
"\n" \
"Options (add and set):\n" \
"  --affinity source|none   source: all connections of a client go to one\n" \
"                           backend (the flow key has no ports). Default none.\n" \
"  --ring M                 Maglev ring size, a prime; larger spreads load\n" \
"                           more evenly and costs memory. Default 65537.\n" \
"  --check none|tcp|http|udp\n" \
"                           how sluice-healthd checks the backends: TCP\n" \
"                           connect, HTTP GET, or a UDP datagram that must\n" \
"                           be answered. Default none (always up).\n" \
"  --check-port P           port checked, 1-65535; 0 means the VIP's port,\n" \
"                           which a wildcard VIP does not have. Default 0.\n" \
"  --check-path /PATH       http (required): the path to GET.\n" \
"  --check-host HOST        http: the Host header. Default: the backend's\n" \
"                           address.\n" \
"  --check-status N         http: the status that means up (100-599).\n" \
"                           Default 200.\n" \
"  --check-interval DUR     time between two checks (100ms-1h). Default 2s.\n" \
"  --check-timeout DUR      time a check may take, below the interval.\n" \
"                           Default 1s.\n" \
"  --check-rise N           successes in a row that mark a backend up\n" \
"                           (1-100). Default 2.\n" \
"  --check-fall N           failures in a row that mark it down (1-100).\n" \
"                           Default 3.\n" \
"  --check-payload TEXT     udp (required): the datagram sent (printable\n" \
"                           ASCII).\n" \
"\n" \
"An option of one check type is refused with another: --check-status\n" \
"with --check tcp, or any --check-* with --check none.\n" \
"\n" \
"DUR: a number and a unit, ms, s, m or h (500ms, 2s, 1.5s); a plain\n" \
"number is milliseconds. Every option may also be written --option=VALUE.\n" \
"\n" \
"Examples:\n" \
"  sluicectl vip add 10.100.0.1:80/tcp --check http --check-path /health\n" \
"  sluicectl vip set 10.100.0.1:80/tcp --affinity source\n"

#define USAGE_BACKEND \
"Usage: sluicectl backend add VIP ADDR [--weight N] [--drain]\n" \
"       sluicectl backend set VIP ADDR (--weight N | --drain | --undrain)...\n" \
"       sluicectl backend del VIP ADDR\n" \
"       sluicectl backend list [VIP]\n" \
"\n" \
"A backend is a real server of a VIP, named by its IPv4 or IPv6 address\n" \
"(no port: packets reach it encapsulated, with the VIP's port). 'set'\n" \
"changes only the options given; 'del' removes it (its connections\n" \
"break); 'list' shows the backends of one VIP or of all.\n" \
"\n" \
"Options:\n" \
"  --weight N    its share of new connections, relative to the other\n" \
"                backends of the VIP (0-65535; 0 takes none). Default 100.\n" \
"  --drain       take no new connections; established ones keep flowing.\n" \
"                Default: not draining.\n" \
"  --undrain     (set) take new connections again.\n" \
"\n" \
"Examples:\n" \
"  sluicectl backend add 10.100.0.1:80/tcp 10.0.0.11 --weight 200\n" \
"  sluicectl backend set [2001:db8::1]:443/tcp 2001:db8:1::11 --drain\n"

#define USAGE_NODE \
"Usage: sluicectl node set OPTION...\n" \
"\n" \
"Settings of this balancer node; only the options given change.\n" \
"\n" \
"Options:\n" \
"  --interface IF          an interface the XDP program is attached to;\n" \
"                          repeat for several (at most 8). The list given\n" \
"                          replaces the previous one. Default: none.\n" \
"  --encap-source ADDR4    outer source address of packets sent to IPv4\n" \
"                          backends. Default: none (IPv4 backends unusable).\n" \
"  --encap-source6 ADDR6   the same for IPv6 backends. Default: none.\n" \
"  --metrics ADDR:PORT     where /metrics and /healthz are served, e.g.\n" \
"                          127.0.0.1:9109 or [::1]:9109. Default: sluiced's\n" \
"                          own, on a loopback address. A running sluiced\n" \
"                          moves there within a second; if it cannot\n" \
"                          listen there it logs why and keeps the old one.\n" \
"  --flow-ttl-tcp SECONDS  idle time after which a TCP connection-table\n" \
"                          entry expires: its next packet picks from the\n" \
"                          ring again. A number of seconds or a duration\n" \
"                          (15m, 1h); 0 never expires; at most 604800 (a\n" \
"                          week). Default 900 (IPVS's).\n" \
"  --flow-ttl-udp SECONDS  the same for UDP flows. Default 300.\n" \
"\n" \
"Example:\n" \
"  sluicectl node set --interface eth0 --encap-source 192.0.2.10\n"

#define USAGE_HEALTH \
"Usage: sluicectl health report VIP ADDR up|down [--latency-us N] [--reason TEXT]\n" \
"       sluicectl health targets\n" \
"\n" \
"Used by sluice-healthd. 'report' tells sluiced a backend of a VIP\n" \
"passed (up) or failed (down) its check; a down backend leaves the ring,\n" \
"and its flows move. 'targets' lists every VIP, backend and check spec\n" \
"to probe.\n" \
"\n" \
"Options (report):\n" \
"  --latency-us N   duration of the last check in microseconds. Default 0.\n" \
"  --reason TEXT    why, for logs (printable ASCII, at most 127 bytes).\n" \
"                   Default empty.\n"

#define USAGE_STATS \
"Usage: sluicectl stats [--vip VIP]\n" \
"\n" \
"Packet, byte and new-flow counters of every VIP (or of one with --vip),\n" \
"of its backends, and of every pass/drop reason of the fast path.\n"

#define USAGE_FLOWS \
"Usage: sluicectl flows VIP\n" \
"\n" \
"The live connections of a VIP from the connection table: client,\n" \
"backend and time since the last packet.\n"

#define USAGE_RING \
"Usage: sluicectl ring digest VIP\n" \
"\n" \
"A hash of the VIP's Maglev ring as the fast path has it. Two nodes with\n" \
"the same backends, weights and health give the same digest.\n"

#define USAGE_SAVE \
"Usage: sluicectl save\n" \
"\n" \
"Prints the state as a config script of sluicectl commands, one per line,\n" \
"that sluiced can load: the format of its state file.\n"

#define USAGE_STATUS \
"Usage: sluicectl status\n" \
"\n" \
"sluiced's version, fast-path driver, interfaces, number of VIPs and\n" \
"counts of changes applied and refused.\n"

#define USAGE_DETACH \
"Usage: sluicectl detach [--interface IF]...\n" \
"\n" \
"Removes the XDP program from every interface, or from those given:\n" \
"forwarding stops there. (Stopping sluiced leaves forwarding in place.)\n"

static const struct {
	const char *group;
	const char *text;
} usages[] = {
	{ "vip", USAGE_VIP },
	{ "backend", USAGE_BACKEND },
	{ "node", USAGE_NODE },
	{ "health", USAGE_HEALTH },
	{ "stats", USAGE_STATS },
	{ "flows", USAGE_FLOWS },
	{ "ring", USAGE_RING },
	{ "save", USAGE_SAVE },
	{ "status", USAGE_STATUS },
	{ "detach", USAGE_DETACH },
};

static const char usage_all[] =
	USAGE_VIP "\n" USAGE_BACKEND "\n" USAGE_NODE "\n" USAGE_HEALTH "\n" USAGE_STATS "\n"
	USAGE_FLOWS "\n" USAGE_RING "\n" USAGE_SAVE "\n" USAGE_STATUS "\n" USAGE_DETACH;

const char *cp_cmd_usage(const char *group)
{
	size_t i;

	for (i = 0; group && i < sizeof(usages) / sizeof(usages[0]); i++)
		if (!strcmp(usages[i].group, group))
			return usages[i].text;
	return usage_all;
}
