/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd.c - the sluicectl command language (cmd.h): argv -> request,
 * request -> one config line, line -> words.
 *
 * Commands are request.h's op table (group, verb, positionals); options
 * are the rows of its field table that have a long option, in the order
 * cp_cmd_format writes them. The usage texts are cmd_usage.c. Values are checked by request.c's setters,
 * the same ones the JSON decoder uses. What is particular to a command
 * line is here: words, "--opt value", durations written with their unit,
 * suggestions for typos.
 *
 * No state; every function may be called from any thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"


/* An option as typed: a field's row and which of its names was used. */
struct opt {
	const struct cp_field *f;
	int off;	/* BOOL: cli_off was given (the value is 0) */
};

static const char *opt_name(const struct opt *o)
{
	return o->off ? o->f->cli_off : o->f->cli;
}

/* Name used in messages: "backend add", "stats". */
static const char *cmd_name(const struct cp_op_def *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->group, c->verb ? " " : "", c->verb ? c->verb : "");
	return buf;
}

static __u64 pos_bits(const struct cp_op_def *c)
{
	return c->pos[0] | c->pos[1] | c->pos[2];
}

__u64 cp_cmd_options(enum cp_op op)
{
	const struct cp_op_def *c = cp_op_def(op);
	struct cp_op_fields of;
	__u64 bits = 0;

	if (!c || cp_op_fields(op, &of))
		return 0;
	for (size_t i = 0; i < cp_n_fields; i++)
		if (cp_fields[i].cli)
			bits |= cp_fields[i].bit;
	return of.allowed & bits & ~pos_bits(c);
}

static const char *pos_name(__u64 bit)
{
	return cp_field_of(bit)->api;
}

static const char *pos_what(__u64 bit)
{
	return bit == CP_F_VIP ? "a VIP (ADDR:PORT/PROTO)" :
	       bit == CP_F_BACKEND ? "a backend address" :
	       bit == CP_F_PATH ? "a config file" : "a health state (up or down)";
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

/* "vip, backend, node, ...": every command's first word, once, in the
 * op table's order. */
static const char *groups(char *buf, size_t len)
{
	buf[0] = '\0';
	for (int op = CP_OP_NONE + 1; op < CP_OP_MAX; op++) {
		const char *g = cp_op_def(op)->group;

		if (op > CP_OP_NONE + 1 && !strcmp(cp_op_def(op - 1)->group, g))
			continue;
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "", g);
	}
	return buf;
}

static int group_exists(const char *w)
{
	for (int op = CP_OP_NONE + 1; op < CP_OP_MAX; op++)
		if (!strcmp(cp_op_def(op)->group, w))
			return 1;
	return 0;
}

static int unknown_group(const char *w, struct cp_error *e)
{
	const char *names[CP_OP_MAX] = { NULL };
	char hint[64], list[128];

	for (int op = CP_OP_NONE + 1; op < CP_OP_MAX; op++)
		names[op] = cp_op_def(op)->group;
	suggest(w, names, CP_OP_MAX, "", hint, sizeof(hint));
	return cp_error_set(e, -EINVAL, w, "unknown command '%.32s'%s; commands: %s", w, hint,
			    groups(list, sizeof(list)));
}

static int unknown_verb(const char *group, const char *w, struct cp_error *e)
{
	const char *names[CP_OP_MAX] = { NULL };
	char verbs[64] = "", hint[64];

	for (int op = CP_OP_NONE + 1; op < CP_OP_MAX; op++) {
		const struct cp_op_def *c = cp_op_def(op);

		if (strcmp(c->group, group))
			continue;
		names[op] = c->verb;
		snprintf(verbs + strlen(verbs), sizeof(verbs) - strlen(verbs), "%s%s",
			 verbs[0] ? ", " : "", c->verb);
	}
	if (!w)
		return cp_error_set(e, -EINVAL, group, "'%s' needs a subcommand: %s", group, verbs);
	suggest(w, names, CP_OP_MAX, "", hint, sizeof(hint));
	return cp_error_set(e, -EINVAL, w, "unknown command '%s %.32s'%s; '%s' takes %s", group,
			    w, hint, group, verbs);
}

