// SPDX-License-Identifier: Apache-2.0
/*
 * test_announce.c - controlplane/announce.c.
 *
 * The wanted set: a model built from sluicectl command lines (no fast
 * path; "attached" is the daemon's to say and given here), checked for
 * every rule that keeps an address out. Reconciling: against a fake route
 * writer that records what is in its "kernel" and can be told to fail,
 * so that only differences are written, a table change moves the routes,
 * a failed write is retried and logged once. Runs unprivileged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "cmd.h"
#include "log.h"
#include "model.h"

/* ---- the model, from command lines ---------------------------------- */

static void apply(struct cp_model *m, const char *line)
{
	char buf[1024], *w[32];
	struct cp_request r;
	struct cp_error e;
	int n;

	memset(&e, 0, sizeof(e));
	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, w, 32);
	if (n <= 0 || cp_cmd_parse(n, w, &r, &e))
		fail_msg("cannot parse '%s': %s: %s", line, e.field, e.msg);
	if (cp_model_apply(m, &r, &e))
		fail_msg("'%s' refused: %s: %s", line, e.field, e.msg);
}

static void refused(struct cp_model *m, const char *line, const char *msg_part)
{
	char buf[1024], *w[32];
	struct cp_request r;
	struct cp_error e;
	int n;

	memset(&e, 0, sizeof(e));
	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, w, 32);
	if (n <= 0 || cp_cmd_parse(n, w, &r, &e))
		fail_msg("cannot parse '%s': %s: %s", line, e.field, e.msg);
	if (!cp_model_apply(m, &r, &e))
		fail_msg("'%s' taken", line);
	if (!strstr(e.msg, msg_part))
		fail_msg("'%s': message '%s' lacks '%s'", line, e.msg, msg_part);
}

static const struct cp_ann_input attached = { 1 };

/* The wanted set as text: "10.100.0.1 2001:db8::1". */
static const char *wanted(struct cp_announce *a, const struct cp_model *m,
			  const struct cp_ann_input *in)
{
	static char out[512];
	char buf[64];

	out[0] = '\0';
	assert_int_equal(cp_announce_wanted(a, m, in), 0);
	for (size_t i = 0; i < a->n_want; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "",
			 cp_ann_addr_format(&a->want[i], buf, sizeof(buf)));
	return out;
}

/* ---- a kernel table of our routes --------------------------------- */

#define FAKE_MAX 64

struct fake {
	struct {
		__u32 table;
		struct cp_ann_addr a;
	} r[FAKE_MAX];
	size_t n;
	int adds, dels, lists;
	int fail_add;		/* -errno for every add, 0: none */
	int fail_list;
};

static int fake_find(struct fake *f, __u32 table, const struct cp_ann_addr *a)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->r[i].table == table && f->r[i].a.family == a->family &&
		    !memcmp(&f->r[i].a.addr, &a->addr, sizeof(a->addr)))
			return (int)i;
	return -1;
}

static int fake_add(void *ctx, __u32 table, const struct cp_ann_addr *a)
{
	struct fake *f = ctx;

	f->adds++;
	assert_int_not_equal(table, 0);
	if (f->fail_add)
		return f->fail_add;
	if (fake_find(f, table, a) < 0) {
		assert_true(f->n < FAKE_MAX);
		f->r[f->n].table = table;
		f->r[f->n++].a = *a;
	}
	return 0;
}

static int fake_del(void *ctx, __u32 table, const struct cp_ann_addr *a)
{
	struct fake *f = ctx;
	int i = fake_find(f, table, a);

	f->dels++;
	if (i < 0)
		return -ESRCH;
	f->r[i] = f->r[--f->n];
	return 0;
}

static int fake_list(void *ctx, __u32 table, cp_ann_list_fn fn, void *arg)
{
	struct fake *f = ctx;

	f->lists++;
	if (f->fail_list)
		return f->fail_list;
	for (size_t i = 0; i < f->n; i++)
		if (f->r[i].table == table && fn(arg, &f->r[i].a))
			return -ENOMEM;
	return 0;
}

static size_t fake_count(const struct fake *f, __u32 table)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		n += f->r[i].table == table;
	return n;
}

static struct cp_ann_addr addr_of(const char *s)
{
	struct cp_ann_addr a;

	memset(&a, 0, sizeof(a));
	a.family = strchr(s, ':') ? LB_FAMILY_V6 : LB_FAMILY_V4;
	assert_int_equal(inet_pton(a.family == LB_FAMILY_V4 ? AF_INET : AF_INET6, s, &a.addr), 1);
	return a;
}

static int fake_has(struct fake *f, __u32 table, const char *s)
{
	struct cp_ann_addr a = addr_of(s);

	return fake_find(f, table, &a) >= 0;
}

