// SPDX-License-Identifier: Apache-2.0
/*
 * announce.c - the announced VIP addresses and their routes (announce.h).
 *
 * Runs on the control thread after every change that can move the set.
 * Cheap by design: the wanted set is a sorted array compared with the
 * sorted array of what is in the kernel, and only differences cause
 * netlink writes. The kernel is read once (at the first sync after the
 * state loaded, and when the table changes), not on every sync: nobody
 * but us writes protocol-200 routes there.
 */
#define LB_LOG_PREFIX "announce: "

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "announce.h"
#include "log.h"
#include "model_int.h"

void cp_announce_init(struct cp_announce *a, const struct cp_route_writer *w)
{
	memset(a, 0, sizeof(*a));
	a->w = *w;
}

void cp_announce_free(struct cp_announce *a)
{
	free(a->have);
	free(a->want);
	free(a->said);
	a->have = a->want = NULL;
	a->said = NULL;
	a->n_have = a->n_want = a->n_said = 0;
	a->cap_have = a->cap_want = a->cap_said = 0;
}

const char *cp_ann_addr_format(const struct cp_ann_addr *a, char *buf, size_t len)
{
	if (!cp_format_addr(&a->addr, a->family, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

static int addr_cmp(const struct cp_ann_addr *x, const struct cp_ann_addr *y)
{
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

static int addr_qcmp(const void *x, const void *y)
{
	return addr_cmp(x, y);
}

static int push(struct cp_ann_addr **v, size_t *n, size_t *cap, const struct cp_ann_addr *x)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		struct cp_ann_addr *p = realloc(*v, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = *x;
	return 0;
}

/* Sorted, each address once. */
static void sort_unique(struct cp_ann_addr *v, size_t *n)
{
	size_t k = 0;

	if (!*n)
		return;
	qsort(v, *n, sizeof(*v), addr_qcmp);
	for (size_t i = 1; i < *n; i++)
		if (addr_cmp(&v[k], &v[i]))
			v[++k] = v[i];
	*n = k + 1;
}

static int vip_in_service(const struct cp_vip *v)
{
	for (size_t j = 0; j < v->n_backends; j++)
		if (backend_usable(&v->backends[j]))
			return 1;
	return 0;
}

int cp_announce_wanted(struct cp_announce *a, const struct cp_model *m,
		       const struct cp_ann_input *in)
{
	a->n_want = 0;
	if (!m->node.announce_table || m->node.drained || !in->attached)
		return 0;
	for (size_t i = 0; i < m->n_vips; i++) {
		const struct cp_vip *v = &m->vips[i];
		struct cp_ann_addr x;

		if (!vip_in_service(v))
			continue;
		memset(&x, 0, sizeof(x));	/* padding too: entries are compared whole */
		x.addr = v->key.addr;
		x.family = v->key.family;
		if (push(&a->want, &a->n_want, &a->cap_want, &x))
			return -ENOMEM;
	}
	sort_unique(a->want, &a->n_want);
	return 0;
}

/* --- Saying a failure once --------------------------------------------- */

static struct cp_ann_said *said_find(struct cp_announce *a, const struct cp_ann_addr *x)
{
	for (size_t i = 0; i < a->n_said; i++)
		if (!addr_cmp(&a->said[i].a, x))
			return &a->said[i];
	return NULL;
}

static void say_failed(struct cp_announce *a, const struct cp_ann_addr *x, int add, int err,
		       __u32 table)
{
	struct cp_ann_said *s = said_find(a, x);
	char buf[64];

	if (s && s->err == err && s->add == add)
		return;
	pr_warn("cannot %s the route of %s in table %u: %s (retried on every change and "
		"every second)\n", add ? "add" : "delete", cp_ann_addr_format(x, buf, sizeof(buf)),
		table, strerror(-err));
	if (s) {
		s->err = err;
		s->add = add;
		return;
	}
	if (a->n_said == a->cap_said) {
		size_t c = a->cap_said ? 2 * a->cap_said : 8;
		struct cp_ann_said *p = realloc(a->said, c * sizeof(*p));

		if (!p)
			return;	/* then said again next time: better than never */
		a->said = p;
		a->cap_said = c;
	}
	a->said[a->n_said++] = (struct cp_ann_said){ *x, err, add };
}

static void say_done(struct cp_announce *a, const struct cp_ann_addr *x, int add)
{
	struct cp_ann_said *s = said_find(a, x);
	char buf[64];

	if (!s)
		return;
	pr_info("%s %s now\n", add ? "announced" : "withdrew",
		cp_ann_addr_format(x, buf, sizeof(buf)));
	*s = a->said[--a->n_said];
}

/* --- Writing ----------------------------------------------------------- */

static int do_add(struct cp_announce *a, const struct cp_ann_addr *x)
{
	int err = a->w.add(a->w.ctx, a->table, x);

	a->writes++;
	if (err) {
		say_failed(a, x, 1, err, a->table);
		return err;
	}
	say_done(a, x, 1);
	return 0;
}

static int do_del(struct cp_announce *a, const struct cp_ann_addr *x)
{
	int err = a->w.del(a->w.ctx, a->table, x);

	a->writes++;
	if (err == -ESRCH || err == -ENOENT)
		err = 0;	/* gone already: what we wanted */
	if (err) {
		say_failed(a, x, 0, err, a->table);
		return err;
	}
	say_done(a, x, 0);
	return 0;
}

static int collect(void *arg, const struct cp_ann_addr *x)
{
	struct cp_announce *a = arg;
	struct cp_ann_addr c;

	memset(&c, 0, sizeof(c));
	c.addr = x->addr;
	c.family = x->family;
	return push(&a->have, &a->n_have, &a->cap_have, &c);
}

/* What a previous process (or we, before the table changed) left there. */
static int read_table(struct cp_announce *a, __u32 table)
{
	int err = 0;

	a->n_have = 0;
	a->table = table;
	if (table)
		err = a->w.list(a->w.ctx, table, collect, a);
	if (err) {
		a->n_have = 0;
		if (!a->known && !a->pending)
			pr_warn("cannot read routing table %u: %s (retried every second)\n", table,
				strerror(-err));
		return err;
	}
	sort_unique(a->have, &a->n_have);
	a->known = 1;
	if (a->n_have)
		pr_info("table %u: %zu routes of ours already there\n", table, a->n_have);
	return 0;
}

/* have := want, writing the differences. Both sorted. */
static int reconcile(struct cp_announce *a)
{
	struct cp_ann_addr *next = NULL;
	size_t n = 0, cap = 0, i = 0, j = 0;
	int failed = 0;

	while (i < a->n_want || j < a->n_have) {
		int c = i == a->n_want ? 1 : j == a->n_have ? -1 :
			addr_cmp(&a->want[i], &a->have[j]);
		const struct cp_ann_addr *keep = NULL;

		if (c < 0) {
			if (!do_add(a, &a->want[i]))
				keep = &a->want[i];
			else
				failed++;
			i++;
		} else if (c > 0) {
			if (do_del(a, &a->have[j])) {
				keep = &a->have[j];
				failed++;
			}
			j++;
		} else {
			keep = &a->want[i];
			i++;
			j++;
		}
		if (keep && push(&next, &n, &cap, keep)) {
			free(next);
			return -ENOMEM;
		}
	}
	free(a->have);
	a->have = next;
	a->n_have = n;
	a->cap_have = cap;
	a->pending = failed > 0;
	return failed;
}

/* Moves to table: withdraws everything from the old one first (a route
 * left behind there would be announced by nobody's intent), then reads
 * the new one. */
static int reach_table(struct cp_announce *a, __u32 table)
{
	int err;

	if (a->known && a->table != table) {
		size_t n_want = a->n_want;

		a->n_want = 0;
		err = reconcile(a);
		a->n_want = n_want;
		if (err) {
			a->pending = 1;
			return err;
		}
		a->known = 0;
	}
	if (!a->known) {
		err = read_table(a, table);
		if (err) {
			a->pending = 1;
			return err;
		}
	}
	return 0;
}

int cp_announce_sync(struct cp_announce *a, const struct cp_model *m,
		     const struct cp_ann_input *in)
{
	int err = cp_announce_wanted(a, m, in);

	if (!err)
		err = reach_table(a, m->node.announce_table);
	if (err) {
		a->pending = 1;
		return err;
	}
	return reconcile(a);
}

int cp_announce_withdraw(struct cp_announce *a)
{
	if (!a->known)
		return 0;	/* never read: nothing of ours is known to be there */
	a->n_want = 0;
	return reconcile(a);
}
