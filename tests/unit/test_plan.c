// SPDX-License-Identifier: Apache-2.0
/*
 * test_plan.c - cp_model_plan (controlplane/model_plan.c): what applying
 * a configuration would change, and which of those changes undo what an
 * operator changed at runtime since the last apply (three-way: running,
 * base, target). Models are built from config scripts, as sluiced builds
 * them from files; the plan must also agree with what
 * cp_model_apply_diff then really does. And cp_model_apply_many: a batch
 * of changes is applied whole or not at all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "model.h"

#define V1 "10.100.0.1:80/tcp"
#define V2 "10.100.0.2:443/tcp"

#define BASE                                              \
	"node set --interface eth0 --encap-source 192.0.2.10\n" \
	"vip add " V1 "\n"                                \
	"backend add " V1 " 10.200.0.11\n"               \
	"backend add " V1 " 10.200.0.12\n"

static void load(struct cp_model *m, const char *text)
{
	struct cp_error e = { "", "" };
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	assert_non_null(f);
	assert_int_equal(cp_model_init(m, NULL, NULL), 0);
	if (cp_model_load(m, f, "test", &e))
		fail_msg("%s: %s", e.field, e.msg);
	fclose(f);
}

struct three {
	struct cp_model run, base, target;
	struct cp_plan p;
};

static void plan(struct three *t, const char *run, const char *base, const char *target)
{
	load(&t->run, run);
	load(&t->base, base);
	load(&t->target, target);
	assert_int_equal(cp_model_plan(&t->run, &t->base, &t->target, SIZE_MAX, &t->p), 0);
}

static void three_free(struct three *t)
{
	cp_plan_free(&t->p);
	cp_model_free(&t->run);
	cp_model_free(&t->base);
	cp_model_free(&t->target);
}

/* The change whose from (or, with from NULL, to) line is line. */
static const struct cp_plan_change *change(const struct cp_plan *p, const char *from,
					   const char *to)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct cp_plan_change *c = &p->changes[i];

		if ((from ? c->from && !strcmp(c->from, from) : !c->from) &&
		    (to ? c->to && !strcmp(c->to, to) : !c->to))
			return c;
	}
	fail_msg("no change '%s' -> '%s' in a plan of %zu", from ? from : "(none)",
		 to ? to : "(none)", p->n);
	return NULL;
}

static void test_same_is_empty(void **state)
{
	struct three t = { 0 };

	(void)state;
	plan(&t, BASE, BASE, BASE);
	assert_int_equal(t.p.n, 0);
	assert_int_equal(t.p.n_runtime, 0);
	assert_string_equal(t.p.empties, "");
	three_free(&t);
}

/* The file changed, nobody changed anything at runtime: plain changes. */
static void test_file_changes_are_not_runtime(void **state)
{
	struct three t = { 0 };

	(void)state;
	plan(&t, BASE, BASE,
	     "node set --interface eth0 --encap-source 192.0.2.10\n"
	     "vip add " V1 " --ring 251\n"
	     "backend add " V1 " 10.200.0.11 --weight 50\n"
	     "vip add " V2 "\n"
	     "backend add " V2 " 10.200.0.21\n");
	assert_int_equal(t.p.n, 5);
	assert_int_equal(t.p.n_runtime, 0);
	change(&t.p, "vip add " V1, "vip add " V1 " --ring 251");
	change(&t.p, "backend add " V1 " 10.200.0.11", "backend add " V1 " 10.200.0.11 --weight 50");
	change(&t.p, "backend add " V1 " 10.200.0.12", NULL);
	change(&t.p, NULL, "vip add " V2);
	change(&t.p, NULL, "backend add " V2 " 10.200.0.21");
	three_free(&t);
}

/* Issue: a reload after `sluicectl vip add` deleted that VIP silently.
 * Every kind of runtime change the target would undo is marked. */
static void test_runtime_changes_marked(void **state)
{
	struct three t = { 0 };

	(void)state;
	plan(&t,
	     "node set --interface eth0 --encap-source 192.0.2.10\n"
	     "vip add " V1 "\n"
	     "backend add " V1 " 10.200.0.11 --drain\n"	/* drained at runtime */
	     "vip add " V2 "\n"				/* added at runtime */
	     "backend add " V2 " 10.200.0.21\n",
	     BASE, BASE);	/* 10.200.0.12 deleted at runtime */
	assert_int_equal(t.p.n, 4);
	assert_int_equal(t.p.n_runtime, 4);
	assert_true(change(&t.p, "backend add " V1 " 10.200.0.11 --drain",
			   "backend add " V1 " 10.200.0.11")->runtime);
	assert_true(change(&t.p, "vip add " V2, NULL)->runtime);
	assert_true(change(&t.p, "backend add " V2 " 10.200.0.21", NULL)->runtime);
	assert_true(change(&t.p, NULL, "backend add " V1 " 10.200.0.12")->runtime);
	three_free(&t);
}

