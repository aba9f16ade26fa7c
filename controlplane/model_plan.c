// SPDX-License-Identifier: Apache-2.0
/*
 * model_plan.c - what applying a whole configuration would change
 * (cp_model_plan), for `sluicectl diff`, `apply --dry-run` and the guard
 * that refuses a reload which would silently undo an operator's runtime
 * change. Compares models structurally and formats config lines only for
 * what differs, so a plan over 100,000 backends costs little more than
 * walking them.
 */
#define LB_LOG_PREFIX "model: "

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"

#include "model_int.h"

/* Longest line of an object: a VIP with every check option. */
#define PLAN_LINE_MAX 4096

static int vip_same(const struct cp_vip *a, const struct cp_vip *b)
{
	return a && b && !cp_spec_diff(&a->spec, &b->spec);
}

static int backend_same(const struct cp_backend *a, const struct cp_backend *b)
{
	return a && b && a->weight == b->weight && a->draining == b->draining;
}

static const struct cp_backend *find_backend(const struct cp_vip *v, const struct cp_backend *b)
{
	return v ? cp_vip_find_backend(v, &b->addr, b->family) : NULL;
}

static char *format_line(const struct cp_request *r)
{
	char buf[PLAN_LINE_MAX];

	return cp_cmd_format(r, buf, sizeof(buf)) < 0 ? NULL : strdup(buf);
}

static char *vip_line(const struct cp_vip *v)
{
	struct cp_request r;

	if (!v)
		return NULL;
	cp_model_vip_request(v, &r);
	return format_line(&r);
}

static char *backend_line(const struct cp_vip *v, const struct cp_backend *b)
{
	struct cp_request r;

	if (!b)
		return NULL;
	cp_model_backend_request(v, b, &r);
	return format_line(&r);
}

static char *node_line(const struct cp_node *n)
{
	struct cp_request r;

	cp_model_node_request(n, &r);
	return r.fields ? format_line(&r) : strdup("");
}

/* Takes from and to; formatted is 0 when a line that should be there
 * could not be made. */
static int plan_add(struct cp_plan *p, char *from, char *to, int added, int removed, int lines,
		    int runtime, int formatted)
{
	if (formatted && p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct cp_plan_change *c = realloc(p->changes, cap * sizeof(*c));

		if (c) {
			p->changes = c;
			p->cap = cap;
		}
		formatted = c != NULL;
	}
	if (!formatted) {
		free(from);
		free(to);
		return -ENOMEM;
	}
	p->changes[p->n++] = (struct cp_plan_change){ from, to, (__u8)added, (__u8)removed,
						      (__u8)lines, runtime };
	p->n_runtime += runtime != 0;
	p->n_lines += lines && !runtime;
	return 0;
}

/* Lines are made for every runtime change and for the first lines_max
 * others: an apply of 100,000 backends lists a thousand and counts the
 * rest, and formatting them all was a fifth of its plan. */
static int want_lines(const struct cp_plan *p, int runtime)
{
	return p->lines_max && (runtime || p->n_lines < p->lines_max);
}

static int plan_vip(struct cp_plan *p, const struct cp_vip *from, const struct cp_vip *to,
		    int runtime)
{
	int lines = want_lines(p, runtime);
	char *a = lines ? vip_line(from) : NULL, *b = lines ? vip_line(to) : NULL;

	return plan_add(p, a, b, !from, !to, lines, runtime,
			!lines || ((!from || a) && (!to || b)));
}

static int plan_backend(struct cp_plan *p, const struct cp_vip *fv, const struct cp_backend *from,
			const struct cp_vip *tv, const struct cp_backend *to, int runtime)
{
	int lines = want_lines(p, runtime);
	char *a = lines ? backend_line(fv, from) : NULL, *b = lines ? backend_line(tv, to) : NULL;

	return plan_add(p, a, b, !from, !to, lines, runtime,
			!lines || ((!from || a) && (!to || b)));
}

static int plan_node(struct cp_plan *p, const struct cp_model *run, const struct cp_model *base,
		     const struct cp_model *target)
{
	int runtime = cp_model_node_diff(&run->node, &base->node) != 0, lines;
	struct cp_node after;
	char *a, *b;

	cp_model_node_merge(&run->node, &target->node, &after);
	if (!cp_model_node_diff(&run->node, &after))
		return 0;
	lines = want_lines(p, runtime);
	a = lines ? node_line(&run->node) : NULL;
	b = lines ? node_line(&after) : NULL;
	return plan_add(p, a, b, 0, 0, lines, runtime, !lines || (a && b));
}

/* Everything of running VIP rv that the target removes or changes. */
static int plan_running_vip(struct cp_plan *p, const struct cp_vip *rv, const struct cp_vip *bv,
			    const struct cp_vip *tv)
{
	int err = 0;

	if (!tv || !vip_same(rv, tv))
		err = plan_vip(p, rv, tv, !vip_same(rv, bv));
	for (size_t i = 0; i < rv->n_backends && !err; i++) {
		const struct cp_backend *rb = &rv->backends[i];
		const struct cp_backend *tb = find_backend(tv, rb);

		if (!backend_same(rb, tb))
			err = plan_backend(p, rv, rb, tv, tb, !backend_same(rb, find_backend(bv, rb)));
	}
	/* Backends of a VIP both have that only the target has. */
	for (size_t i = 0; tv && i < tv->n_backends && !err; i++) {
		const struct cp_backend *tb = &tv->backends[i];

		if (!find_backend(rv, tb))
			err = plan_backend(p, rv, NULL, tv, tb, find_backend(bv, tb) != NULL);
	}
	return err;
}

/* A VIP only the target has, with its backends. Undoing a runtime
 * change means the operator deleted it (or a backend) since the base. */
static int plan_new_vip(struct cp_plan *p, const struct cp_vip *tv, const struct cp_vip *bv)
{
	int err = plan_vip(p, NULL, tv, bv != NULL);

	for (size_t i = 0; i < tv->n_backends && !err; i++)
		err = plan_backend(p, NULL, NULL, tv, &tv->backends[i],
				   find_backend(bv, &tv->backends[i]) != NULL);
	return err;
}

static void plan_empties(struct cp_plan *p, const struct cp_model *run,
			 const struct cp_model *target)
{
	if (run->n_vips && !target->n_vips)
		snprintf(p->empties, sizeof(p->empties), "it removes every VIP (%zu)", run->n_vips);
	else if (run->node.n_interfaces && !target->node.n_interfaces)
		snprintf(p->empties, sizeof(p->empties),
			 "it detaches the fast path from every interface");
}

int cp_model_plan(const struct cp_model *running, const struct cp_model *base,
		  const struct cp_model *target, size_t lines_max, struct cp_plan *p)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->lines_max = lines_max;
	plan_empties(p, running, target);
	err = plan_node(p, running, base, target);
	for (size_t i = 0; i < running->n_vips && !err; i++) {
		const struct cp_vip *rv = &running->vips[i];

		model_yield(running);
		err = plan_running_vip(p, rv, cp_model_find_vip(base, &rv->key),
				       cp_model_find_vip(target, &rv->key));
	}
	for (size_t i = 0; i < target->n_vips && !err; i++) {
		const struct cp_vip *tv = &target->vips[i];

		model_yield(running);
		if (!cp_model_find_vip(running, &tv->key))
			err = plan_new_vip(p, tv, cp_model_find_vip(base, &tv->key));
	}
	if (err)
		cp_plan_free(p);
	return err;
}

void cp_plan_free(struct cp_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->changes[i].from);
		free(p->changes[i].to);
	}
	free(p->changes);
	memset(p, 0, sizeof(*p));
}
