// SPDX-License-Identifier: Apache-2.0
/*
 * bench_maglev.c - cost of lb_maglev_build() and the disruption of
 * removing one backend. Prints figures, asserts nothing (scripts/bench.sh
 * collects them; see docs/measuring.md: median of >= 20 builds, M = 65537,
 * N = 100 and 1000).
 *
 * Usage: bench_maglev [runs]   (default 25, at least 20)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maglev.h"

#define M_BENCH 65537u
#define MIN_RUNS 20

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return a < b ? -1 : a > b;
}

/* n backends 10.0.x.y, ids 0..n-1; weight 0 means "1..100, spread". */
static struct lb_maglev_backend *mk_backends(size_t n, __u32 weight)
{
	struct lb_maglev_backend *b = calloc(n, sizeof(*b));
	size_t i;

	if (!b)
		return NULL;
	for (i = 0; i < n; i++) {
		b[i].family = LB_FAMILY_V4;
		b[i].addr.w[0] = htonl(0x0a000000u | (__u32)(i + 1));
		b[i].weight = weight ? weight : 1 + (__u32)(i * 37 % 100);
		b[i].id = (__u32)i;
	}
	return b;
}

static int bench_build(const char *label, size_t n, __u32 weight, int runs)
{
	struct lb_maglev_backend *b = mk_backends(n, weight);
	__u32 *ring = malloc(M_BENCH * sizeof(*ring));
	double *t = calloc((size_t)runs, sizeof(*t));
	int i, err = 0;

	if (!b || !ring || !t) {
		err = -ENOMEM;
		goto out;
	}
	/* One untimed build warms caches and the allocator. */
	err = lb_maglev_build(b, n, ring, M_BENCH);
	for (i = 0; !err && i < runs; i++) {
		double t0 = now_ms();

		err = lb_maglev_build(b, n, ring, M_BENCH);
		t[i] = now_ms() - t0;
	}
	if (err) {
		fprintf(stderr, "lb_maglev_build: %s\n", strerror(-err));
		goto out;
	}
	qsort(t, (size_t)runs, sizeof(*t), dbl_cmp);
	printf("maglev build M=%u N=%zu%s: min %.2f ms, median %.2f ms, max %.2f ms (%d runs)\n",
	       M_BENCH, n, label, t[0],
	       runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2, t[runs - 1], runs);
out:
	free(t);
	free(ring);
	free(b);
	return err;
}

/* Entries whose backend changes when the middle backend is removed. Ids
 * are the same in both builds, so id equality is address equality. */
static int bench_remove(size_t n)
{
	struct lb_maglev_backend *b = mk_backends(n, 1);
	__u32 *r1 = malloc(M_BENCH * sizeof(*r1)), *r2 = malloc(M_BENCH * sizeof(*r2));
	size_t victim = n / 2, moved = 0, j;
	int err = -ENOMEM;

	if (!b || !r1 || !r2)
		goto out;
	err = lb_maglev_build(b, n, r1, M_BENCH);
	if (!err) {
		memmove(&b[victim], &b[victim + 1], (n - victim - 1) * sizeof(*b));
		err = lb_maglev_build(b, n - 1, r2, M_BENCH);
	}
	if (err) {
		fprintf(stderr, "lb_maglev_build: %s\n", strerror(-err));
		goto out;
	}
	for (j = 0; j < M_BENCH; j++)
		moved += r1[j] != r2[j];
	printf("maglev remove one M=%u N=%zu: moved %.2f/N (%.4f of entries, own share %.4f)%s\n",
	       M_BENCH, n, (double)moved * n / M_BENCH, (double)moved / M_BENCH, 1.0 / n,
	       lb_maglev_ring_too_small(M_BENCH, n) ? " [ring too small]" : "");
out:
	free(r2);
	free(r1);
	free(b);
	return err;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 25;

	if (runs < MIN_RUNS)
		runs = MIN_RUNS;
	if (bench_build("", 100, 1, runs) || bench_build("", 1000, 1, runs) ||
	    bench_build(" weights 1..100", 1000, 0, runs))
		return 1;
	if (bench_remove(10) || bench_remove(100) || bench_remove(1000))
		return 1;
	return 0;
}