/* A runtime change the new file adopts is no conflict; one it leaves
 * as it runs neither; the file's own change to another object is plain. */
static void test_runtime_change_kept_by_file(void **state)
{
	const char *run = "node set --interface eth0 --encap-source 192.0.2.10\n"
			  "vip add " V1 "\n"
			  "backend add " V1 " 10.200.0.11 --weight 7\n"
			  "backend add " V1 " 10.200.0.12\n";
	struct three t = { 0 };

	(void)state;
	plan(&t, run, BASE,
	     "node set --interface eth0 --encap-source 192.0.2.10\n"
	     "vip add " V1 "\n"
	     "backend add " V1 " 10.200.0.11 --weight 7\n"
	     "backend add " V1 " 10.200.0.12 --weight 9\n");
	assert_int_equal(t.p.n, 1);
	assert_int_equal(t.p.n_runtime, 0);
	assert_false(change(&t.p, "backend add " V1 " 10.200.0.12",
			    "backend add " V1 " 10.200.0.12 --weight 9")->runtime);
	three_free(&t);
}

/* Without a base (nothing applied yet) every running object counts as a
 * runtime change: the guard errs on the side of asking. */
static void test_no_base_asks(void **state)
{
	struct three t = { 0 };

	(void)state;
	plan(&t, BASE, "", "node set --interface eth0 --encap-source 192.0.2.10\n"
			   "vip add " V1 "\n"
			   "backend add " V1 " 10.200.0.11\n");
	assert_int_equal(t.p.n, 1);
	assert_int_equal(t.p.n_runtime, 1);
	three_free(&t);
}

/* Issue: an empty or comment-only file wiped every VIP and detached XDP. */
static void test_empty_target(void **state)
{
	struct three t = { 0 };

	(void)state;
	plan(&t, BASE, BASE, "# nothing\n");
	assert_int_equal(t.p.n_runtime, 0);
	assert_non_null(strstr(t.p.empties, "every VIP"));
	three_free(&t);
	memset(&t, 0, sizeof(t));
	plan(&t, BASE, BASE, "vip add " V1 "\nbackend add " V1 " 10.200.0.11\n"
			     "backend add " V1 " 10.200.0.12\n");
	assert_non_null(strstr(t.p.empties, "every interface"));
	three_free(&t);
}

/* The node as the diff leaves it: interfaces in another order and a
 * missing encap source change nothing (cp_model_node_merge). */
static void test_node_merge(void **state)
{
	struct three t = { 0 };

	(void)state;
	plan(&t, "node set --interface eth0 --interface eth1 --encap-source 192.0.2.10\n",
	     "", "node set --interface eth1 --interface eth0\n");
	assert_int_equal(t.p.n, 0);
	three_free(&t);
	memset(&t, 0, sizeof(t));
	plan(&t, "node set --interface eth0 --flow-ttl-tcp 1h\n", "node set --interface eth0\n",
	     "node set --interface eth0\n");
	assert_int_equal(t.p.n, 1);
	assert_int_equal(t.p.n_runtime, 1);
	change(&t.p, "node set --interface eth0 --flow-ttl-tcp 1h", "node set --interface eth0");
	three_free(&t);
}

/* The plan says what the diff does: after cp_model_apply_diff, a plan
 * from the result to the same target is empty, and the number of
 * objects changed matches. */
static void test_plan_matches_apply(void **state)
{
	const char *target = "node set --interface eth1 --encap-source 192.0.2.11\n"
			     "vip add " V1 " --check tcp\n"
			     "backend add " V1 " 10.200.0.12 --drain\n"
			     "backend add " V1 " 10.200.0.13\n"
			     "vip add " V2 "\n"
			     "backend add " V2 " 10.200.0.21\n";
	struct cp_error e = { "", "" };
	struct three t = { 0 };
	struct cp_plan again;

	(void)state;
	plan(&t, BASE, BASE, target);
	assert_int_equal(t.p.n, 7);
	assert_true(cp_model_apply_diff(&t.run, &t.target, &e) > 0);
	assert_int_equal(cp_model_plan(&t.run, &t.base, &t.target, SIZE_MAX, &again), 0);
	assert_int_equal(again.n, 0);
	cp_plan_free(&again);
	three_free(&t);
}

/* ---- cp_model_apply_many: a multi-command request is one transaction ---- */

static void parse_into(struct cp_request *r, const char *line)
{
	char buf[512], *w[32];
	struct cp_error e = { "", "" };
	int n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, w, 32);
	assert_true(n > 0);
	if (cp_cmd_parse(n, w, r, &e))
		fail_msg("%s: %s: %s", line, e.field, e.msg);
}

static char *saved(const struct cp_model *m)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(cp_model_save(m, f), 0);
	fclose(f);
	return text;
}

