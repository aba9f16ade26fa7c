// SPDX-License-Identifier: Apache-2.0
/*
 * test_handlers.c - sluiced's request handling end to end without a fast
 * path or a socket: JSON request in, model change, JSON reply out. Every
 * refused request must leave the state exactly as it was (compared as the
 * saved config script).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_int.h"
#include "request_json.h"

static int setup(void **state)
{
	struct sluiced *d = calloc(1, sizeof(*d));

	if (!d || cp_model_init(&d->model, NULL, NULL))
		return -1;
	/* No state file: persistence is tested in test_model / integration. */
	d->state_path[0] = '\0';
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct sluiced *d = *state;

	cp_model_free(&d->model);
	free(d);
	return 0;
}

/* Sends a JSON text as a request; returns the reply. */
static json_t *call(struct sluiced *d, const char *text)
{
	json_t *req = json_loads(text, 0, NULL);
	struct ucred root = { .pid = 1, .uid = 0, .gid = 0 };
	json_t *reply;

	assert_non_null(req);
	reply = sluiced_handle(d, req, &root);
	json_decref(req);
	assert_non_null(reply);
	return reply;
}

static int ok(json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

static const char *field(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "field"));
}

/* The state as text, to prove a refused request changed nothing. */
static char *saved(struct sluiced *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_int_equal(cp_model_save(&d->model, f), 0);
	fclose(f);
	return text;
}

static void expect_ok(struct sluiced *d, const char *text)
{
	json_t *r = call(d, text);

	if (!ok(r)) {
		char *dump = json_dumps(r, 0);

		print_error("request %s refused: %s\n", text, dump);
		free(dump);
	}
	assert_true(ok(r));
	json_decref(r);
}

/* Refused with the given error field, state unchanged. */
static void expect_refused(struct sluiced *d, const char *text, const char *want_field)
{
	char *before = saved(d), *after;
	json_t *r = call(d, text);

	assert_false(ok(r));
	if (want_field)
		assert_string_equal(field(r), want_field);
	after = saved(d);
	assert_string_equal(before, after);
	free(before);
	free(after);
	json_decref(r);
}

static void populate(struct sluiced *d)
{
	expect_ok(d, "{\"v\":1,\"op\":\"vip.add\",\"vip\":\"10.100.0.1:80/tcp\","
		     "\"check\":\"http\",\"check_path\":\"/health\",\"initial_health\":\"up\"}");
	expect_ok(d, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\","
		     "\"backend\":\"10.0.0.11\"}");
	expect_ok(d, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\","
		     "\"backend\":\"10.0.0.12\",\"weight\":50}");
}

static void test_add_and_list(void **state)
{
	struct sluiced *d = *state;
	json_t *r, *vips, *bes;

	populate(d);
	r = call(d, "{\"v\":1,\"op\":\"vip.list\"}");
	assert_true(ok(r));
	vips = json_object_get(r, "vips");
	assert_int_equal(json_array_size(vips), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(vips, 0), "vip")),
			    "10.100.0.1:80/tcp");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(vips, 0), "backends")),
			 2);
	json_decref(r);

	r = call(d, "{\"v\":1,\"op\":\"backend.list\",\"vip\":\"10.100.0.1:80/tcp\"}");
	bes = json_object_get(r, "backends");
	assert_int_equal(json_array_size(bes), 2);
	json_decref(r);

	r = call(d, "{\"v\":1,\"op\":\"health.targets\"}");
	assert_int_equal(json_array_size(json_object_get(r, "targets")), 2);
	assert_string_equal(json_string_value(json_object_get(
					json_array_get(json_object_get(r, "targets"), 0),
					"check_path")), "/health");
	assert_int_equal(json_integer_value(json_object_get(
					json_array_get(json_object_get(r, "targets"), 0),
					"check_port")), 80);
	json_decref(r);
}

