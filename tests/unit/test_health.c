// SPDX-License-Identifier: Apache-2.0
/*
 * test_health.c - a backend's health in the model (model_health.c) and
 * across a restart (health_file.c), against the mock fast path and a
 * clock the test moves: the state a VIP gives a new backend; the
 * operator's override beside healthd's view, its expiry and its clear;
 * healthd's heartbeat and its age; the last known health given back to
 * backends loaded after a restart, from the health file and from the
 * pinned fast path, so a backend that was down is never in a ring again
 * before a check says up. Every test also asserts the fast path broke
 * none of its ordering rules (mock_driver.h).
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
#include <unistd.h>

#include "cmd.h"
#include "health_file.h"
#include "log.h"
#include "mock_driver.h"
#include "model.h"

#define V1 "10.100.0.1:80/tcp"
#define V2 "10.100.0.2:80/tcp"
#define B1 "10.0.0.11"
#define B2 "10.0.0.12"

struct fx {
	struct mock_driver md;
	struct cp_model m;
	__u64 now_ms;
};

static __u64 fake_clock(void *arg)
{
	return ((struct fx *)arg)->now_ms;
}

static void fx_init(struct fx *f)
{
	mock_init(&f->md, 8, 32, 65537, 64);
	assert_int_equal(cp_model_init(&f->m, &f->md.params, &f->md.drv), 0);
	f->now_ms = 1000000;
	f->m.clock = fake_clock;
	f->m.clock_arg = f;
	f->m.healthd.since_ms = f->now_ms;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_init(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cp_model_free(&f->m);
	mock_free(&f->md);
	free(f);
	return 0;
}

static int apply(struct cp_model *m, const char *line, struct cp_error *e)
{
	char buf[512], *w[32];
	struct cp_request r;
	int n;

	snprintf(buf, sizeof(buf), "%s", line);
	n = cp_cmd_split(buf, w, 32);
	if (n <= 0 || cp_cmd_parse(n, w, &r, e))
		fail_msg("cannot parse '%s': %s: %s", line, e->field, e->msg);
	return cp_model_apply(m, &r, e);
}

static void ok(struct fx *f, const char *line)
{
	struct cp_error e = { "", "" };

	if (apply(&f->m, line, &e))
		fail_msg("'%s' refused: %s: %s", line, e.field, e.msg);
	if (f->md.violations)
		fail_msg("after '%s': %s", line, f->md.violation);
}

static struct cp_backend *be(struct fx *f, const char *vip, const char *addr)
{
	struct lb_vip_key k;
	struct lb_addr a;
	struct cp_error e;
	struct cp_vip *v;
	__u8 fam;

	assert_int_equal(cp_parse_vip(vip, &k, &e), 0);
	assert_int_equal(cp_parse_addr(addr, &a, &fam), 0);
	v = cp_model_find_vip(&f->m, &k);
	assert_non_null(v);
	assert_non_null(cp_vip_find_backend(v, &a, fam));
	return cp_vip_find_backend(v, &a, fam);
}

/* Whether the backend is in service: UP on the fast path and in a ring. */
static int serving(struct fx *f, const char *vip, const char *addr)
{
	const struct cp_backend *b = be(f, vip, addr);
	int up = f->md.backends[b->id].state == LB_BACKEND_UP;

	assert_int_equal(up, mock_ring_names(&f->md, b->id));
	return up;
}

/* ---- a new backend ----------------------------------------------------- */

static void test_initial_health(void **state)
{
	struct fx *f = *state;

	/* auto: down until its first check with a check, up without. */
	ok(f, "vip add " V1 " --check tcp");
	ok(f, "vip add " V2);
	ok(f, "backend add " V1 " " B1);
	ok(f, "backend add " V2 " " B1);
	assert_false(serving(f, V1, B1));
	assert_int_equal(f->md.backends[be(f, V1, B1)->id].state, LB_BACKEND_DOWN);
	assert_true(serving(f, V2, B1));
	ok(f, "health report " V1 " " B1 " up");
	assert_true(serving(f, V1, B1));

	/* The VIP chooses: for backends added from then on only. */
	ok(f, "vip set " V1 " --initial-health up");
	ok(f, "vip set " V2 " --initial-health down");
	ok(f, "backend add " V1 " " B2);
	ok(f, "backend add " V2 " " B2);
	assert_true(serving(f, V1, B2));
	assert_false(serving(f, V2, B2));
	assert_true(serving(f, V2, B1));
	ok(f, "health report " V2 " " B2 " up");
	assert_true(serving(f, V2, B2));
}

