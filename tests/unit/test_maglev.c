// SPDX-License-Identifier: Apache-2.0
/*
 * test_maglev.c - lb_maglev_* (lib/maglev.c): shares, disruption, order
 * and id independence, weights, argument checks, digest, and agreement
 * with a deliberately naive reference written from the algorithm's text.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "maglev.h"

#define M_DEFAULT 65537u

/* Ids in these tests are < ID_SPACE, so a flat table maps id -> backend. */
#define ID_SPACE (1u << 16)

/* Reproducible pseudo-random numbers (xorshift64*): a failure reruns the same. */
static __u64 rng_state = 0x2545f4914f6cdd1dULL;

static __u32 rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (__u32)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static __u32 rnd_below(__u32 n)
{
	return (__u32)(((__u64)rnd() * n) >> 32);
}

static void shuffle(struct lb_maglev_backend *b, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = rnd_below((__u32)i);
		struct lb_maglev_backend t = b[i - 1];

		b[i - 1] = b[j];
		b[j] = t;
	}
}

/* Backend k: 10.0.x.y for IPv4, 2001:db8::k:1 for IPv6. */
static struct lb_maglev_backend mk_backend(__u32 k, __u8 family, __u32 weight)
{
	struct lb_maglev_backend b;

	memset(&b, 0, sizeof(b));
	b.family = family;
	b.weight = weight;
	b.id = k;
	if (family == LB_FAMILY_V4) {
		b.addr.w[0] = htonl(0x0a000000u | (k + 1));
	} else {
		b.addr.w[0] = htonl(0x20010db8u);
		b.addr.w[2] = htonl(k);
		b.addr.w[3] = htonl(1);
	}
	return b;
}

/* n backends, ids 0..n-1; every v6_every-th one IPv6 (0: none). */
static struct lb_maglev_backend *mk_backends(size_t n, size_t v6_every, __u32 weight)
{
	struct lb_maglev_backend *b = calloc(n, sizeof(*b));
	size_t i;

	assert_non_null(b);
	for (i = 0; i < n; i++) {
		__u8 fam = v6_every && i % v6_every == 0 ? LB_FAMILY_V6 : LB_FAMILY_V4;

		b[i] = mk_backend((__u32)i, fam, weight);
	}
	return b;
}

static __u32 *mk_ring(__u32 m)
{
	__u32 *ring = malloc((size_t)m * sizeof(*ring));

	assert_non_null(ring);
	return ring;
}

/* The backend a ring entry names, via the array it was built from. */
static const struct lb_maglev_backend *owner(const struct lb_maglev_backend *b, size_t n, __u32 id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i].id == id)
			return &b[i];
	return NULL;
}

/* table[id] = index into b, or -1. */
static int *id_table(const struct lb_maglev_backend *b, size_t n)
{
	int *t = malloc(ID_SPACE * sizeof(*t));
	size_t i;

	assert_non_null(t);
	for (i = 0; i < ID_SPACE; i++)
		t[i] = -1;
	for (i = 0; i < n; i++) {
		assert_true(b[i].id < ID_SPACE);
		t[b[i].id] = (int)i;
	}
	return t;
}

