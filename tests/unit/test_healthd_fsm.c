// SPDX-License-Identifier: Apache-2.0
/*
 * test_healthd_fsm.c - the rise/fall state machine of sluice-healthd,
 * table-driven: a sequence of results ('+' success, '-' failure) and the
 * state expected after each ('?' unknown, 'U' up, 'D' down); a transition
 * is expected exactly where the state letter changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "check.h"

struct fsm_case {
	const char *desc;
	unsigned int rise, fall;
	const char *results;
	const char *states;
};

static const struct fsm_case cases[] = {
	{ "defaults: up after 2 successes", 2, 3, "+++", "?UU" },
	{ "defaults: down after 3 failures", 2, 3, "---", "??D" },
	{ "unknown: a failure resets the successes", 2, 3, "+-+-+-", "??????" },
	{ "unknown: a success resets the failures", 2, 3, "--+--+", "??????" },
	{ "up then down after exactly fall failures", 2, 3, "++---", "?UUUD" },
	{ "down then up after exactly rise successes", 2, 3, "---++", "??DDU" },
	{ "flapping while up never goes down", 2, 3, "++--+--+", "?UUUUUUU" },
	{ "flapping while down never goes up", 2, 3, "---+-+-", "??DDDDD" },
	{ "rise 1 fall 1 follows every result", 1, 1, "+-+-", "UDUD" },
	{ "rise 0 / fall 0 act as 1", 0, 0, "-+", "DU" },
	{ "rise 3 fall 2", 3, 2, "++-+++--", "???""??UUD" },
	{ "long run saturates without wrapping", 1, 1,
	  "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++"
	  "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++"
	  "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++"
	  "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++-",
	  "UUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUU"
	  "UUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUU"
	  "UUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUU"
	  "UUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUD" },
};

static char letter(int s)
{
	return s == HC_UP ? 'U' : s == HC_DOWN ? 'D' : '?';
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fsm_case *c = &cases[i];
		struct hc_fsm f = { 0 };
		char prev = '?';

		assert_int_equal(strlen(c->results), strlen(c->states));
		for (size_t k = 0; c->results[k]; k++) {
			int changed = hc_fsm_step(&f, c->results[k] == '+', c->rise, c->fall);
			char now = letter(f.state);

			if (now != c->states[k] || changed != (now != prev)) {
				print_error("case '%s', step %zu: state %c (want %c), changed %d\n",
					    c->desc, k, now, c->states[k], changed);
				fail();
			}
			prev = now;
		}
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(hc_state_name(HC_UP), "up");
	assert_string_equal(hc_state_name(HC_DOWN), "down");
	assert_string_equal(hc_state_name(HC_UNKNOWN), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