/* The op argv starts with, *used = how many words named it; or
 * CP_OP_NONE with e set. */
static enum cp_op find_cmd(int argc, char **argv, int *used, struct cp_error *e)
{
	char list[128];

	if (argc < 1 || !argv[0]) {
		cp_error_set(e, -EINVAL, "command", "no command given; commands: %s",
			     groups(list, sizeof(list)));
		return CP_OP_NONE;
	}
	if (!group_exists(argv[0])) {
		unknown_group(argv[0], e);
		return CP_OP_NONE;
	}
	for (int op = CP_OP_NONE + 1; op < CP_OP_MAX; op++) {
		const struct cp_op_def *c = cp_op_def(op);

		if (strcmp(c->group, argv[0]))
			continue;
		*used = c->verb ? 2 : 1;
		if (!c->verb || (argc > 1 && argv[1] && !strcmp(c->verb, argv[1])))
			return op;
	}
	unknown_verb(argv[0], argc > 1 ? argv[1] : NULL, e);
	return CP_OP_NONE;
}

int cp_cmd_help_topic(int argc, char **argv, const char **group, struct cp_error *e)
{
	int words = 0, used;

	while (words < argc && argv[words] && argv[words][0] != '-')
		words++;
	*group = words ? argv[0] : NULL;
	if (words == 1 && group_exists(argv[0]))
		return 0;
	if (words == 0)
		return 0;
	return find_cmd(words, argv, &used, e) == CP_OP_NONE ? -EINVAL : 0;
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
	if (!strcmp(u, "ms"))
		return 1;
	if (!strcmp(u, "s"))
		return 1000;
	if (!strcmp(u, "m"))
		return 60000;
	if (!strcmp(u, "h"))
		return 3600000;
	return 0;
}

static long long ms_per(enum cp_unit u)
{
	return u == CP_UNIT_S ? 1000 : 1;
}

/* "2s", "500ms", "1.5s", "15m", "1h", or a bare "0": a number always
 * carries its unit, so --check-interval 2 and --flow-ttl-tcp 2 cannot
 * mean two different things. The integer part saturates at 10^12, far
 * past any range (the range check reports it) and small enough that
 * 10^12 h in ms still fits a long long. *ms: milliseconds. */