static int same_addr(const struct lb_maglev_backend *x, const struct lb_maglev_backend *y)
{
	return x->family == y->family && !memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

/* Entries per backend, indexed like b; fails on an id not in b. */
static size_t *count_shares(const __u32 *ring, __u32 m, const struct lb_maglev_backend *b, size_t n)
{
	size_t *cnt = calloc(n ? n : 1, sizeof(*cnt));
	int *t = id_table(b, n);
	__u32 j;

	assert_non_null(cnt);
	for (j = 0; j < m; j++) {
		if (ring[j] >= ID_SPACE || t[ring[j]] < 0)
			fail_msg("ring[%u] = %u names no backend", j, ring[j]);
		cnt[t[ring[j]]]++;
	}
	free(t);
	return cnt;
}

/* --- Reference: naive, written from the description, O(M*N) is fine --- */

static int ref_cmp(const void *pa, const void *pb)
{
	const struct lb_maglev_backend *a = pa, *b = pb;
	const unsigned char *x = (const unsigned char *)&a->addr;
	const unsigned char *y = (const unsigned char *)&b->addr;
	int i;

	if (a->family != b->family)
		return (int)a->family - (int)b->family;
	for (i = 0; i < 16; i++)
		if (x[i] != y[i])
			return (int)x[i] - (int)y[i];
	return 0;
}

static void ref_build(const struct lb_maglev_backend *in, size_t n, __u32 *ring, __u32 m)
{
	struct lb_maglev_backend *u = calloc(n ? n : 1, sizeof(*u));
	__u64 *offset = calloc(n ? n : 1, sizeof(__u64));
	__u64 *skip = calloc(n ? n : 1, sizeof(__u64));
	__u64 *next = calloc(n ? n : 1, sizeof(__u64));
	__u64 *credit = calloc(n ? n : 1, sizeof(__u64));
	__u32 max_w = 0, filled = 0, j;
	size_t nu = 0, i;

	assert_true(u && offset && skip && next && credit);
	for (i = 0; i < n; i++)
		if (in[i].weight)
			u[nu++] = in[i];
	qsort(u, nu, sizeof(*u), ref_cmp);
	for (i = 0; i < nu; i++) {
		offset[i] = lb_addr_hash(&u[i].addr, u[i].family, LB_HASH_SEED_OFFSET) % m;
		skip[i] = lb_addr_hash(&u[i].addr, u[i].family, LB_HASH_SEED_SKIP) % (m - 1) + 1;
		if (u[i].weight > max_w)
			max_w = u[i].weight;
	}
	for (j = 0; j < m; j++)
		ring[j] = LB_BACKEND_NONE;
	while (nu && filled < m) {
		for (i = 0; i < nu && filled < m; i++) {
			credit[i] += u[i].weight;
			while (credit[i] >= max_w && filled < m) {
				__u64 c = (offset[i] + next[i] * skip[i]) % m;

				while (ring[c] != LB_BACKEND_NONE) {
					next[i]++;
					c = (offset[i] + next[i] * skip[i]) % m;
				}
				ring[c] = u[i].id;
				next[i]++;
				filled++;
				credit[i] -= max_w;
			}
		}
	}
	free(credit);
	free(next);
	free(skip);
	free(offset);
	free(u);
}

static void assert_matches_ref(const struct lb_maglev_backend *b, size_t n, __u32 m)
{
	__u32 *got = mk_ring(m), *want = mk_ring(m), j;

	assert_int_equal(lb_maglev_build(b, n, got, m), 0);
	ref_build(b, n, want, m);
	for (j = 0; j < m; j++)
		if (got[j] != want[j])
			fail_msg("m=%u n=%zu: ring[%u] = %u, reference %u", m, n, j, got[j], want[j]);
	free(want);
	free(got);
}

/* --- Shares ------------------------------------------------------------ */

static void check_equal_shares(size_t n, size_t v6_every)
{
	struct lb_maglev_backend *b = mk_backends(n, v6_every, 1);
	__u32 *ring = mk_ring(M_DEFAULT);
	double ideal = (double)M_DEFAULT / (double)n;
	size_t *cnt, i;

	assert_int_equal(lb_maglev_build(b, n, ring, M_DEFAULT), 0);
	cnt = count_shares(ring, M_DEFAULT, b, n);
	for (i = 0; i < n; i++)
		if (fabs((double)cnt[i] - ideal) > 0.01 * ideal)
			fail_msg("N=%zu: backend %zu has %zu entries, ideal %.2f", n, i, cnt[i], ideal);
	free(cnt);
	free(ring);
	free(b);
}

static void test_share_n10(void **state)
{
	(void)state;
	check_equal_shares(10, 0);
}

/* One third IPv6 (and the v4/v6 sort boundary in the middle). */
static void test_share_n100_mixed_v6(void **state)
{
	(void)state;
	check_equal_shares(100, 3);
}

static void test_share_n1000(void **state)
{
	(void)state;
	check_equal_shares(1000, 0);
}

/* --- Disruption -------------------------------------------------------- */

/* Fraction of entries whose backend address changes when b[victim] goes. */
static double moved_fraction(const struct lb_maglev_backend *b, size_t n, size_t victim)
{
	struct lb_maglev_backend *rest = calloc(n, sizeof(*rest));
	__u32 *before = mk_ring(M_DEFAULT), *after = mk_ring(M_DEFAULT), j;
	int *t = id_table(b, n);
	size_t i, k = 0, moved = 0, own = 0;

	assert_non_null(rest);
	for (i = 0; i < n; i++)
		if (i != victim)
			rest[k++] = b[i];
	assert_int_equal(lb_maglev_build(b, n, before, M_DEFAULT), 0);
	assert_int_equal(lb_maglev_build(rest, n - 1, after, M_DEFAULT), 0);
	for (j = 0; j < M_DEFAULT; j++) {
		/* ids are the same in both arrays, so t maps both rings. */
		assert_true(after[j] != b[victim].id);
		if (before[j] == b[victim].id)
			own++;
		if (!same_addr(&b[t[before[j]]], &b[t[after[j]]]))
			moved++;
	}
	/* The victim's own entries must all move; the rest is Maglev's cost. */
	assert_true(moved >= own);
	assert_true(own > 0);
	free(t);
	free(after);
	free(before);
	free(rest);
	return (double)moved / M_DEFAULT;
}

static void check_disruption(size_t n, double max_times_1_over_n)
{
	struct lb_maglev_backend *b = mk_backends(n, 0, 1);
	size_t victims[] = { 0, n / 2, n - 1, rnd_below((__u32)n), rnd_below((__u32)n) };
	size_t v;

	for (v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
		double f = moved_fraction(b, n, victims[v]);

		print_message("N=%zu remove #%zu: moved %.4f = %.2f/N\n", n, victims[v], f, f * n);
		if (f > max_times_1_over_n / n)
			fail_msg("N=%zu remove #%zu: moved %.4f > %.2f/N", n, victims[v], f,
				 max_times_1_over_n);
	}
	free(b);
}

static void test_disruption_n10(void **state)
{
	(void)state;
	check_disruption(10, 1.7);
}

static void test_disruption_n100(void **state)
{
	(void)state;
	check_disruption(100, 1.7);
}

/* M/N ~ 65 is below LB_MAGLEV_MIN_RATIO: printed, and flagged as too small. */
static void test_disruption_n1000_ring_too_small(void **state)
{
	struct lb_maglev_backend *b = mk_backends(1000, 0, 1);
	double f = moved_fraction(b, 1000, 500);

	(void)state;
	print_message("N=1000 remove #500: moved %.4f = %.2f/N (~6.9/N measured when written)\n", f, f * 1000);
	assert_int_equal(lb_maglev_ring_too_small(M_DEFAULT, 1000), 1);
	assert_int_equal(lb_maglev_ring_too_small(M_DEFAULT, 100), 0);
	free(b);
}

static void test_ring_too_small_bounds(void **state)
{
	(void)state;
	/* 100 * 655 = 65500 <= 65537 < 65600 = 100 * 656 */
	assert_int_equal(lb_maglev_ring_too_small(M_DEFAULT, 655), 0);
	assert_int_equal(lb_maglev_ring_too_small(M_DEFAULT, 656), 1);
	assert_int_equal(lb_maglev_ring_too_small(M_DEFAULT, 0), 0);
	assert_int_equal(lb_maglev_ring_too_small(13, 1), 1);
	assert_int_equal(lb_maglev_ring_too_small(0xffffffffu, (size_t)1 << 40), 1);
}

/* --- Order and id independence ---------------------------------------- */

static void test_order_and_ids_do_not_matter(void **state)
{
	const size_t n = 60;
	struct lb_maglev_backend *b = mk_backends(n, 4, 1), *c = calloc(n, sizeof(*c));
	__u32 *ref = mk_ring(M_DEFAULT), *ring = mk_ring(M_DEFAULT), j;
	__u64 ref_digest;
	int *t_ref, round;
	size_t i;

	(void)state;
	assert_non_null(c);
	/* Mixed weights, and two drained ones that must stay out. */
	for (i = 0; i < n; i++)
		b[i].weight = 1 + (__u32)(i % 5);
	b[7].weight = 0;
	b[33].weight = 0;
	assert_int_equal(lb_maglev_build(b, n, ref, M_DEFAULT), 0);
	ref_digest = lb_maglev_digest(ref, M_DEFAULT, b, n);
	t_ref = id_table(b, n);

	for (round = 0; round < 8; round++) {
		int *t;

		memcpy(c, b, n * sizeof(*c));
		shuffle(c, n);
		/* New distinct ids: a random offset, then a random stride
		 * coprime with ID_SPACE (odd), so no two collide. */
		{
			__u32 base = rnd_below(ID_SPACE), stride = rnd_below(ID_SPACE) | 1;

			for (i = 0; i < n; i++)
				c[i].id = (base + (__u32)i * stride) % ID_SPACE;
		}
		assert_int_equal(lb_maglev_build(c, n, ring, M_DEFAULT), 0);
		t = id_table(c, n);
		for (j = 0; j < M_DEFAULT; j++) {
			if (!same_addr(&b[t_ref[ref[j]]], &c[t[ring[j]]]))
				fail_msg("round %d: entry %u changed backend", round, j);
		}
		assert_int_equal(lb_maglev_digest(ring, M_DEFAULT, c, n), ref_digest);
		free(t);
	}
	free(t_ref);
	free(ring);
	free(ref);
	free(c);
	free(b);
}

/* --- Weights ----------------------------------------------------------- */

static void test_weights_1_2_4(void **state)
{
	struct lb_maglev_backend b[3];
	__u32 *ring = mk_ring(M_DEFAULT);
	const double want[3] = { 1.0 / 7, 2.0 / 7, 4.0 / 7 };
	size_t *cnt, i;

	(void)state;
	b[0] = mk_backend(0, LB_FAMILY_V4, 1);
	b[1] = mk_backend(1, LB_FAMILY_V6, 2);
	b[2] = mk_backend(2, LB_FAMILY_V4, 4);
	assert_int_equal(lb_maglev_build(b, 3, ring, M_DEFAULT), 0);
	cnt = count_shares(ring, M_DEFAULT, b, 3);
	for (i = 0; i < 3; i++) {
		double share = (double)cnt[i] / M_DEFAULT;

		print_message("weight %u: share %.4f (ideal %.4f)\n", b[i].weight, share, want[i]);
		if (fabs(share - want[i]) > 0.02)
			fail_msg("weight %u: share %.4f, want %.4f +- 0.02", b[i].weight, share, want[i]);
	}
	free(cnt);
	free(ring);
}

/* Many backends, weights 1..4: each within 1% (relative) of its ideal. */
static void test_weights_many(void **state)
{
	const size_t n = 100;
	struct lb_maglev_backend *b = mk_backends(n, 5, 1);
	__u32 *ring = mk_ring(M_DEFAULT);
	size_t *cnt, i;
	__u64 total_w = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		b[i].weight = 1 + (__u32)(i % 4);
		total_w += b[i].weight;
	}
	assert_int_equal(lb_maglev_build(b, n, ring, M_DEFAULT), 0);
	cnt = count_shares(ring, M_DEFAULT, b, n);
	for (i = 0; i < n; i++) {
		double ideal = (double)M_DEFAULT * b[i].weight / (double)total_w;

		if (fabs((double)cnt[i] - ideal) > 0.01 * ideal)
			fail_msg("backend %zu weight %u: %zu entries, ideal %.1f", i, b[i].weight,
				 cnt[i], ideal);
	}
	free(cnt);
	free(ring);
	free(b);
}