/* Saved only when not the default, read back the same. */
static void test_initial_health_saved(void **state)
{
	struct fx *f = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&text, &len);

	ok(f, "vip add " V1 " --check tcp");
	ok(f, "vip add " V2 " --initial-health down");
	assert_non_null(o);
	assert_int_equal(cp_model_save(&f->m, o), 0);
	fclose(o);
	assert_non_null(strstr(text, "vip add " V1 " --check tcp\n"));
	assert_non_null(strstr(text, "vip add " V2 " --initial-health down\n"));
	assert_null(strstr(text, "initial-health auto"));
	free(text);
}

/* A VIP that loses its check loses healthd's word: "none: always up". */
static void test_check_removed(void **state)
{
	struct fx *f = *state;

	ok(f, "vip add " V1 " --check tcp");
	ok(f, "backend add " V1 " " B1);
	ok(f, "backend add " V1 " " B2);
	ok(f, "health report " V1 " " B2 " down");
	assert_false(serving(f, V1, B1));
	ok(f, "vip set " V1 " --check none");
	assert_true(serving(f, V1, B1));
	assert_true(serving(f, V1, B2));
	assert_int_equal(be(f, V1, B2)->health, CP_HEALTH_UNKNOWN);
}

/* ---- the override ------------------------------------------------------ */

static void test_override_beside_check(void **state)
{
	struct fx *f = *state;
	struct cp_backend *b;

	ok(f, "vip add " V1 " --check tcp");
	ok(f, "backend add " V1 " " B1);
	ok(f, "health report " V1 " " B1 " up");
	ok(f, "health set " V1 " " B1 " down --reason 'kernel upgrade'");
	b = be(f, V1, B1);
	assert_false(serving(f, V1, B1));
	assert_int_equal(b->override, CP_HEALTH_DOWN);
	assert_int_equal(b->health, CP_HEALTH_UP);	/* healthd's view stays apart */
	assert_string_equal(b->override_reason, "kernel upgrade");
	assert_int_equal(b->override_until_ms, 0);	/* until cleared */

	/* healthd cannot undo it, whatever it reports. */
	ok(f, "health report " V1 " " B1 " down");
	ok(f, "health report " V1 " " B1 " up");
	assert_false(serving(f, V1, B1));
	f->now_ms += 365ull * 24 * 3600 * 1000;
	assert_int_equal(cp_model_health_expire(&f->m), 0);
	assert_false(serving(f, V1, B1));

	/* Cleared: healthd's view holds again. */
	ok(f, "health clear " V1 " " B1);
	assert_true(serving(f, V1, B1));
	assert_int_equal(be(f, V1, B1)->override, CP_HEALTH_UNKNOWN);
	assert_string_equal(be(f, V1, B1)->override_reason, "");

	/* Up overrides a failing check too (HAProxy's set server health up). */
	ok(f, "health report " V1 " " B1 " down");
	assert_false(serving(f, V1, B1));
	ok(f, "health set " V1 " " B1 " up");
	assert_true(serving(f, V1, B1));
	ok(f, "health clear " V1 " " B1);
	assert_false(serving(f, V1, B1));
}

static void test_override_expires(void **state)
{
	struct fx *f = *state;
	struct cp_error e = { "", "" };

	ok(f, "vip add " V1 " --check tcp --initial-health up");
	ok(f, "backend add " V1 " " B1);
	ok(f, "health set " V1 " " B1 " down --for 10m");
	assert_int_equal(be(f, V1, B1)->override_until_ms, f->now_ms + 600000);
	f->now_ms += 599999;
	assert_int_equal(cp_model_health_expire(&f->m), 0);
	assert_false(serving(f, V1, B1));
	f->now_ms += 1;
	assert_int_equal(cp_model_health_expire(&f->m), 1);
	assert_true(serving(f, V1, B1));
	assert_int_equal(be(f, V1, B1)->override, CP_HEALTH_UNKNOWN);
	assert_int_equal(cp_model_health_expire(&f->m), 0);
	assert_int_equal(f->md.violations, 0);

	/* Refusals: unknown backend, health that is neither up nor down,
	 * --for beyond 30 days, --for on a report. */
	assert_int_equal(apply(&f->m, "health set " V1 " 10.0.0.99 down", &e), -ENOENT);
	assert_string_equal(e.field, "backend");
	assert_int_equal(apply(&f->m, "health clear " V2 " " B1, &e), -ENOENT);
	assert_string_equal(e.field, "vip");
	{
		char *w[] = { "health", "set", V1, B1, "down", "--for", "31d", NULL };
		char *w2[] = { "health", "set", V1, B1, "down", "--for", "721h", NULL };
		char *w3[] = { "health", "report", V1, B1, "down", "--for", "1h", NULL };
		struct cp_request r;

		assert_int_equal(cp_cmd_parse(7, w, &r, &e), -EINVAL);
		assert_int_equal(cp_cmd_parse(7, w2, &r, &e), -EINVAL);
		assert_string_equal(e.field, "for");
		assert_int_equal(cp_cmd_parse(7, w3, &r, &e), -EINVAL);
	}
}