/* Warnings counted, to tell "logged once" from "logged every retry". */
static int warnings;

static void count_sink(int level, const char *fmt, va_list ap, void *arg)
{
	(void)fmt;
	(void)ap;
	(void)arg;
	warnings += level == LB_LOG_WARN;
}

static void model_with_table(struct cp_model *m)
{
	assert_int_equal(cp_model_init(m, NULL, NULL), 0);
	apply(m, "node set --announce-table 100");
	apply(m, "vip add 10.100.0.1:80/tcp");
	apply(m, "backend add 10.100.0.1:80/tcp 10.0.0.2");
}

/* Most tests: a model with table 100 and VIP 10.100.0.1 with one
 * backend, and an announcer writing to a fake kernel. */
struct tfx {
	struct cp_announce a;
	struct cp_model m;
	struct fake f;
};

static int setup(void **state)
{
	struct tfx *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	model_with_table(&t->m);
	cp_announce_init(&t->a, &(struct cp_route_writer){ fake_add, fake_del, fake_list, &t->f });
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tfx *t = *state;

	cp_announce_free(&t->a);
	cp_model_free(&t->m);
	free(t);
	return 0;
}

/* ---- the wanted set ------------------------------------------------- */

static void test_no_table(void **state)
{
	struct cp_announce a;
	struct cp_model m;
	struct fake f = { 0 };

	(void)state;
	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	apply(&m, "vip add 10.100.0.1:80/tcp");
	apply(&m, "backend add 10.100.0.1:80/tcp 10.0.0.2");
	cp_announce_init(&a, &(struct cp_route_writer){ fake_add, fake_del, fake_list, &f });
	assert_string_equal(wanted(&a, &m, &attached), "");
	apply(&m, "node set --announce-table 100");
	assert_string_equal(wanted(&a, &m, &attached), "10.100.0.1");
	apply(&m, "node set --announce-table 0");
	assert_string_equal(wanted(&a, &m, &attached), "");
	cp_announce_free(&a);
	cp_model_free(&m);
}

static void test_in_service(void **state)
{
	struct tfx *t = *state;

	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1");
	/* A VIP without backends announces nothing. */
	apply(&t->m, "vip add 10.100.0.9:80/tcp");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1");
}

static void test_all_down(void **state)
{
	struct tfx *t = *state;

	apply(&t->m, "backend add 10.100.0.1:80/tcp 10.0.0.3");
	apply(&t->m, "health set 10.100.0.1:80/tcp 10.0.0.2 down");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1");
	apply(&t->m, "health set 10.100.0.1:80/tcp 10.0.0.3 down");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "");
	apply(&t->m, "health clear 10.100.0.1:80/tcp 10.0.0.3");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1");
}

static void test_drained_or_weight0(void **state)
{
	struct tfx *t = *state;

	apply(&t->m, "backend add 10.100.0.1:80/tcp 10.0.0.3 --weight 0");
	apply(&t->m, "backend set 10.100.0.1:80/tcp 10.0.0.2 --drain");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "");
	apply(&t->m, "backend set 10.100.0.1:80/tcp 10.0.0.3 --weight 1");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1");
}

static void test_two_vips_one_address(void **state)
{
	struct tfx *t = *state;

	apply(&t->m, "vip add 10.100.0.1:443/tcp");
	apply(&t->m, "vip add 10.100.0.1:53/udp");
	apply(&t->m, "backend add 10.100.0.1:53/udp 10.0.0.5");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1");
	assert_int_equal(t->a.n_want, 1);
	/* One VIP of the address without backends in service is enough. */
	apply(&t->m, "health set 10.100.0.1:80/tcp 10.0.0.2 down");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1");
	apply(&t->m, "health set 10.100.0.1:53/udp 10.0.0.5 down");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "");
}

static void test_ipv6(void **state)
{
	struct tfx *t = *state;

	apply(&t->m, "vip add [2001:db8::1]:443/tcp");
	apply(&t->m, "backend add [2001:db8::1]:443/tcp 2001:db8:1::11");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1 2001:db8::1");
}

static void test_node_drained(void **state)
{
	struct tfx *t = *state;

	apply(&t->m, "node set --drained");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "");
}

static void test_not_attached(void **state)
{
	const struct cp_ann_input detached = { 0 };
	struct tfx *t = *state;

	assert_string_equal(wanted(&t->a, &t->m, &detached), "");
	assert_string_equal(wanted(&t->a, &t->m, &attached), "10.100.0.1");
}