int cp_cmd_parse_duration(const char *s, const char *name, long long *ms, struct cp_error *e)
{
	long long ip = 0, fp = 0, scale = 1, mult;
	const char *p = s;

	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
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
	if (!*p)
		return cp_error_set(e, -EINVAL, name,
				    "bad %s '%.32s': a duration needs its unit: ms, s, m or h "
				    "(500ms, 2s, 15m)", name, s);
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

static int set_duration(const struct cp_field *f, const char *val, const char *name,
			struct cp_request *r, struct cp_error *e)
{
	long long ms = 0, per = ms_per(f->unit);
	int err = cp_cmd_parse_duration(val, name, &ms, e);

	if (err)
		return err;
	if (ms % per)
		return cp_error_set(e, -EINVAL, name, "bad %s '%.32s': not a whole number of %s",
				    name, val, f->unit == CP_UNIT_S ? "seconds" : "milliseconds");
	return cp_request_set_num(r, f->bit, ms / per, name, e);
}

static int set_value(const struct opt *o, const char *val, struct cp_request *r,
		     struct cp_error *e)
{
	const struct cp_field *f = o->f;
	const char *name = opt_name(o);
	long long v = 0;

	switch (f->kind) {
	case CP_KIND_NUM:
		if (parse_int(val, &v))
			return cp_error_set(e, -EINVAL, name,
					    "bad %s '%.32s': expected a whole number", name, val);
		return cp_request_set_num(r, f->bit, v, name, e);
	case CP_KIND_DURATION:
		return set_duration(f, val, name, r, e);
	case CP_KIND_BOOL:
		return cp_request_set_num(r, f->bit, !o->off, name, e);
	default:
		return cp_request_set_text(r, f->bit, val, name, e);
	}
}

/* --- Options and positionals ------------------------------------------- */

static int bad_option(enum cp_op op, const char *w, size_t wlen, int known,
		      struct cp_error *e)
{
	const struct cp_op_def *c = cp_op_def(op);
	const char *names[2 * 64] = { NULL };
	char field[32], cname[24], hint[64] = "";
	__u64 bits = cp_cmd_options(op);
	size_t n = 0;

	snprintf(field, sizeof(field), "%.*s", (int)wlen, w);
	cmd_name(c, cname, sizeof(cname));
	if (known)
		return cp_error_set(e, -EINVAL, field,
				    "option '%s' does not apply to '%s'; see 'sluicectl %s --help'",
				    field, cname, c->group);
	for (size_t i = 0; i < cp_n_fields && n + 2 <= sizeof(names) / sizeof(names[0]); i++) {
		if (!(bits & cp_fields[i].bit))
			continue;
		names[n++] = cp_fields[i].cli;
		names[n++] = cp_op_def(op)->set ? cp_fields[i].cli_off : NULL;
	}
	if (wlen > 2 && w[1] == '-' && wlen - 2 < sizeof(field)) {
		char bare[32];

		snprintf(bare, sizeof(bare), "%.*s", (int)(wlen - 2), w + 2);
		suggest(bare, names, n, "--", hint, sizeof(hint));
	}
	return cp_error_set(e, -EINVAL, field,
			    "unknown option '%s' for '%s'%s; see 'sluicectl %s --help'", field, cname,
			    hint, c->group);
}

/* Options seen so far: each field once (interfaces excepted), and a
 * BOOL by one of its names only (--drain with --undrain). */
struct seen {
	__u64 bits;
	__u64 off;	/* BOOL fields given by cli_off */
};

static int check_repeat(const struct opt *o, struct seen *s, struct cp_error *e)
{
	const char *name = opt_name(o);

	if (o->f->kind == CP_KIND_IFNAMES)
		return 0;	/* repeats by design; the setter refuses duplicates */
	if (s->bits & o->f->bit) {
		int was_off = !!(s->off & o->f->bit);

		if (was_off == o->off)
			return cp_error_set(e, -EINVAL, name, "option '--%s' given twice", name);
		return cp_error_set(e, -EINVAL, name, "option '--%s' conflicts with '--%s'", name,
				    was_off ? o->f->cli_off : o->f->cli);
	}
	s->bits |= o->f->bit;
	s->off |= o->off ? o->f->bit : 0;
	return 0;
}

/* argv[*i] is an option; consumes its value too. */
static int parse_opt(enum cp_op op, int argc, char **argv, int *i, struct seen *seen,
		     struct cp_request *r, struct cp_error *e)
{
	const char *w = argv[*i], *eq = strchr(w, '='), *val;
	size_t wlen = eq ? (size_t)(eq - w) : strlen(w);
	struct opt o = { NULL, 0 };
	const char *name;
	int err;

	if (w[1] == '-')
		o.f = cp_field_by_cli(w + 2, wlen - 2);
	if (!o.f || !o.f->cli || !(cp_cmd_options(op) & o.f->bit))
		return bad_option(op, w, wlen, o.f && o.f->cli, e);
	o.off = o.f->cli_off && strlen(o.f->cli_off) == wlen - 2 &&
		!strncmp(o.f->cli_off, w + 2, wlen - 2);
	/* Only a SET turns a flag off: an ADD starts with it off. */
	if (o.off && !cp_op_def(op)->set)
		return bad_option(op, w, wlen, 1, e);
	name = opt_name(&o);
	err = check_repeat(&o, seen, e);
	if (err)
		return err;
	if (o.f->kind == CP_KIND_BOOL) {
		if (eq)
			return cp_error_set(e, -EINVAL, name, "option '--%s' takes no value", name);
		return set_value(&o, NULL, r, e);
	}
	if (eq) {
		val = eq + 1;
	} else if (*i + 1 < argc && argv[*i + 1] && strncmp(argv[*i + 1], "--", 2)) {
		val = argv[++*i];
	} else {
		return cp_error_set(e, -EINVAL, name,
				    "option '--%s' needs a value (write --%s=VALUE for one starting with --)",
				    name, name);
	}
	return set_value(&o, val, r, e);
}

static int parse_pos(const struct cp_op_def *c, const char *w, int idx, struct cp_request *r,
		     struct cp_error *e)
{
	char cname[24];

	if (idx >= 3 || !c->pos[idx])
		return cp_error_set(e, -EINVAL, w,
				    "unexpected argument '%.48s' for '%s'; see 'sluicectl %s --help'",
				    w, cmd_name(c, cname, sizeof(cname)), c->group);
	return cp_request_set_text(r, c->pos[idx], w, pos_name(c->pos[idx]), e);
}

/* A SET with nothing to change is a mistake, not a no-op: say so. */
static int check_one_of(enum cp_op op, const struct cp_request *r, struct cp_error *e)
{
	const struct cp_op_def *c = cp_op_def(op);
	__u64 bits = cp_cmd_options(op);
	char cname[24], list[128] = "";
	struct cp_op_fields of;
	int n = 0;

	cp_op_fields(op, &of);
	if (!of.one_of || (r->fields & of.one_of))
		return 0;
	cmd_name(c, cname, sizeof(cname));
	for (size_t i = 0; i < cp_n_fields; i++)
		if (bits & cp_fields[i].bit)
			n += 1 + !!cp_fields[i].cli_off;	/* one_of: only SETs get here */
	if (n > 6)
		return cp_error_set(e, -EINVAL, cname,
				    "'%s' changes nothing: give at least one option; see 'sluicectl %s --help'",
				    cname, c->group);
	for (size_t i = 0; i < cp_n_fields; i++) {
		const struct cp_field *f = &cp_fields[i];
		const char *names[2] = { f->cli, f->cli_off };

		if (!(bits & f->bit))
			continue;
		for (int k = 0; k < 2; k++)
			if (names[k])
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s--%s",
					 list[0] ? (--n == 1 ? " or " : ", ") : "", names[k]);
	}
	return cp_error_set(e, -EINVAL, cname, "'%s' changes nothing: give %s", cname, list);
}