static void test_refusals_change_nothing(void **state)
{
	struct sluiced *d = *state;

	populate(d);
	/* Wrong types, unknown fields, missing fields, bad values. */
	expect_refused(d, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\","
			  "\"backend\":\"10.0.0.13\",\"weight\":\"heavy\"}", "weight");
	expect_refused(d, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\","
			  "\"backend\":\"10.0.0.13\",\"weight\":70000}", "weight");
	expect_refused(d, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\","
			  "\"backend\":\"10.0.0.13\",\"colour\":\"blue\"}", "colour");
	expect_refused(d, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\"}",
		       "backend");
	expect_refused(d, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.9:80/tcp\","
			  "\"backend\":\"10.0.0.13\"}", "vip");
	expect_refused(d, "{\"v\":1,\"op\":\"backend.add\",\"vip\":\"10.100.0.1:80/tcp\","
			  "\"backend\":\"10.0.0.11\"}", NULL);	/* duplicate */
	expect_refused(d, "{\"v\":1,\"op\":\"vip.add\",\"vip\":\"10.100.0.1:80/tcp\"}", "vip");
	expect_refused(d, "{\"v\":1,\"op\":\"vip.add\",\"vip\":\"10.100.0.2:80/tcp\","
			  "\"ring\":65536}", "ring");
	expect_refused(d, "{\"v\":1,\"op\":\"vip.add\",\"vip\":\"10.100.0.300:80/tcp\"}", "vip");
	expect_refused(d, "{\"v\":1,\"op\":\"vip.add\",\"vip\":\"10.100.0.2:80/sctp\"}", "vip");
	expect_refused(d, "{\"v\":2,\"op\":\"status\"}", "v");
	expect_refused(d, "{\"op\":\"status\"}", "v");
	expect_refused(d, "{\"v\":1,\"op\":\"vip.explode\"}", "op");
	expect_refused(d, "{\"v\":1,\"op\":42}", "op");
	expect_refused(d, "{\"v\":1,\"op\":\"flows\",\"vip\":\"10.100.0.9:80/tcp\"}", "vip");
	expect_refused(d, "{\"v\":1,\"op\":\"vip.list\",\"vip\":\"10.100.0.9:80/tcp\"}", "vip");
	expect_refused(d, "{\"v\":1,\"op\":\"backend.list\",\"vip\":\"10.100.0.9:80/tcp\"}",
		       "vip");
}

static void test_drain_and_save(void **state)
{
	struct sluiced *d = *state;
	char *text;
	json_t *r;

	populate(d);
	expect_ok(d, "{\"v\":1,\"op\":\"backend.set\",\"vip\":\"10.100.0.1:80/tcp\","
		     "\"backend\":\"10.0.0.11\",\"drain\":true}");
	r = call(d, "{\"v\":1,\"op\":\"save\"}");
	assert_true(ok(r));
	text = strdup(json_string_value(json_object_get(r, "config")));
	json_decref(r);
	assert_non_null(strstr(text, "vip add 10.100.0.1:80/tcp"));
	assert_non_null(strstr(text, "backend add 10.100.0.1:80/tcp 10.0.0.11 --drain"));
	assert_non_null(strstr(text, "backend add 10.100.0.1:80/tcp 10.0.0.12 --weight 50"));
	free(text);

	r = call(d, "{\"v\":1,\"op\":\"ring.digest\",\"vip\":\"10.100.0.1:80/tcp\"}");
	assert_true(ok(r));
	assert_int_equal(json_integer_value(json_object_get(r, "usable_backends")), 1);
	assert_int_equal(strlen(json_string_value(json_object_get(r, "digest"))), 16);
	json_decref(r);
}

