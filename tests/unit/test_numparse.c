// SPDX-License-Identifier: Apache-2.0
/*
 * test_numparse.c - lib/numparse: what a size option accepts and refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "numparse.h"

#define UNTOUCHED 0xa5a5a5a5u

static void accepts(const char *s, __u32 want)
{
	__u32 v = UNTOUCHED;

	assert_int_equal(lb_numparse_u32(s, &v), 0);
	assert_int_equal(v, want);
}

static void refuses(const char *s)
{
	__u32 v = UNTOUCHED;

	assert_int_equal(lb_numparse_u32(s, &v), -EINVAL);
	assert_int_equal(v, UNTOUCHED);
}

static void test_decimal(void **state)
{
	(void)state;
	accepts("0", 0);
	accepts("1024", 1024);
	accepts("007", 7);		/* decimal, not octal */
	accepts("4294967295", 0xffffffffu);
	accepts("00000000000000000000004294967295", 0xffffffffu);
}

static void test_empty(void **state)
{
	(void)state;
	refuses("");
	refuses(NULL);
}

static void test_sign_and_blanks(void **state)
{
	(void)state;
	refuses("-1");
	refuses("-0");
	refuses("+5");
	refuses(" 5");
	refuses(" -0");		/* strtoul's blank skip read this as 0 */
	refuses("\t7");
}

static void test_overflow(void **state)
{
	(void)state;
	refuses("4294967296");
	refuses("18446744073709551615");	/* 2^64 - 1 */
	refuses("18446744073709551616");	/* ERANGE in strtoull */
	refuses("99999999999999999999999999");
}

static void test_trailing_junk(void **state)
{
	(void)state;
	refuses("12abc");
	refuses("12 ");
	refuses("12\n");
	refuses("1.5");
	refuses("1e3");
	refuses("64k");
}

static void test_base_prefix(void **state)
{
	(void)state;
	refuses("0x10");	/* not 0, not 16 */
	refuses("0X10");
	refuses("0b1");
	refuses("x10");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_sign_and_blanks),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_trailing_junk),
		cmocka_unit_test(test_base_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