static int parse_args(enum cp_op op, int argc, char **argv, struct cp_request *r,
		      struct cp_error *e)
{
	const struct cp_op_def *c = cp_op_def(op);
	struct seen seen = { 0, 0 };
	int i, npos = 0, err;
	char cname[24];

	for (i = 0; i < argc; i++) {
		const char *w = argv[i];

		if (!w)
			return cp_error_set(e, -EINVAL, "command", "NULL argument");
		if (w[0] == '-' && w[1])
			err = parse_opt(op, argc, argv, &i, &seen, r, e);
		else
			err = parse_pos(c, w, npos++, r, e);
		if (err)
			return err;
	}
	if (npos < c->n_required)
		return cp_error_set(e, -EINVAL, pos_name(c->pos[npos]),
				    "'%s' needs %s; see 'sluicectl %s --help'",
				    cmd_name(c, cname, sizeof(cname)), pos_what(c->pos[npos]),
				    c->group);
	return check_one_of(op, r, e);
}

int cp_cmd_parse(int argc, char **argv, struct cp_request *r, struct cp_error *e)
{
	struct cp_request tmp;
	int used = 0, err;
	enum cp_op op;

	op = find_cmd(argc, argv, &used, e);
	if (op == CP_OP_NONE)
		return -EINVAL;
	cp_request_init(&tmp, op);
	err = parse_args(op, argc - used, argv + used, &tmp, e);
	if (err)
		return err;
	*r = tmp;
	return 0;
}