static void test_batch_all_or_nothing(void **state)
{
	static const char *const ok[] = {
		"vip add " V2, "backend add " V2 " 10.200.0.21", "backend add " V2 " 10.200.0.22",
		"backend set " V1 " 10.200.0.11 --drain", "backend del " V1 " 10.200.0.12",
	};
	static const char *const bad[] = {
		"backend del " V1 " 10.200.0.11", "vip del " V1,
		"backend add " V1 " 10.200.0.13",	/* its VIP is gone */
	};
	struct cp_request rs[5];
	struct cp_error e = { "", "" };
	struct cp_model m;
	size_t at;
	char *before, *after;

	(void)state;
	load(&m, BASE);
	for (size_t i = 0; i < 3; i++)
		parse_into(&rs[i], bad[i]);
	before = saved(&m);
	assert_int_equal(cp_model_apply_many(&m, rs, 3, &at, &e), -ENOENT);
	assert_int_equal(at, 2);
	after = saved(&m);
	assert_string_equal(before, after);	/* the first two were rolled back */
	free(after);

	parse_into(&rs[0], "node set --interface eth1");
	assert_int_equal(cp_model_apply_many(&m, rs, 1, &at, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "cannot be part of a batch"));

	for (size_t i = 0; i < 5; i++)
		parse_into(&rs[i], ok[i]);
	assert_int_equal(cp_model_apply_many(&m, rs, 5, &at, &e), 0);
	assert_int_equal(m.n_vips, 2);
	assert_int_equal(cp_model_find_vip(&m, &rs[0].vip)->n_backends, 2);
	assert_int_equal(m.vips[0].n_backends, 1);
	assert_true(m.vips[0].backends[0].draining);
	free(before);
	cp_model_free(&m);
}

/* The address index behind "a VIP must not be a backend": it follows
 * backends added, removed, and added in a batch that was rolled back. */
static void test_backend_address_index(void **state)
{
	struct cp_request rs[2], r;
	struct cp_error e = { "", "" };
	struct cp_model m;
	size_t at;

	(void)state;
	load(&m, BASE);
	parse_into(&r, "vip add 10.200.0.11:443/tcp");
	assert_int_equal(cp_model_apply(&m, &r, &e), -EINVAL);	/* a backend's address */
	assert_non_null(strstr(e.msg, "10.200.0.11"));

	parse_into(&rs[0], "backend add " V1 " 10.200.0.50");
	parse_into(&rs[1], "backend add " V1 " 10.200.0.11");	/* exists: refused */
	assert_true(cp_model_apply_many(&m, rs, 2, &at, &e) < 0);
	parse_into(&r, "vip add 10.200.0.50:443/tcp");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);	/* rolled back: no backend there */

	parse_into(&r, "backend del " V1 " 10.200.0.11");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	parse_into(&r, "vip add 10.200.0.11:443/tcp");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	parse_into(&r, "vip del 10.200.0.11:443/tcp");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	parse_into(&r, "vip del " V1);
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);	/* takes 10.200.0.12 with it */
	parse_into(&r, "vip add 10.200.0.12:443/tcp");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	assert_int_equal(m.n_backends_all, 0);

	/* And the VIP index behind "a backend must not be a VIP". */
	parse_into(&r, "backend add 10.200.0.12:443/tcp 10.100.0.1");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	parse_into(&r, "backend add 10.200.0.12:443/tcp 10.200.0.12");
	assert_int_equal(cp_model_apply(&m, &r, &e), -EINVAL);	/* a VIP's address */
	assert_int_equal(m.n_backends_all, 1);

	/* And the (VIP, address) index behind "already a backend of it". */
	parse_into(&r, "backend add 10.200.0.12:443/tcp 10.100.0.1");
	assert_int_equal(cp_model_apply(&m, &r, &e), -EEXIST);
	parse_into(&r, "vip add 10.200.0.13:443/tcp");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	parse_into(&r, "backend add 10.200.0.13:443/tcp 10.100.0.1");	/* another VIP: fine */
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	parse_into(&r, "backend del 10.200.0.12:443/tcp 10.100.0.1");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	parse_into(&r, "backend add 10.200.0.12:443/tcp 10.100.0.1");
	assert_int_equal(cp_model_apply(&m, &r, &e), 0);
	cp_model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_is_empty),
		cmocka_unit_test(test_file_changes_are_not_runtime),
		cmocka_unit_test(test_runtime_changes_marked),
		cmocka_unit_test(test_runtime_change_kept_by_file),
		cmocka_unit_test(test_no_base_asks),
		cmocka_unit_test(test_empty_target),
		cmocka_unit_test(test_node_merge),
		cmocka_unit_test(test_plan_matches_apply),
		cmocka_unit_test(test_batch_all_or_nothing),
		cmocka_unit_test(test_backend_address_index),
	};

	lb_log_set_level(LB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
