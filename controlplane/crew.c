// SPDX-License-Identifier: Apache-2.0
/*
 * crew.c - helper threads for independent jobs (see crew.h). Jobs are
 * handed out by an atomic counter, so a slow job never holds the others;
 * whoever finishes the last one writes the eventfd.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "crew.h"

static void run_one(struct cp_crew *c, size_t i)
{
	int err = c->job(c->arg, i), none = 0;

	if (err)
		__atomic_compare_exchange_n(&c->err, &none, err, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	/* Release: the job's writes are visible to whoever sees done == n. */
	if (__atomic_add_fetch(&c->done, 1, __ATOMIC_ACQ_REL) == c->n && c->efd >= 0)
		eventfd_write(c->efd, 1);
}

int cp_crew_take(struct cp_crew *c)
{
	size_t i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);

	if (i >= c->n)
		return 0;
	run_one(c, i);
	return 1;
}

static void *helper(void *arg)
{
	struct cp_crew *c = arg;

	while (cp_crew_take(c))
		;
	return NULL;
}

static int helpers_wanted(size_t n, int max_helpers)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long k = cpus > 1 ? cpus - 1 : 1;

	if (k > max_helpers)
		k = max_helpers;
	if (k > CP_CREW_MAX)
		k = CP_CREW_MAX;
	if ((size_t)k > n)
		k = (long)n;
	return (int)k;
}

void cp_crew_start(struct cp_crew *c, size_t n, cp_crew_job_fn job, void *arg,
		   int max_helpers)
{
	int k = helpers_wanted(n, max_helpers);

	memset(c, 0, sizeof(*c));
	c->job = job;
	c->arg = arg;
	c->n = n;
	c->efd = -1;
	if (k <= 0)
		return;
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0)
		return;
	while (c->n_th < k && !pthread_create(&c->th[c->n_th], NULL, helper, c))
		c->n_th++;
	if (!c->n_th) {
		close(c->efd);
		c->efd = -1;
	}
}

int cp_crew_finished(const struct cp_crew *c)
{
	return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE) == c->n;
}

int cp_crew_fd(const struct cp_crew *c)
{
	return c->efd;
}

int cp_crew_wait(struct cp_crew *c)
{
	eventfd_t v;

	while (cp_crew_take(c))
		;
	for (int i = 0; i < c->n_th; i++)
		pthread_join(c->th[i], NULL);
	c->n_th = 0;
	if (c->efd >= 0) {
		eventfd_read(c->efd, &v);
		close(c->efd);
		c->efd = -1;
	}
	return __atomic_load_n(&c->err, __ATOMIC_ACQUIRE);
}