static void test_weight_zero_gets_nothing(void **state)
{
	struct lb_maglev_backend b[4];
	__u32 *ring = mk_ring(M_DEFAULT), j;
	size_t *cnt, i;

	(void)state;
	for (i = 0; i < 4; i++)
		b[i] = mk_backend((__u32)i, LB_FAMILY_V4, 3);
	b[2].weight = 0;
	assert_int_equal(lb_maglev_build(b, 4, ring, M_DEFAULT), 0);
	for (j = 0; j < M_DEFAULT; j++)
		assert_int_not_equal(ring[j], b[2].id);
	cnt = count_shares(ring, M_DEFAULT, b, 4);
	assert_int_equal(cnt[2], 0);
	/* The other three split the ring evenly (round-robin: +-1). */
	for (i = 0; i < 4; i++)
		if (i != 2)
			assert_in_range(cnt[i], M_DEFAULT / 3 - 1, M_DEFAULT / 3 + 1);
	free(cnt);

	/* Draining a backend equals leaving it out. */
	{
		struct lb_maglev_backend rest[3] = { b[0], b[1], b[3] };
		__u32 *ring2 = mk_ring(M_DEFAULT);

		assert_int_equal(lb_maglev_build(rest, 3, ring2, M_DEFAULT), 0);
		assert_memory_equal(ring, ring2, M_DEFAULT * sizeof(*ring));
		free(ring2);
	}
	free(ring);
}