static void test_reserved_tables(void **state)
{
	struct cp_model m;

	(void)state;
	assert_int_equal(cp_model_init(&m, NULL, NULL), 0);
	refused(&m, "node set --announce-table 253", "default");
	refused(&m, "node set --announce-table 254", "main");
	refused(&m, "node set --announce-table 255", "local");
	assert_int_equal(m.node.announce_table, 0);
	apply(&m, "node set --announce-table 252");
	apply(&m, "node set --announce-table 256");
	assert_int_equal(m.node.announce_table, 256);
	cp_model_free(&m);
}

/* ---- reconciling ---------------------------------------------------- */

static void test_only_differences(void **state)
{
	struct tfx *t = *state;
	struct cp_ann_addr stale = addr_of("10.100.0.77"), kept = addr_of("10.100.0.1");

	/* What a previous process left: one still wanted, one not, and one
	 * in another table that is not ours to judge. */
	fake_add(&t->f, 100, &stale);
	fake_add(&t->f, 100, &kept);
	fake_add(&t->f, 7, &stale);
	t->f.adds = 0;
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 0);
	assert_int_equal(t->f.lists, 1);
	assert_int_equal(t->f.adds, 0);	/* the wanted one was there: not rewritten */
	assert_int_equal(t->f.dels, 1);
	assert_false(fake_has(&t->f, 100, "10.100.0.77"));
	assert_true(fake_has(&t->f, 100, "10.100.0.1"));
	assert_true(fake_has(&t->f, 7, "10.100.0.77"));

	/* Nothing changed: nothing written, the kernel not read again. */
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 0);
	assert_int_equal(t->f.adds + t->f.dels, 1);
	assert_int_equal(t->f.lists, 1);

	/* One more address: one add. */
	apply(&t->m, "vip add [2001:db8::1]:443/tcp");
	apply(&t->m, "backend add [2001:db8::1]:443/tcp 2001:db8:1::11");
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 0);
	assert_int_equal(t->f.adds, 1);
	assert_true(fake_has(&t->f, 100, "2001:db8::1"));

	/* Table 100 -> 101: withdrawn there, announced here. */
	apply(&t->m, "node set --announce-table 101");
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 0);
	assert_int_equal(fake_count(&t->f, 100), 0);
	assert_int_equal(fake_count(&t->f, 101), 2);

	/* 0: every route withdrawn. */
	apply(&t->m, "node set --announce-table 0");
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 0);
	assert_int_equal(fake_count(&t->f, 101), 0);
	assert_int_equal(t->a.n_have, 0);

	/* The explicit stop. */
	apply(&t->m, "node set --announce-table 100");
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 0);
	assert_int_equal(fake_count(&t->f, 100), 2);
	assert_int_equal(cp_announce_withdraw(&t->a), 0);
	assert_int_equal(fake_count(&t->f, 100), 0);
}

static void test_failed_write_retried(void **state)
{
	struct tfx *t = *state;

	warnings = 0;
	lb_log_set_sink(count_sink, NULL);
	t->f.fail_add = -ENETUNREACH;
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 1);
	assert_true(t->a.pending);
	assert_int_equal(warnings, 1);
	/* Retried each time, said once. */
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 1);
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 1);
	assert_int_equal(t->f.adds, 3);
	assert_int_equal(warnings, 1);
	/* Another error is news: said once more. */
	t->f.fail_add = -EPERM;
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 1);
	assert_int_equal(warnings, 2);
	/* Then it works: the route is there, nothing pending. */
	t->f.fail_add = 0;
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 0);
	assert_false(t->a.pending);
	assert_true(fake_has(&t->f, 100, "10.100.0.1"));
	assert_int_equal(warnings, 2);
	/* Failing again after a success is said again. */
	apply(&t->m, "vip add 10.100.0.2:80/tcp");
	apply(&t->m, "backend add 10.100.0.2:80/tcp 10.0.0.2");
	t->f.fail_add = -ENETUNREACH;
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 1);
	assert_int_equal(warnings, 3);
	lb_log_set_sink(NULL, NULL);
}

static void test_unreadable_table(void **state)
{
	struct tfx *t = *state;

	t->f.fail_list = -EIO;
	/* Nothing written while what is there is unknown. */
	assert_true(cp_announce_sync(&t->a, &t->m, &attached) < 0);
	assert_int_equal(t->f.adds + t->f.dels, 0);
	assert_true(t->a.pending);
	t->f.fail_list = 0;
	assert_int_equal(cp_announce_sync(&t->a, &t->m, &attached), 0);
	assert_true(fake_has(&t->f, 100, "10.100.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_table),
		cmocka_unit_test_setup_teardown(test_in_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drained_or_weight0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_vips_one_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_attached, setup, teardown),
		cmocka_unit_test(test_reserved_tables),
		cmocka_unit_test_setup_teardown(test_only_differences, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_table, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