static void test_health_report(void **state)
{
	struct sluiced *d = *state;
	json_t *r;

	populate(d);
	expect_ok(d, "{\"v\":1,\"op\":\"health.report\",\"vip\":\"10.100.0.1:80/tcp\","
		     "\"backend\":\"10.0.0.12\",\"health\":\"down\",\"latency_us\":1500,"
		     "\"reason\":\"HTTP 503\"}");
	r = call(d, "{\"v\":1,\"op\":\"backend.list\"}");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(r, "backends"), 1), "state")),
			    "down");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(r, "backends"), 1), "last_check")),
			    "HTTP 503");
	json_decref(r);
	/* A report about a backend that is gone is refused, not fatal. */
	expect_refused(d, "{\"v\":1,\"op\":\"health.report\",\"vip\":\"10.100.0.1:80/tcp\","
			  "\"backend\":\"10.0.0.99\",\"health\":\"up\"}", NULL);
}

static void test_status(void **state)
{
	struct sluiced *d = *state;
	json_t *r = call(d, "{\"v\":1,\"op\":\"status\"}");

	assert_true(ok(r));
	assert_string_equal(json_string_value(json_object_get(r, "driver")), "none");
	json_decref(r);
}

/* A change the state file cannot take is live, answered "applied, not
 * persisted" with the errno named and the full path, and counted; the
 * retry timer writes it once the file can be written. */