/* Scaling all weights by a constant does not change the ring. */
static void test_weight_scale_invariant(void **state)
{
	const size_t n = 20;
	struct lb_maglev_backend *b = mk_backends(n, 2, 1);
	__u32 *r1 = mk_ring(M_DEFAULT), *r2 = mk_ring(M_DEFAULT);
	size_t i;

	(void)state;
	for (i = 0; i < n; i++)
		b[i].weight = 1 + (__u32)(i % 3);
	assert_int_equal(lb_maglev_build(b, n, r1, M_DEFAULT), 0);
	for (i = 0; i < n; i++)
		b[i].weight *= 1000;
	assert_int_equal(lb_maglev_build(b, n, r2, M_DEFAULT), 0);
	assert_memory_equal(r1, r2, M_DEFAULT * sizeof(*r1));
	free(r2);
	free(r1);
	free(b);
}

/* --- Agreement with the naive reference -------------------------------- */

static void test_matches_reference(void **state)
{
	static const __u32 primes[] = { 2, 3, 13, 251, 1021, 65537 };
	int round;

	(void)state;
	for (round = 0; round < 60; round++) {
		__u32 m = primes[round % (sizeof(primes) / sizeof(primes[0]))];
		/* Sometimes more backends than slots. */
		size_t n = 1 + rnd_below(m < 300 ? 2 * m + 2 : 300);
		struct lb_maglev_backend *b = mk_backends(n, 1 + rnd_below(4), 1);
		size_t i;

		for (i = 0; i < n; i++) {
			switch (round % 4) {
			case 0:
				break;		/* equal weights: plain Maglev */
			case 1:
				b[i].weight = rnd_below(5);	/* some drained */
				break;
			case 2:
				b[i].weight = 1 + rnd_below(1000);
				break;
			default:
				/* Extreme skew: rounds past m for the light ones. */
				b[i].weight = i % 7 ? 1 + rnd_below(3) : 0xffffffffu - rnd_below(9);
				break;
			}
		}
		shuffle(b, n);
		assert_matches_ref(b, n, m);
		free(b);
	}
}