/* ---- healthd's heartbeat --------------------------------------------- */

static void test_heartbeat(void **state)
{
	struct fx *f = *state;

	ok(f, "vip add " V1 " --check tcp");
	ok(f, "backend add " V1 " " B1);
	ok(f, "backend add " V1 " " B2);
	assert_false(cp_model_healthd_up(&f->m));
	f->now_ms += 3000;
	assert_int_equal(cp_model_healthd_age_ms(&f->m), 3000);	/* since start */

	ok(f, "health report " V1 " " B1 " up");
	assert_int_equal(be(f, V1, B1)->check_ms, f->now_ms);
	assert_int_equal(be(f, V1, B2)->check_ms, 0);
	f->now_ms += 2000;
	cp_model_healthd_heartbeat(&f->m);
	assert_true(cp_model_healthd_up(&f->m));
	assert_int_equal(cp_model_healthd_age_ms(&f->m), 0);
	/* Confirms what healthd said; a backend it never reported on stays
	 * without a check age. */
	assert_int_equal(be(f, V1, B1)->check_ms, f->now_ms);
	assert_int_equal(be(f, V1, B2)->check_ms, 0);

	/* Silent past the bound: not up, and the health stays (fail static). */
	f->now_ms += CP_HEALTHD_DEFAULT_TIMEOUT_MS;
	assert_true(cp_model_healthd_up(&f->m));
	f->now_ms += 1;
	assert_false(cp_model_healthd_up(&f->m));
	assert_int_equal(cp_model_healthd_age_ms(&f->m), CP_HEALTHD_DEFAULT_TIMEOUT_MS + 1);
	assert_true(serving(f, V1, B1));
	assert_false(serving(f, V1, B2));
}

/* ---- a restart ------------------------------------------------------- */

/* A new model over the same mock fast path, as sluiced after a restart:
 * adopt_begin, the given saved health, the state's lines, adopt_end. */
static void restart(struct fx *f, struct cp_health_saved *saved, size_t n, const char *const *lines)
{
	cp_model_free(&f->m);
	assert_int_equal(cp_model_init(&f->m, &f->md.params, &f->md.drv), 0);
	f->m.clock = fake_clock;
	f->m.clock_arg = f;
	assert_int_equal(cp_model_adopt_begin(&f->m), 0);
	f->m.saved = saved;
	f->m.n_saved = n;
	for (; *lines; lines++)
		ok(f, *lines);
	f->m.saved = NULL;
	f->m.n_saved = 0;
	cp_model_adopt_end(&f->m);
}

static const char *const state_lines[] = {
	"vip add " V1 " --check tcp",
	"backend add " V1 " " B1,
	"backend add " V1 " " B2,
	NULL,
};

/* From the fast path alone (no health file): what was down stays down,
 * what served keeps serving -- not the VIP's initial down. */
static void test_restart_from_fastpath(void **state)
{
	struct fx *f = *state;
	__u32 id1, id2;

	ok(f, "vip add " V1 " --check tcp");
	ok(f, "backend add " V1 " " B1);
	ok(f, "backend add " V1 " " B2);
	ok(f, "health report " V1 " " B1 " up");
	ok(f, "health report " V1 " " B2 " up");
	ok(f, "health report " V1 " " B2 " down");
	id1 = be(f, V1, B1)->id;
	id2 = be(f, V1, B2)->id;
	mock_clear_calls(&f->md);

	restart(f, NULL, 0, state_lines);
	assert_true(serving(f, V1, B1));
	assert_false(serving(f, V1, B2));
	/* B2 was never pushed UP on the way: no ring named it. */
	assert_int_equal(mock_find_state(&f->md, id2, LB_BACKEND_UP), -1);
	assert_int_equal(be(f, V1, B1)->id, id1);
	assert_int_equal(be(f, V1, B2)->health, CP_HEALTH_UNKNOWN);
	/* Until a check says up. */
	ok(f, "health report " V1 " " B2 " up");
	assert_true(serving(f, V1, B2));
}

