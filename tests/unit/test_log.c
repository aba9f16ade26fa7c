// SPDX-License-Identifier: Apache-2.0
/*
 * test_log.c - lib/log.h: a debug line formats its arguments only when it
 * is emitted (one per backend once cost 60 ms of a restart), and is
 * emitted, arguments and all, at the debug level.
 */
#define LB_LOG_PREFIX "test: "

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "log.h"

static int formatted;
static char last[256];

static const char *expensive(void)
{
	formatted++;
	return "10.0.0.11";
}

static void sink(int level, const char *fmt, va_list ap, void *arg)
{
	(void)level;
	(void)arg;
	vsnprintf(last, sizeof(last), fmt, ap);
}

static void test_debug_args_only_when_emitted(void **state)
{
	(void)state;
	lb_log_set_sink(sink, NULL);
	formatted = 0;
	last[0] = '\0';
	lb_log_set_level(LB_LOG_INFO);
	pr_debug("backend %s restored\n", expensive());
	assert_int_equal(formatted, 0);
	assert_string_equal(last, "");

	lb_log_set_level(LB_LOG_DEBUG);
	pr_debug("backend %s restored\n", expensive());
	assert_int_equal(formatted, 1);
	assert_string_equal(last, "test: backend 10.0.0.11 restored\n");

	/* Info lines are not gated: their arguments are always wanted. */
	lb_log_set_level(LB_LOG_INFO);
	pr_info("backend %s up\n", expensive());
	assert_int_equal(formatted, 2);
	assert_string_equal(last, "test: backend 10.0.0.11 up\n");
	lb_log_reset_sink();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debug_args_only_when_emitted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