/* --- Argument checks --------------------------------------------------- */

#define POISON 0xa5a5a5a5u

static void assert_rejected_untouched(const struct lb_maglev_backend *b, size_t n, __u32 m)
{
	__u32 ring[13], j;

	assert_true(m <= 13);
	for (j = 0; j < 13; j++)
		ring[j] = POISON;
	assert_int_equal(lb_maglev_build(b, n, ring, m), -EINVAL);
	for (j = 0; j < 13; j++)
		assert_int_equal(ring[j], POISON);
}

static void test_is_prime(void **state)
{
	static const __u32 yes[] = { 2, 3, 5, 13, 251, 65521, 65537, 16777213, 4294967291u };
	static const __u32 no[] = { 0, 1, 4, 9, 25, 49, 65535, 65536, 16777216,
				    4292870399u /* 65519 * 65521 */, 4294967295u };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (lb_maglev_is_prime(yes[i]) != 1)
			fail_msg("%u is prime", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (lb_maglev_is_prime(no[i]) != 0)
			fail_msg("%u is not prime", no[i]);
}

static void test_ring_size_checks(void **state)
{
	static const __u32 bad[] = { 0, 1, 4, 9, 65535, 65536 };
	static const __u32 good[] = { 2, 3, 13, 251, 65537 };
	struct lb_maglev_backend b[2];
	__u32 *ring = mk_ring(M_DEFAULT), m;
	size_t i;

	(void)state;
	b[0] = mk_backend(0, LB_FAMILY_V4, 1);
	b[1] = mk_backend(1, LB_FAMILY_V4, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (lb_maglev_build(b, 2, ring, bad[i]) != -EINVAL)
			fail_msg("m=%u accepted", bad[i]);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (lb_maglev_build(b, 2, ring, good[i]) != 0)
			fail_msg("m=%u rejected", good[i]);
	assert_rejected_untouched(b, 2, 9);

	/* The first prime past the limit is refused without touching ring
	 * (which is far smaller: a write would be caught by ASan). */
	for (m = LB_MAGLEV_MAX_RING + 1; !lb_maglev_is_prime(m); m++)
		;
	assert_int_equal(m, 16777259);
	assert_int_equal(lb_maglev_build(b, 2, ring, m), -EINVAL);
	free(ring);

	/* The largest prime at or below the limit is accepted. */
	for (m = LB_MAGLEV_MAX_RING; !lb_maglev_is_prime(m); m--)
		;
	ring = mk_ring(m);
	assert_int_equal(lb_maglev_build(b, 2, ring, m), 0);
	assert_true(ring[0] == 0 || ring[0] == 1);
	assert_true(ring[m - 1] == 0 || ring[m - 1] == 1);
	free(ring);
}

static void test_bad_backends(void **state)
{
	struct lb_maglev_backend b[3];
	__u32 ring[13];

	(void)state;
	b[0] = mk_backend(0, LB_FAMILY_V4, 1);
	b[1] = mk_backend(1, LB_FAMILY_V6, 1);
	b[2] = mk_backend(2, LB_FAMILY_V4, 1);
	assert_int_equal(lb_maglev_build(b, 3, ring, 13), 0);

	/* Same address twice, different ids. */
	b[2].addr = b[0].addr;
	assert_rejected_untouched(b, 3, 13);
	/* Even when the duplicate is drained. */
	b[2].weight = 0;
	assert_rejected_untouched(b, 3, 13);
	/* Same address words, other family: a different backend. */
	b[2] = mk_backend(2, LB_FAMILY_V6, 1);
	b[2].addr = b[0].addr;
	assert_int_equal(lb_maglev_build(b, 3, ring, 13), 0);

	/* Same id twice. */
	b[2] = mk_backend(2, LB_FAMILY_V4, 1);
	b[2].id = b[1].id;
	assert_rejected_untouched(b, 3, 13);
	b[2].weight = 0;
	assert_rejected_untouched(b, 3, 13);

	/* The empty marker as an id. */
	b[2] = mk_backend(2, LB_FAMILY_V4, 1);
	b[2].id = LB_BACKEND_NONE;
	assert_rejected_untouched(b, 3, 13);

	/* Families. */
	b[2] = mk_backend(2, LB_FAMILY_V4, 1);
	b[2].family = LB_FAMILY_NONE;
	assert_rejected_untouched(b, 3, 13);
	b[2].family = 5;
	assert_rejected_untouched(b, 3, 13);
	/* IPv4 with junk past word 0. */
	b[2].family = LB_FAMILY_V4;
	b[2].addr.w[3] = htonl(1);
	assert_rejected_untouched(b, 3, 13);

	/* NULLs. */
	b[2] = mk_backend(2, LB_FAMILY_V4, 1);
	assert_rejected_untouched(NULL, 3, 13);
	assert_int_equal(lb_maglev_build(b, 3, NULL, 13), -EINVAL);
}

static void test_no_usable_backends(void **state)
{
	struct lb_maglev_backend b[3];
	__u32 *ring = mk_ring(M_DEFAULT), j;
	size_t i;

	(void)state;
	for (j = 0; j < M_DEFAULT; j++)
		ring[j] = POISON;
	assert_int_equal(lb_maglev_build(NULL, 0, ring, M_DEFAULT), 0);
	for (j = 0; j < M_DEFAULT; j++)
		assert_int_equal(ring[j], LB_BACKEND_NONE);

	for (i = 0; i < 3; i++)
		b[i] = mk_backend((__u32)i, LB_FAMILY_V4, 0);
	for (j = 0; j < M_DEFAULT; j++)
		ring[j] = POISON;
	assert_int_equal(lb_maglev_build(b, 3, ring, M_DEFAULT), 0);
	for (j = 0; j < M_DEFAULT; j++)
		assert_int_equal(ring[j], LB_BACKEND_NONE);
	free(ring);
}

/* Every entry names a usable backend, and the whole ring is written. */
static void test_ring_holds_usable_ids_only(void **state)
{
	const size_t n = 50;
	struct lb_maglev_backend *b = mk_backends(n, 7, 1);
	__u32 *ring = mk_ring(M_DEFAULT), j;
	size_t i;

	(void)state;
	for (i = 0; i < n; i++) {
		b[i].id = 1000 + 3 * (__u32)i;
		b[i].weight = i % 4 ? 2 : 0;
	}
	for (j = 0; j < M_DEFAULT; j++)
		ring[j] = POISON;
	assert_int_equal(lb_maglev_build(b, n, ring, M_DEFAULT), 0);
	for (j = 0; j < M_DEFAULT; j++) {
		const struct lb_maglev_backend *o = owner(b, n, ring[j]);

		if (!o || !o->weight)
			fail_msg("ring[%u] = %u is not a usable backend", j, ring[j]);
	}
	free(ring);
	free(b);
}

/* More backends than slots: full ring, each used backend once at most. */
static void test_more_backends_than_slots(void **state)
{
	const size_t n = 40;
	struct lb_maglev_backend *b = mk_backends(n, 0, 1);
	__u32 ring[13];
	size_t *cnt, i, used = 0;

	(void)state;
	assert_int_equal(lb_maglev_build(b, n, ring, 13), 0);
	cnt = count_shares(ring, 13, b, n);
	for (i = 0; i < n; i++) {
		assert_true(cnt[i] <= 1);
		used += cnt[i];
	}
	assert_int_equal(used, 13);
	assert_int_equal(lb_maglev_ring_too_small(13, n), 1);
	free(cnt);
	free(b);
}

/* --- Digest ------------------------------------------------------------ */

static void test_digest(void **state)
{
	const size_t n = 30;
	struct lb_maglev_backend *b = mk_backends(n, 3, 1), *c = calloc(n, sizeof(*c));
	__u32 *r1 = mk_ring(M_DEFAULT), *r2 = mk_ring(M_DEFAULT);
	__u64 d1, d;
	size_t i;

	(void)state;
	assert_non_null(c);
	assert_int_equal(lb_maglev_build(b, n, r1, M_DEFAULT), 0);
	d1 = lb_maglev_digest(r1, M_DEFAULT, b, n);
	assert_int_equal(lb_maglev_digest(r1, M_DEFAULT, b, n), d1);

	/* One backend's address differs (v4 and v6 cases). */
	memcpy(c, b, n * sizeof(*c));
	c[4].addr.w[0] ^= htonl(0x00000100);
	assert_int_equal(lb_maglev_build(c, n, r2, M_DEFAULT), 0);
	assert_int_not_equal(lb_maglev_digest(r2, M_DEFAULT, c, n), d1);
	memcpy(c, b, n * sizeof(*c));
	c[3].addr.w[3] ^= htonl(2);
	assert_int_equal(lb_maglev_build(c, n, r2, M_DEFAULT), 0);
	assert_int_not_equal(lb_maglev_digest(r2, M_DEFAULT, c, n), d1);

	/* One backend's weight differs: other ring, other digest. */
	memcpy(c, b, n * sizeof(*c));
	c[9].weight = 2;
	assert_int_equal(lb_maglev_build(c, n, r2, M_DEFAULT), 0);
	assert_int_not_equal(lb_maglev_digest(r2, M_DEFAULT, c, n), d1);

	/* Same ring, the address behind one id changed: only the digest
	 * can tell (the ids are identical). */
	memcpy(c, b, n * sizeof(*c));
	c[0].addr.w[0] ^= htonl(1);
	assert_int_not_equal(lb_maglev_digest(r1, M_DEFAULT, c, n), d1);

	/* One entry swapped to another backend. */
	memcpy(r2, r1, M_DEFAULT * sizeof(*r1));
	r2[M_DEFAULT / 2] = r1[M_DEFAULT / 2] == b[0].id ? b[1].id : b[0].id;
	assert_int_not_equal(lb_maglev_digest(r2, M_DEFAULT, b, n), d1);
	/* Two entries of different backends swapped: same multiset, but a
	 * different ring. */
	memcpy(r2, r1, M_DEFAULT * sizeof(*r1));
	for (i = 1; r2[i] == r2[0]; i++)
		;
	r2[0] = r1[i];
	r2[i] = r1[0];
	assert_int_not_equal(lb_maglev_digest(r2, M_DEFAULT, b, n), d1);
	memcpy(r2, r1, M_DEFAULT * sizeof(*r1));
	r2[M_DEFAULT / 2] = r1[M_DEFAULT / 2] == b[0].id ? b[1].id : b[0].id;

	/* One entry emptied, or pointing at an unknown id. */
	r2[M_DEFAULT / 2] = LB_BACKEND_NONE;
	d = lb_maglev_digest(r2, M_DEFAULT, b, n);
	assert_int_not_equal(d, d1);
	r2[M_DEFAULT / 2] = 12345;
	assert_int_not_equal(lb_maglev_digest(r2, M_DEFAULT, b, n), d1);
	assert_int_not_equal(lb_maglev_digest(r2, M_DEFAULT, b, n), d);

	/* Different ids for the same addresses: same digest. */
	memcpy(c, b, n * sizeof(*c));
	for (i = 0; i < n; i++)
		c[i].id = 5000 + 7 * (__u32)(n - i);
	assert_int_equal(lb_maglev_build(c, n, r2, M_DEFAULT), 0);
	assert_int_equal(lb_maglev_digest(r2, M_DEFAULT, c, n), d1);
	/* Array order does not matter to the digest either. */
	shuffle(c, n);
	assert_int_equal(lb_maglev_digest(r2, M_DEFAULT, c, n), d1);

	/* Another ring size is another ring. */
	{
		__u32 *r3 = mk_ring(65521);

		assert_int_equal(lb_maglev_build(b, n, r3, 65521), 0);
		assert_int_not_equal(lb_maglev_digest(r3, 65521, b, n), d1);
		free(r3);
	}
	free(r2);
	free(r1);
	free(c);
	free(b);
}

/*
 * Fleet contract: nodes running different builds must agree on rings.
 * This pins the ring (through its digest) for one fixed input; if it
 * changes, the hash, seeds, offset/skip formulas, sort order, weight
 * schedule or digest changed. Change the constant only on purpose, with a
 * note in the release: mixed-version fleets will disagree during rollout.
 */
static void test_fleet_contract_pinned(void **state)
{
	const size_t n = 16;
	struct lb_maglev_backend *b = mk_backends(n, 4, 1);
	__u32 *ring = mk_ring(M_DEFAULT);
	__u32 small[13], j;
	size_t i;
	__u64 d;

	(void)state;
	for (i = 0; i < n; i++)
		b[i].weight = 1 + (__u32)(i % 3);
	assert_int_equal(lb_maglev_build(b, n, ring, M_DEFAULT), 0);
	d = lb_maglev_digest(ring, M_DEFAULT, b, n);
	print_message("pinned digest M=65537: 0x%016llx\n", (unsigned long long)d);
	assert_int_equal(d, 0x7db241f066de633bULL);

	assert_int_equal(lb_maglev_build(b, 4, small, 13), 0);
	print_message("pinned ring M=13:");
	for (j = 0; j < 13; j++)
		print_message(" %u", small[j]);
	print_message("\n");
	{
		static const __u32 want[13] = { 2, 0, 2, 1, 1, 2, 3, 2, 1, 3, 2, 1, 2 };

		assert_memory_equal(small, want, sizeof(want));
	}
	free(ring);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_n10),
		cmocka_unit_test(test_share_n100_mixed_v6),
		cmocka_unit_test(test_share_n1000),
		cmocka_unit_test(test_disruption_n10),
		cmocka_unit_test(test_disruption_n100),
		cmocka_unit_test(test_disruption_n1000_ring_too_small),
		cmocka_unit_test(test_ring_too_small_bounds),
		cmocka_unit_test(test_order_and_ids_do_not_matter),
		cmocka_unit_test(test_weights_1_2_4),
		cmocka_unit_test(test_weights_many),
		cmocka_unit_test(test_weight_zero_gets_nothing),
		cmocka_unit_test(test_weight_scale_invariant),
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_is_prime),
		cmocka_unit_test(test_ring_size_checks),
		cmocka_unit_test(test_bad_backends),
		cmocka_unit_test(test_no_usable_backends),
		cmocka_unit_test(test_ring_holds_usable_ids_only),
		cmocka_unit_test(test_more_backends_than_slots),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_fleet_contract_pinned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