/* From the health file: healthd's view, the override with its expiry,
 * the words; the fast path's down wins over a file that says up. */
static void test_restart_from_file(void **state)
{
	struct fx *f = *state;
	struct cp_health_saved *saved;
	char path[] = "/tmp/sluice-test-health-XXXXXX";
	size_t n;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	ok(f, "vip add " V1 " --check tcp");
	ok(f, "backend add " V1 " " B1);
	ok(f, "backend add " V1 " " B2);
	ok(f, "health report " V1 " " B1 " down --latency-us 1500 --reason 'HTTP 503'");
	ok(f, "health report " V1 " " B2 " up");
	ok(f, "health set " V1 " " B2 " down --for 1h --reason \"it's mine\"");
	assert_int_equal(cp_health_save(path, &f->m), 0);
	assert_int_equal(cp_health_load(path, &f->m, &saved, &n), 0);
	assert_int_equal(n, 2);

	f->now_ms += 60000;	/* the restart took a minute */
	restart(f, saved, n, state_lines);
	assert_false(serving(f, V1, B1));
	assert_int_equal(be(f, V1, B1)->health, CP_HEALTH_DOWN);
	assert_int_equal(be(f, V1, B1)->latency_us, 1500);
	assert_string_equal(be(f, V1, B1)->last_check, "HTTP 503");
	assert_false(serving(f, V1, B2));
	assert_int_equal(be(f, V1, B2)->health, CP_HEALTH_UP);
	assert_int_equal(be(f, V1, B2)->override, CP_HEALTH_DOWN);
	assert_string_equal(be(f, V1, B2)->override_reason, "it's mine");
	/* The expiry is a point in (wall-clock) time: 59 minutes left, less
	 * the real time between the write and the read (the test's clock
	 * stood still meanwhile; a loaded machine may take a while). */
	assert_true(be(f, V1, B2)->override_until_ms >= f->now_ms + 3540000 - 1000);
	assert_true(be(f, V1, B2)->override_until_ms <= f->now_ms + 3540000 + 2);
	f->now_ms += 3540000 + 2;
	assert_int_equal(cp_model_health_expire(&f->m), 1);
	assert_true(serving(f, V1, B2));

	/* An override already over while sluiced was away is not restored;
	 * the fast path's down beats a file that says up. */
	ok(f, "health set " V1 " " B2 " down --for 1m");
	ok(f, "health report " V1 " " B1 " up");
	assert_int_equal(cp_health_save(path, &f->m), 0);
	ok(f, "health report " V1 " " B1 " down");	/* after the write: a crash */
	free(saved);
	assert_int_equal(cp_health_load(path, &f->m, &saved, &n), 0);
	f->now_ms += 120000;
	restart(f, saved, n, state_lines);
	assert_true(serving(f, V1, B2));
	assert_int_equal(be(f, V1, B2)->override, CP_HEALTH_UNKNOWN);
	assert_false(serving(f, V1, B1));
	free(saved);
	unlink(path);
}

/* A damaged line costs that line only; no file is ENOENT. */
static void test_file_errors(void **state)
{
	struct fx *f = *state;
	struct cp_health_saved *saved;
	char path[] = "/tmp/sluice-test-health-XXXXXX";
	int fd = mkstemp(path);
	size_t n;
	FILE *o;

	assert_true(fd >= 0);
	o = fdopen(fd, "w");
	assert_non_null(o);
	fputs("# comment\n\n" V1 " " B1 " init=down health=down\n" V1 " junk\n" V1 " " B2
	      " health=sideways\n" V1 " " B2 " init=up health=up override=down until=0 "
	      "override_reason=a\\ b\n", o);
	fclose(o);
	assert_int_equal(cp_health_load(path, &f->m, &saved, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(saved[0].health, CP_HEALTH_DOWN);
	assert_int_equal(saved[1].override, CP_HEALTH_DOWN);
	assert_int_equal(saved[1].override_until_ms, 0);
	assert_string_equal(saved[1].override_reason, "a b");
	free(saved);
	unlink(path);
	assert_int_equal(cp_health_load(path, &f->m, &saved, &n), -ENOENT);
	assert_null(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_initial_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initial_health_saved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_beside_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_from_fastpath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_from_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
	};

	lb_log_set_level(LB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