static void test_not_persisted(void **state)
{
	struct sluiced *d = *state;
	char dir[] = "/tmp/sluice-test-handlers.XXXXXX", block[64];
	struct pollfd pfd;
	const char *msg;
	json_t *r, *st;

	assert_non_null(mkdtemp(dir));
	/* A regular file where the state file's directory should be. */
	snprintf(block, sizeof(block), "%s/d", dir);
	fclose(fopen(block, "w"));
	snprintf(d->state_path, sizeof(d->state_path), "%s/state.conf", block);
	r = call(d, "{\"v\": 1, \"op\": \"vip.add\", \"vip\": \"10.100.0.1:80/tcp\"}");
	assert_true(ok(r));
	assert_true(json_is_false(json_object_get(r, "persisted")));
	msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
	assert_non_null(msg);
	assert_non_null(strstr(msg, d->state_path));
	assert_non_null(strstr(msg, "(ENOTDIR)"));
	assert_non_null(strstr(msg, "retrying"));
	json_decref(r);
	assert_int_equal(d->model.n_vips, 1);
	st = call(d, "{\"v\": 1, \"op\": \"status\"}");
	assert_true(json_is_false(json_object_get(st, "state_persisted")));
	assert_int_equal(json_integer_value(json_object_get(st, "state_failures")), 1);
	assert_non_null(json_object_get(st, "state_error"));
	json_decref(st);

	/* Room again: the retry (due within a second) writes it. */
	unlink(block);
	assert_int_equal(mkdir(block, 0700), 0);
	pfd = (struct pollfd){ .fd = sluiced_persist_fd(d), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	sluiced_persist_retry(d);
	assert_int_equal(access(d->state_path, R_OK), 0);
	st = call(d, "{\"v\": 1, \"op\": \"status\"}");
	assert_true(json_is_true(json_object_get(st, "state_persisted")));
	assert_null(json_object_get(st, "state_error"));
	json_decref(st);
	r = call(d, "{\"v\": 1, \"op\": \"vip.add\", \"vip\": \"10.100.0.2:80/tcp\"}");
	assert_true(json_is_true(json_object_get(r, "persisted")));
	json_decref(r);
	sluiced_persist_close(d);
	snprintf(block, sizeof(block), "rm -rf %s", dir);
	assert_int_equal(system(block), 0);
}

/* stats names each backend's drops by reason; a request naming a VIP
 * that does not exist says which, with the IPv4 VIP a mapped one meant. */
static void test_stats_drops_and_missing_vip(void **state)
{
	struct sluiced *d = *state;
	json_t *r, *b, *msg;

	populate(d);
	r = call(d, "{\"v\":1,\"op\":\"stats\",\"vip\":\"10.100.0.1:80/tcp\"}");
	assert_true(ok(r));
	b = json_array_get(json_object_get(json_array_get(json_object_get(r, "vips"), 0),
					   "backends"), 0);
	assert_int_equal(json_object_size(json_object_get(b, "dropped")), LB_BACKEND_DROPS);
	assert_true(json_is_integer(json_object_get(json_object_get(b, "dropped"), "drop_fib")));
	assert_true(json_is_integer(json_object_get(json_object_get(b, "dropped"),
						    "drop_no_source")));
	json_decref(r);

	r = call(d, "{\"v\":1,\"op\":\"stats\",\"vip\":\"[::ffff:10.100.0.1]:80/tcp\"}");
	assert_false(ok(r));
	assert_string_equal(field(r), "vip");
	msg = json_object_get(json_object_get(r, "error"), "message");
	assert_string_equal(json_string_value(msg),
			    "[::ffff:10.100.0.1]:80/tcp: no such VIP (IPv4-mapped: use 10.100.0.1:80/tcp)");
	json_decref(r);
	r = call(d, "{\"v\":1,\"op\":\"flows\",\"vip\":\"10.100.0.9:80/tcp\"}");
	assert_false(ok(r));
	msg = json_object_get(json_object_get(r, "error"), "message");
	assert_string_equal(json_string_value(msg), "10.100.0.9:80/tcp: no such VIP");
	json_decref(r);
}

/* The override beside healthd's view in backend list; the heartbeat
 * answers the targets with sluiced's view; status follows healthd. */
static void test_health_views(void **state)
{
	struct sluiced *d = *state;
	json_t *r, *b;
	char *text;

	populate(d);
	r = call(d, "{\"v\":1,\"op\":\"status\"}");
	assert_string_equal(json_string_value(json_object_get(r, "healthd")), "waiting");
	json_decref(r);
	expect_ok(d, "{\"v\":1,\"op\":\"health.report\",\"vip\":\"10.100.0.1:80/tcp\","
		     "\"backend\":\"10.0.0.12\",\"health\":\"up\"}");
	expect_ok(d, "{\"v\":1,\"op\":\"health.set\",\"vip\":\"10.100.0.1:80/tcp\","
		     "\"backend\":\"10.0.0.12\",\"health\":\"down\",\"for_s\":600,"
		     "\"reason\":\"maintenance\"}");
	r = call(d, "{\"v\":1,\"op\":\"health.heartbeat\"}");
	assert_true(ok(r));
	b = json_array_get(json_object_get(r, "targets"), 1);
	assert_string_equal(json_string_value(json_object_get(b, "backend")), "10.0.0.12");
	assert_string_equal(json_string_value(json_object_get(b, "state")), "down");
	assert_string_equal(json_string_value(json_object_get(b, "health")), "up");
	assert_string_equal(json_string_value(json_object_get(b, "health_source")), "override");
	assert_string_equal(json_string_value(json_object_get(b, "override")), "down");
	assert_int_equal(json_integer_value(json_object_get(b, "override_expires_s")), 600);
	assert_string_equal(json_string_value(json_object_get(b, "override_reason")), "maintenance");
	assert_true(json_is_integer(json_object_get(b, "check_age_ms")));
	json_decref(r);
	r = call(d, "{\"v\":1,\"op\":\"status\"}");
	assert_string_equal(json_string_value(json_object_get(r, "healthd")), "up");
	json_decref(r);
	/* An override is runtime state: not in the saved configuration. */
	text = saved(d);
	assert_null(strstr(text, "health set"));
	assert_null(strstr(text, "maintenance"));
	free(text);
	expect_ok(d, "{\"v\":1,\"op\":\"health.clear\",\"vip\":\"10.100.0.1:80/tcp\","
		     "\"backend\":\"10.0.0.12\"}");
	r = call(d, "{\"v\":1,\"op\":\"backend.list\"}");
	b = json_array_get(json_object_get(r, "backends"), 1);
	assert_string_equal(json_string_value(json_object_get(b, "state")), "up");
	assert_null(json_object_get(b, "override"));
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_and_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_persisted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_drops_and_missing_vip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_views, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