int cp_cmd_parse_line(char *line, size_t len, struct cp_request *r, struct cp_error *why)
{
	char *words[CP_CMD_MAX_WORDS];
	int n, err;

	if (len > CP_CMD_MAX_LINE)
		return cp_error_set(why, -EINVAL, "", "line longer than %d bytes", CP_CMD_MAX_LINE);
	if (strlen(line) != len)
		return cp_error_set(why, -EINVAL, "", "NUL byte in the line");
	n = cp_cmd_split(line, words, CP_CMD_MAX_WORDS);
	if (n == -E2BIG)
		return cp_error_set(why, -EINVAL, "", "more than %d words", CP_CMD_MAX_WORDS);
	if (n < 0)
		return cp_error_set(why, -EINVAL, "", "unterminated quote");
	if (n == 0)
		return 0;
	err = cp_cmd_parse(n, words, r, why);
	return err ? err : 1;
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
static void put_opt(struct out *o, const char *name, const char *val)
{
	char word[CP_CHECK_PATH_MAX + 32];

	if (val[0] != '-') {
		snprintf(word, sizeof(word), "--%s", name);
		put_word(o, word);
		put_word(o, val);
		return;
	}
	if ((size_t)snprintf(word, sizeof(word), "--%s=%s", name, val) >= sizeof(word)) {
		o->err = -ENOSPC;
		return;
	}
	put_word(o, word);
}

static void put_interfaces(struct out *o, const struct cp_field *f, const struct cp_request *r)
{
	/* A name the setter would refuse cannot be written: the line would
	 * not read back. */
	if (cp_request_check_values(r, CP_F_INTERFACES, NULL)) {
		o->err = o->err ? o->err : -EINVAL;
		return;
	}
	for (int i = 0; i < r->n_interfaces && !o->err; i++)
		put_opt(o, f->cli, r->interfaces[i]);
}

void cp_cmd_format_duration(__u64 v, enum cp_unit u, char *buf, size_t len)
{
	static const struct {
		const char *name;
		__u64 ms;
	} units[] = { { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 } };
	__u64 ms = v * (__u64)ms_per(u);

	for (size_t i = 0; v && i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(ms / units[i].ms),
				 units[i].name);
			return;
		}
	}
	snprintf(buf, len, "0%s", cp_unit_name(u));
}

static void put_value(struct out *o, const struct cp_field *f, const struct cp_request *r)
{
	char val[CP_CHECK_PATH_MAX + 16];
	__u64 v = cp_request_get_num(r, f->bit);
	int err = 0;

	switch (f->kind) {
	case CP_KIND_NUM:
		snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
		break;
	case CP_KIND_DURATION:
		cp_cmd_format_duration(v, f->unit, val, sizeof(val));
		break;
	case CP_KIND_BOOL:
		if (v > 1) {
			err = -EINVAL;	/* neither --drain nor --undrain */
			break;
		}
		/* A flag without an off form (--dry-run) is off by its absence. */
		if (!v && !f->cli_off)
			return;
		snprintf(val, sizeof(val), "--%s", v ? f->cli : f->cli_off);
		put_word(o, val);
		return;
	case CP_KIND_IFNAMES:
		put_interfaces(o, f, r);
		return;
	default:
		err = cp_request_get_text(r, f->bit, val, sizeof(val));
		break;
	}
	if (err) {
		o->err = o->err ? o->err : err;
		return;
	}
	put_opt(o, f->cli, val);
}

static void put_positionals(struct out *o, const struct cp_op_def *c, const struct cp_request *r)
{
	char val[CP_PATH_MAX];
	int i, err;

	for (i = 0; i < 3 && c->pos[i]; i++) {
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
	const struct cp_op_def *c = cp_op_def(r->op);
	struct out o = { buf, len, 0, 0 };
	__u64 have, opts;

	if (!c)
		return -EINVAL;
	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	/* An ADD means the same with or without default-valued options:
	 * leave them out. Any other op carries exactly r->fields. */
	if (r->op == CP_OP_VIP_ADD || r->op == CP_OP_BACKEND_ADD)
		have = cp_request_nondefault(r);
	else
		have = r->fields;
	opts = cp_cmd_options(r->op) & have;
	put_word(&o, c->group);
	if (c->verb)
		put_word(&o, c->verb);
	put_positionals(&o, c, r);
	for (size_t i = 0; i < cp_n_fields; i++)
		if (opts & cp_fields[i].bit)
			put_value(&o, &cp_fields[i], r);
	if (o.err)
		buf[0] = '\0';
	return o.err ? o.err : (int)o.pos;
}
