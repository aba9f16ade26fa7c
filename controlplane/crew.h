/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crew.h - a few helper threads for the control thread's long, read-only
 * work: Maglev rings of a big batch, the state file's write and fsync,
 * the grace period. The control thread starts a crew on n independent
 * jobs, may do other work meanwhile (the jobs only read what it does not
 * write), then takes the jobs left itself and waits for the rest. The
 * model's owner waits through model_crew_join() (model.c), which keeps
 * serving readers.
 */
#ifndef SLUICE_CREW_H
#define SLUICE_CREW_H

#include <pthread.h>
#include <stddef.h>

/* Helpers at most: the rings of 1,000 VIPs keep 2 to 8 cores busy. */
#define CP_CREW_MAX 8

/* Job i of n; 0 or -errno. */
typedef int (*cp_crew_job_fn)(void *arg, size_t i);

struct cp_crew {
	cp_crew_job_fn job;
	void *arg;
	size_t n;
	size_t next;		/* next job to take (atomic) */
	size_t done;		/* jobs finished (atomic) */
	int err;		/* first error (atomic) */
	int efd;		/* eventfd: written when done == n; -1 without one */
	pthread_t th[CP_CREW_MAX];
	int n_th;
};

/*
 * Starts helpers on jobs 0..n-1: one per online CPU but one (the caller's
 * is the last), at least one, at most max_helpers and n. Without threads
 * or an eventfd (no memory, RLIMIT_NPROC) nothing starts and the caller
 * runs every job in cp_crew_take() / cp_crew_wait(): never an error.
 */
void cp_crew_start(struct cp_crew *c, size_t n, cp_crew_job_fn job, void *arg,
		   int max_helpers);
/* Runs one job not yet taken on the calling thread; 0 once none is left. */
int cp_crew_take(struct cp_crew *c);
/* 1 once every job has finished. */
int cp_crew_finished(const struct cp_crew *c);
/* Readable when every job has finished; -1 when the crew has no helpers. */
int cp_crew_fd(const struct cp_crew *c);
/* Runs the jobs left, waits for the helpers and joins them. The first
 * error of any job, or 0. */
int cp_crew_wait(struct cp_crew *c);

#endif
