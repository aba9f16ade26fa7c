// SPDX-License-Identifier: Apache-2.0
/*
 * model_script.c - the model as a config script (the state file,
 * `sluicectl save`, the config file): save, load, and the diff a reload
 * applies. The only users of cmd.h in the model: a script is command
 * lines, parsed and formatted by cmd.c.
 */
#define LB_LOG_PREFIX "model: "

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"

#include "model_int.h"


static int vip_cmp(const void *a, const void *b)
{
	const struct lb_vip_key *x = &(*(const struct cp_vip *const *)a)->key;
	const struct lb_vip_key *y = &(*(const struct cp_vip *const *)b)->key;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(&x->addr, &y->addr, sizeof(x->addr));
	if (c)
		return c;
	if (x->port != y->port)
		return ntohs(x->port) < ntohs(y->port) ? -1 : 1;
	return (int)x->proto - (int)y->proto;
}

static int backend_cmp(const void *a, const void *b)
{
	const struct cp_backend *x = *(const struct cp_backend *const *)a;
	const struct cp_backend *y = *(const struct cp_backend *const *)b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

/* The request that creates v as it is (ADD: only what is not default). */
void cp_model_vip_request(const struct cp_vip *v, struct cp_request *r)
{
	cp_request_init(r, CP_OP_VIP_ADD);
	r->fields = CP_F_VIP;
	r->vip = v->key;
	r->spec = v->spec;
	r->fields |= cp_request_nondefault(r) & cp_spec_fields();
}

void cp_model_backend_request(const struct cp_vip *v, const struct cp_backend *b,
			      struct cp_request *r)
{
	cp_request_init(r, CP_OP_BACKEND_ADD);
	r->vip = v->key;
	r->backend = b->addr;
	r->backend_family = b->family;
	r->weight = b->weight;
	r->drain = b->draining;
	r->fields = CP_F_VIP | CP_F_BACKEND;
	r->fields |= cp_request_nondefault(r) & (CP_F_WEIGHT | CP_F_DRAIN);
}

void cp_model_node_request(const struct cp_node *n, struct cp_request *r)
{
	cp_request_init(r, CP_OP_NODE_SET);
	memcpy(r->interfaces, n->interfaces, sizeof(r->interfaces));
	r->n_interfaces = n->n_interfaces;
	r->encap_src4 = n->encap_src4;
	r->encap_src6 = n->encap_src6;
	memcpy(r->metrics, n->metrics, sizeof(r->metrics));
	r->flow_ttl_tcp = n->flow_ttl_tcp;
	r->flow_ttl_udp = n->flow_ttl_udp;
	r->announce_table = n->announce_table;
	r->drained = n->drained;
	r->fields = cp_request_nondefault(r) &
		    (CP_F_INTERFACES | CP_F_ENCAP4 | CP_F_ENCAP6 | CP_F_METRICS |
		     CP_F_FLOW_TTL_TCP | CP_F_FLOW_TTL_UDP | CP_F_ANNOUNCE_TABLE | CP_F_DRAINED);
}

static int write_request(const struct cp_request *r, FILE *out)
{
	char line[CP_CMD_MAX_LINE + 1];
	int n = cp_cmd_format(r, line, sizeof(line));

	if (n < 0) {
		pr_warn("save: cannot format a %s line: %s\n", cp_op_name(r->op),
			strerror(-n));
		return n;
	}
	return fprintf(out, "%s\n", line) < 0 ? -EIO : 0;
}

static int save_vip(const struct cp_vip *v, FILE *out)
{
	const struct cp_backend **bs = NULL;
	struct cp_request r;
	int err;

	if (v->n_backends && !(bs = malloc(v->n_backends * sizeof(*bs))))
		return -ENOMEM;
	cp_model_vip_request(v, &r);
	err = fputs("\n", out) < 0 ? -EIO : write_request(&r, out);
	for (size_t i = 0; i < v->n_backends; i++)
		bs[i] = &v->backends[i];
	if (v->n_backends)
		qsort(bs, v->n_backends, sizeof(*bs), backend_cmp);
	for (size_t i = 0; i < v->n_backends && !err; i++) {
		cp_model_backend_request(v, bs[i], &r);
		err = write_request(&r, out);
	}
	free(bs);
	return err;
}

/* Piece i + 1 (VIP vs[i]) in a buffer of its own, its lines counted. */
struct save_jobs {
	const struct cp_vip **vs;
	struct cp_script *s;
	unsigned long *lines;
};

static unsigned long count_lines(const char *p, size_t n)
{
	unsigned long k = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

static int save_job(void *arg, size_t i)
{
	struct save_jobs *j = arg;
	FILE *f = open_memstream(&j->s->piece[i + 1], &j->s->len[i + 1]);
	int err;

	if (!f)
		return -ENOMEM;
	err = save_vip(j->vs[i], f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (!err)
		j->lines[i] = count_lines(j->s->piece[i + 1], j->s->len[i + 1]);
	return err;
}

/* Piece 0: the comment and the node's line. */
static int save_node(const struct cp_model *m, struct cp_script *s)
{
	FILE *f = open_memstream(&s->piece[0], &s->len[0]);
	struct cp_request r;
	int err = 0;

	if (!f)
		return -ENOMEM;
	if (fputs("# sluice state\n", f) < 0)
		err = -EIO;
	cp_model_node_request(&m->node, &r);
	if (!err && r.fields)
		err = write_request(&r, f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (!err)
		s->lines += count_lines(s->piece[0], s->len[0]);
	return err;
}

/* The VIPs in order (100,000 lines take a fifth of a second on one core):
 * rendered by a crew, readers served meanwhile (saving only reads). */
static int save_vips(const struct cp_model *m, struct cp_script *s)
{
	struct save_jobs j = { malloc(m->n_vips * sizeof(*j.vs)), s,
			       calloc(m->n_vips, sizeof(*j.lines)) };
	struct cp_crew c;
	int err = -ENOMEM;

	if (j.vs && j.lines) {
		for (size_t i = 0; i < m->n_vips; i++)
			j.vs[i] = &m->vips[i];
		qsort(j.vs, m->n_vips, sizeof(*j.vs), vip_cmp);
		cp_crew_start(&c, m->n_vips, save_job, &j, CP_CREW_MAX);
		err = cp_model_crew_join(m, &c, 1);
	}
	for (size_t i = 0; !err && i < m->n_vips; i++)
		s->lines += j.lines[i];
	free(j.vs);
	free(j.lines);
	return err;
}

int cp_model_script(const struct cp_model *m, struct cp_script *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->piece = calloc(m->n_vips + 1, sizeof(*s->piece));
	s->len = calloc(m->n_vips + 1, sizeof(*s->len));
	s->n = m->n_vips + 1;
	err = s->piece && s->len ? save_node(m, s) : -ENOMEM;
	if (!err && m->n_vips)
		err = save_vips(m, s);
	if (err)
		cp_script_free(s);
	return err;
}

void cp_script_free(struct cp_script *s)
{
	for (size_t i = 0; s->piece && i < s->n; i++)
		free(s->piece[i]);
	free(s->piece);
	free(s->len);
	memset(s, 0, sizeof(*s));
}

int cp_model_save(const struct cp_model *m, FILE *out)
{
	struct cp_script s;
	int err = cp_model_script(m, &s);

	for (size_t i = 0; !err && i < s.n; i++)
		if (s.len[i] && fwrite(s.piece[i], 1, s.len[i], out) != s.len[i])
			err = -EIO;
	if (!err && (fflush(out) || ferror(out)))
		err = -EIO;
	cp_script_free(&s);
	return err;
}

/* e->field = "NAME:LINE", the name whole (the field has room for a path). */
static int line_error(struct cp_error *e, const char *name, unsigned long line,
		      const struct cp_error *why)
{
	if (!e)
		return -EINVAL;
	snprintf(e->field, sizeof(e->field), "%s:%lu", name ? name : "config", line);
	if (why->field[0])
		snprintf(e->msg, sizeof(e->msg), "%.64s: %.*s", why->field,
			 (int)sizeof(e->msg) - 70, why->msg);
	else
		snprintf(e->msg, sizeof(e->msg), "%s", why->msg);
	return -EINVAL;
}

static void limit_totals(const struct cp_model *t, FILE *in, struct cp_error *why)
{
	size_t vips = t->n_vips, bes = model_count_backends(t), cap = 0;
	int over_vips = vips >= t->limits.max_vips;
	char *line = NULL, *words[CP_CMD_MAX_WORDS];
	struct cp_request r;
	struct cp_error skip;
	ssize_t len;

	if (!over_vips && bes < t->limits.max_backends)
		return;
	while ((len = getline(&line, &cap, in)) >= 0) {
		int n = len <= CP_CMD_MAX_LINE ? cp_cmd_split(line, words, CP_CMD_MAX_WORDS) : 0;

		if (n <= 0 || cp_cmd_parse(n, words, &r, &skip))
			continue;
		vips += r.op == CP_OP_VIP_ADD;
		bes += r.op == CP_OP_BACKEND_ADD;
	}
	free(line);
	if (over_vips)
		snprintf(why->msg, sizeof(why->msg),
			 "%zu VIPs requested, %u fit (--max-vips %u)", vips + 1,
			 t->limits.max_vips, t->limits.max_vips);
	else
		snprintf(why->msg, sizeof(why->msg),
			 "%zu backends requested, %u fit (--max-backends %u)",
			 bes + 1, t->limits.max_backends, t->limits.max_backends);
}

struct load {
	FILE *in;
	const char *name;
	struct cp_error *e;
};

/* Every line of the script into one batch: a batch per line set up and
 * tore down tables of --max-vips entries 100,000 times for a big file.
 * node set is no batch change (model_node_apply); on a target without a
 * driver it only sets the node's fields. */
static int load_fill(struct cp_model *t, struct model_batch *b, void *arg, struct cp_error *unused)
{
	struct load *l = arg;
	struct cp_error why;
	unsigned long lineno = 0;
	struct cp_request r;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int err = 0;

	(void)unused;
	while (!err && (len = getline(&line, &cap, l->in)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		why.field[0] = why.msg[0] = '\0';
		err = cp_cmd_parse_line(line, (size_t)len, &r, &why);
		/* The op table's change column: what a script may say. */
		if (err == 1 && !cp_op_def(r.op)->change)
			err = cp_error_set(&why, -EINVAL, cp_op_def(r.op)->group,
					   "not a configuration command");
		if (err == 1 && r.op == CP_OP_NODE_SET) {
			err = cp_model_check(t, &r, &why);
			if (!err)
				err = model_node_apply(t, &r, &why);
		} else if (err == 1) {
			err = model_batch_change(t, b, &r, &why);
		}
		if (err == -ENOSPC)
			limit_totals(t, l->in, &why);
		if (err < 0)
			err = line_error(l->e, l->name, lineno, &why);
	}
	free(line);
	if (!err && ferror(l->in)) {
		why.field[0] = '\0';
		snprintf(why.msg, sizeof(why.msg), "read error");
		err = line_error(l->e, l->name, lineno + 1, &why);
	}
	return err;
}

int cp_model_load(struct cp_model *target, FILE *in, const char *name, struct cp_error *e)
{
	struct load l = { in, name, e };
	int err = model_batch_run(target, target->driver != NULL, load_fill, &l, e);

	return err < 0 ? err : 0;
}

void cp_model_node_merge(const struct cp_node *cur, const struct cp_node *target,
			 struct cp_node *out)
{
	int same_ifs = cur->n_interfaces == target->n_interfaces;

	for (int i = 0; same_ifs && i < target->n_interfaces; i++)
		same_ifs = model_has_interface(cur, target->interfaces[i]);
	*out = *target;
	/* The same interfaces in another order are the same attachment. */
	if (same_ifs) {
		memcpy(out->interfaces, cur->interfaces, sizeof(out->interfaces));
		out->n_interfaces = cur->n_interfaces;
	}
	/* An encap source the target lacks is kept: a config script cannot
	 * say "none", and dropping it would stop every flow of that family. */
	if (!target->encap_src4)
		out->encap_src4 = cur->encap_src4;
	if (!(target->encap_src6.w[0] | target->encap_src6.w[1] | target->encap_src6.w[2] |
	      target->encap_src6.w[3]))
		out->encap_src6 = cur->encap_src6;
	/* Draining is the operator's act, not configuration: an apply or a
	 * reload does not put a drained node back in the fleet. */
	out->drained = cur->drained;
}

__u64 cp_model_node_diff(const struct cp_node *a, const struct cp_node *b)
{
	__u64 f = 0;

	f |= a->n_interfaces != b->n_interfaces ||
			     memcmp(a->interfaces, b->interfaces, sizeof(a->interfaces))
		     ? CP_F_INTERFACES
		     : 0;
	f |= a->encap_src4 != b->encap_src4 ? CP_F_ENCAP4 : 0;
	f |= memcmp(&a->encap_src6, &b->encap_src6, sizeof(a->encap_src6)) ? CP_F_ENCAP6 : 0;
	f |= strncmp(a->metrics, b->metrics, sizeof(a->metrics)) ? CP_F_METRICS : 0;
	f |= a->flow_ttl_tcp != b->flow_ttl_tcp ? CP_F_FLOW_TTL_TCP : 0;
	f |= a->flow_ttl_udp != b->flow_ttl_udp ? CP_F_FLOW_TTL_UDP : 0;
	f |= a->announce_table != b->announce_table ? CP_F_ANNOUNCE_TABLE : 0;
	/* drained is not configuration: merge keeps it, so no diff has it. */
	return f;
}

static int diff_node(struct cp_model *m, const struct cp_model *t, struct cp_error *e)
{
	struct cp_node want;
	struct cp_request r;
	int err;

	cp_model_node_merge(&m->node, &t->node, &want);
	cp_model_node_request(&want, &r);
	r.fields = cp_model_node_diff(&m->node, &want);
	if (!r.fields)
		return 0;
	err = model_apply_one(m, &r, e, 1);
	return err ? err : 1;
}

/* VIP_SET carrying exactly the settings of tv that v lacks. The check
 * fields sent are those the target's check type uses: the others reset
 * to defaults by themselves (cp_spec_canonical). */
static int diff_vip_set(struct cp_model *m, struct model_batch *b, const struct cp_vip *v,
			const struct cp_vip *tv, struct cp_error *e)
{
	struct cp_request r;
	__u64 fields;

	cp_model_vip_request(tv, &r);
	r.op = CP_OP_VIP_SET;
	fields = cp_spec_diff(&v->spec, &tv->spec) &
		 (cp_check_fields(tv->spec.check.type) | (cp_spec_fields() & ~cp_check_fields_all()));
	if (!fields)
		return 0;
	r.fields = CP_F_VIP | fields;
	return model_batch_change(m, b, &r, e);
}

static int diff_backend(struct cp_model *m, struct model_batch *b, const struct cp_vip *v,
			const struct cp_backend *be, const struct cp_vip *tv, struct cp_error *e)
{
	const struct cp_backend *tb = cp_vip_find_backend(tv, &be->addr, be->family);
	struct cp_request r;

	cp_model_backend_request(v, tb ? tb : be, &r);
	if (!tb) {
		r.op = CP_OP_BACKEND_DEL;
		r.fields = CP_F_VIP | CP_F_BACKEND;
		return model_batch_change(m, b, &r, e);
	}
	r.op = CP_OP_BACKEND_SET;
	r.fields = CP_F_VIP | CP_F_BACKEND;
	r.fields |= be->weight != tb->weight ? CP_F_WEIGHT : 0;
	r.fields |= be->draining != tb->draining ? CP_F_DRAIN : 0;
	if (r.fields == (CP_F_VIP | CP_F_BACKEND))
		return 0;
	return model_batch_change(m, b, &r, e);
}

/* Deletions and changes. Walked backwards: a deletion only moves entries
 * already visited. */
static int diff_removals(struct cp_model *m, const struct cp_model *t, struct model_batch *b,
			 struct cp_error *e)
{
	for (size_t i = m->n_vips; i-- > 0;) {
		const struct cp_vip *tv = cp_model_find_vip(t, &m->vips[i].key);
		struct cp_request r;
		int err = 0;

		if (!tv) {
			cp_model_vip_request(&m->vips[i], &r);
			r.op = CP_OP_VIP_DEL;
			r.fields = CP_F_VIP;
			err = model_batch_change(m, b, &r, e);
		}
		/* Backends go before the settings: a smaller ring must
		 * still hold every backend left (model_check.c). */
		for (size_t j = m->vips[i].n_backends; tv && !err && j-- > 0;)
			err = diff_backend(m, b, &m->vips[i], &m->vips[i].backends[j], tv, e);
		if (tv && !err)
			err = diff_vip_set(m, b, &m->vips[i], tv, e);
		if (err)
			return err;
	}
	return 0;
}

static int diff_additions(struct cp_model *m, const struct cp_model *t, struct model_batch *b,
			  struct cp_error *e)
{
	for (size_t i = 0; i < t->n_vips; i++) {
		const struct cp_vip *tv = &t->vips[i];
		struct cp_request r;
		int err = 0;

		if (!cp_model_find_vip(m, &tv->key)) {
			cp_model_vip_request(tv, &r);
			err = model_batch_change(m, b, &r, e);
		}
		for (size_t j = 0; j < tv->n_backends && !err; j++) {
			const struct cp_backend *tb = &tv->backends[j];

			if (model_vip_backend(m, cp_model_find_vip(m, &tv->key), &tb->addr,
					      tb->family))
				continue;
			cp_model_backend_request(tv, tb, &r);
			err = model_batch_change(m, b, &r, e);
		}
		if (err)
			return err;
	}
	return 0;
}

typedef int (*diff_fn)(struct cp_model *, const struct cp_model *, struct model_batch *,
		       struct cp_error *);

struct diff_step {
	const struct cp_model *target;
	diff_fn fn;
};

static int diff_fill(struct cp_model *m, struct model_batch *b, void *arg, struct cp_error *e)
{
	const struct diff_step *s = arg;

	return s->fn(m, s->target, b, e);
}

/* One batch of the diff: fill with fn, then build and push once. */
static int diff_batch(struct cp_model *m, const struct cp_model *t, diff_fn fn,
		      struct cp_error *e)
{
	struct diff_step s = { t, fn };

	return model_batch_run(m, 1, diff_fill, &s, e);
}

int cp_model_apply_diff(struct cp_model *m, const struct cp_model *target, struct cp_error *e)
{
	int n, total;

	/* Removals first and flushed on their own: the ids and the room
	 * they free are then truly free for the additions. The node's
	 * settings between the two: an encap source may take the address
	 * of a VIP removed, and a VIP added the old source's. */
	total = diff_batch(m, target, diff_removals, e);
	if (total < 0)
		return total;
	n = diff_node(m, target, e);
	if (n < 0) {
		m->stats.changes_rejected++;
		return n;
	}
	m->stats.changes_applied += (__u64)n;
	total += n;
	n = diff_batch(m, target, diff_additions, e);
	return n < 0 ? n : total + n;
}
