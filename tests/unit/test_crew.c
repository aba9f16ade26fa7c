// SPDX-License-Identifier: Apache-2.0
/*
 * test_crew.c - controlplane/crew.c: every job runs exactly once whatever
 * the number of jobs, the first error is the one returned while the other
 * jobs still run, the eventfd says when all are done, the caller can take
 * jobs itself, and with more than one CPU the helpers do run beside it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crew.h"

struct count {
	int *runs;		/* per job */
	pthread_t *who;		/* per job: the thread that ran it */
	int fail_from;		/* jobs >= this fail with -(job + 1); -1: none */
	int slow_us;
};

static int job(void *arg, size_t i)
{
	struct count *c = arg;

	__atomic_add_fetch(&c->runs[i], 1, __ATOMIC_RELAXED);
	c->who[i] = pthread_self();
	if (c->slow_us)
		usleep((useconds_t)c->slow_us);
	return c->fail_from >= 0 && (int)i >= c->fail_from ? -(int)(i + 1) : 0;
}

static void count_init(struct count *c, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->runs = calloc(n + 1, sizeof(*c->runs));
	c->who = calloc(n + 1, sizeof(*c->who));
	c->fail_from = -1;
}

static void count_free(struct count *c)
{
	free(c->runs);
	free(c->who);
}

/* The eventfd becomes readable once every job is done (a crew without
 * helpers has none: its jobs run in cp_crew_wait). */
static void wait_fd(const struct cp_crew *crew)
{
	struct pollfd p = { .fd = cp_crew_fd(crew), .events = POLLIN };

	assert_true(p.fd >= 0);
	assert_int_equal(poll(&p, 1, 10000), 1);
}

static void test_each_job_once(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 7, 1000 };

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		struct count c;
		struct cp_crew crew;

		count_init(&c, n);
		cp_crew_start(&crew, n, job, &c, CP_CREW_MAX);
		assert_int_equal(cp_crew_wait(&crew), 0);
		assert_true(cp_crew_finished(&crew));
		for (size_t i = 0; i < n; i++)
			assert_int_equal(c.runs[i], 1);
		count_free(&c);
	}
}

static void test_first_error_others_run(void **state)
{
	struct count c;
	struct cp_crew crew;
	int err;

	(void)state;
	count_init(&c, 50);
	c.fail_from = 10;
	cp_crew_start(&crew, 50, job, &c, CP_CREW_MAX);
	err = cp_crew_wait(&crew);
	/* Some failing job's error, whichever failed first. */
	assert_true(err <= -11 && err >= -50);
	for (size_t i = 0; i < 50; i++)
		assert_int_equal(c.runs[i], 1);
	count_free(&c);
}

static void test_fd_and_taking(void **state)
{
	struct count c;
	struct cp_crew crew;
	int taken = 0;

	(void)state;
	count_init(&c, 20);
	c.slow_us = 2000;
	cp_crew_start(&crew, 20, job, &c, 1);
	/* The caller takes jobs too; then the fd tells when the rest are done. */
	while (cp_crew_take(&crew))
		taken++;
	wait_fd(&crew);
	assert_true(cp_crew_finished(&crew));
	assert_int_equal(cp_crew_wait(&crew), 0);
	assert_true(taken >= 1);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(c.runs[i], 1);
	count_free(&c);
}

static void test_helpers_run_beside(void **state)
{
	pthread_t me = pthread_self();
	struct count c;
	struct cp_crew crew;
	int beside = 0;

	(void)state;
	count_init(&c, 8);
	c.slow_us = 5000;
	cp_crew_start(&crew, 8, job, &c, CP_CREW_MAX);
	/* Not taking: every job must run on a helper. */
	wait_fd(&crew);
	assert_int_equal(cp_crew_wait(&crew), 0);
	for (size_t i = 0; i < 8; i++)
		beside += !pthread_equal(c.who[i], me);
	/* Helpers start whenever threads can be made, one CPU or more. */
	assert_int_equal(beside, 8);
	count_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_job_once),
		cmocka_unit_test(test_first_error_others_run),
		cmocka_unit_test(test_fd_and_taking),
		cmocka_unit_test(test_helpers_run_beside),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
