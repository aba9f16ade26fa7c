// SPDX-License-Identifier: Apache-2.0
/*
 * maglev.c - weighted Maglev ring population (see maglev.h).
 *
 * Plain Maglev: backend i prefers the slots (offset_i + j * skip_i) mod M,
 * j = 0, 1, ...; the backends take turns, each taking its next preferred
 * slot that is still empty, until the ring is full. M prime makes every
 * skip in [1, M) coprime with M, so each preference list is a permutation
 * of the ring and a backend always finds an empty slot.
 *
 * Weights: in each round every backend earns credit += weight and, while
 * credit >= max_weight, takes a slot and pays max_weight. Since weight <=
 * max_weight it takes at most one slot per round, and its k-th slot (k >= 1)
 * comes in round ceil(k * max_weight / weight). The fill order is thus the
 * pairs (round, sorted index) in increasing order. Visiting every backend
 * in every round would cost O(M * N) when one weight dwarfs the others, so
 * rounds are taken in windows holding about N takes: each backend's takes
 * in the window are counting-sorted by round (stable, so index order holds
 * within a round), then played in that order. O(N) per window, about M/N
 * windows: O(M + N) with O(N) scratch. Equal weights give one take each
 * per round: plain Maglev.
 *
 * Probing for empty slots dominates: ~M ln M probes in all (the last slots
 * are found by few backends' walks), done against an M-bit bitmap.
 *
 * The backend with max_weight takes a slot in every round, so the ring is
 * full by round M at the latest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

/* One backend during population. */
struct mg_slot {
	struct lb_addr addr;
	__u8 family;
	__u32 weight;
	__u32 id;
	__u32 pos;		/* next preference: (offset + j * skip) mod m */
	__u32 skip;
	__u32 skip2;		/* 2 * skip mod m: see take() */
	__u32 q;		/* max_weight = q * weight + rem */
	__u32 rem;
	/* (k + 1) * max_weight = aq * weight + ar, k = slots taken so far, so
	 * the next slot's round is aq + (ar != 0), stepped without dividing. */
	__u64 aq;
	__u64 ar;
};

int lb_maglev_is_prime(__u32 m)
{
	__u64 d;

	if (m < 2)
		return 0;
	if (m < 4)
		return 1;
	if (m % 2 == 0 || m % 3 == 0)
		return 0;
	/* 64-bit d so that d * d cannot wrap near 2^32. */
	for (d = 5; d * d <= m; d += 6)
		if (m % d == 0 || m % (d + 2) == 0)
			return 0;
	return 1;
}

int lb_maglev_ring_too_small(__u32 m, size_t n_usable)
{
	/* Compare in 64 bits; a count past m is too small at any ratio. */
	if (n_usable > m)
		return 1;
	return (__u64)m < (__u64)LB_MAGLEV_MIN_RATIO * n_usable;
}

/* Fleet-wide order of backends: family, then address bytes as stored
 * (network order), so the result is the same on every host. */
static int addr_cmp(const struct lb_addr *a, __u8 fa, const struct lb_addr *b, __u8 fb)
{
	if (fa != fb)
		return fa < fb ? -1 : 1;
	return memcmp(a, b, sizeof(*a));
}

static int slot_cmp(const void *pa, const void *pb)
{
	const struct mg_slot *a = pa, *b = pb;

	return addr_cmp(&a->addr, a->family, &b->addr, b->family);
}

static int u32_cmp(const void *pa, const void *pb)
{
	__u32 a = *(const __u32 *)pa, b = *(const __u32 *)pb;

	return a < b ? -1 : a > b;
}

static int family_addr_ok(const struct lb_maglev_backend *b)
{
	if (b->family == LB_FAMILY_V6)
		return 1;
	return b->family == LB_FAMILY_V4 && !b->addr.w[1] && !b->addr.w[2] && !b->addr.w[3];
}

/* Checks that need no memory; the caller has ensured b != NULL if n > 0. */
static int check_backends(const struct lb_maglev_backend *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!family_addr_ok(&b[i]) || b[i].id == LB_BACKEND_NONE)
			return -EINVAL;
	}
	return 0;
}

/*
 * Duplicate (family, addr) or id among all n backends. all[] holds every
 * backend (weight 0 included), ids[] is scratch of n entries. Sorts all[].
 */
static int check_unique(struct mg_slot *all, __u32 *ids, size_t n)
{
	size_t i;

	qsort(all, n, sizeof(*all), slot_cmp);
	for (i = 0; i < n; i++)
		ids[i] = all[i].id;
	qsort(ids, n, sizeof(*ids), u32_cmp);
	for (i = 1; i < n; i++) {
		if (!slot_cmp(&all[i - 1], &all[i]) || ids[i - 1] == ids[i])
			return -EINVAL;
	}
	return 0;
}

/* (aq, ar) += max_weight in quotient/remainder form: from the round of one
 * slot of p to the round of its next (see struct mg_slot). */
static __always_inline void advance(const struct mg_slot *p, __u64 *aq, __u64 *ar)
{
	*aq += p->q;
	*ar += p->rem;
	if (*ar >= p->weight) {
		*ar -= p->weight;
		(*aq)++;
	}
}

static __always_inline __u64 round_of(__u64 aq, __u64 ar)
{
	return aq + (ar != 0);
}

/* (a + b) mod m for a, b < m; 64-bit so that no m can wrap it. */
static __always_inline __u64 add_mod(__u64 a, __u64 b, __u32 m)
{
	a += b;
	return a >= m ? a - m : a;
}

static __always_inline __u64 is_used(const __u64 *used, __u64 pos)
{
	return (used[pos >> 6] >> (pos & 63)) & 1;
}

/*
 * Backend p takes its next preferred empty slot. Occupancy is a bitmap of
 * m bits (8 KiB for m = 65537, in L1) rather than the ring itself (256 KiB):
 * the ~m ln m probes are the bulk of the work, and this makes a build ~20%
 * faster. It also means every ring entry is written exactly once.
 *
 * Probes go two preferences at a time: one position after the other is
 * a chain of dependent add-and-compare steps, and stepping by 2 * skip
 * halves it (M=65537, N=100: 1.36 -> 1.22 ms here; four at a time was
 * slower). The order of preferences, so the ring, is the textbook one.
 */
static __always_inline void take(struct mg_slot *p, __u64 *used, __u32 *ring, __u32 m)
{
	__u64 pos = p->pos, p1;

	for (;;) {
		p1 = add_mod(pos, p->skip, m);
		if (!is_used(used, pos))
			break;
		if (!is_used(used, p1)) {
			pos = p1;
			p1 = add_mod(pos, p->skip, m);
			break;
		}
		pos = add_mod(pos, p->skip2, m);
	}
	used[pos >> 6] |= 1ULL << (pos & 63);
	ring[pos] = p->id;
	p->pos = (__u32)p1;
}

/*
 * Fill ring[0..m) from the ns usable backends s[], sorted by address.
 * sched[] has room for 3 * ns entries, cnt[] for ns + 1, used[] is a
 * zeroed bitmap of m bits.
 */
static void populate(struct mg_slot *s, size_t ns, __u32 *sched, __u32 *cnt, __u64 *used,
		     __u32 *ring, __u32 m)
{
	__u64 sum_w = 0, win, r0, end;
	__u32 max_w = 0, filled = 0, j;
	size_t i, t, total;

	if (!ns) {
		for (j = 0; j < m; j++)
			ring[j] = LB_BACKEND_NONE;
		return;
	}
	for (i = 0; i < ns; i++) {
		sum_w += s[i].weight;
		if (s[i].weight > max_w)
			max_w = s[i].weight;
	}
	for (i = 0; i < ns; i++) {
		struct mg_slot *p = &s[i];

		/* The permutation formula is part of the fleet contract. */
		p->pos = lb_addr_hash(&p->addr, p->family, LB_HASH_SEED_OFFSET) % m;
		p->skip = lb_addr_hash(&p->addr, p->family, LB_HASH_SEED_SKIP) % (m - 1) + 1;
		p->skip2 = (__u32)add_mod(p->skip, p->skip, m);
		p->q = max_w / p->weight;
		p->rem = max_w % p->weight;
		p->aq = p->q;
		p->ar = p->rem;
	}
	/*
	 * Window of rounds holding about ns takes: ceil(ns * max_w / sum_w),
	 * in [1, ns] since max_w <= sum_w <= ns * max_w (ns < 2^32, so the
	 * product fits). A backend takes at most ceil(win * w / max_w) slots
	 * in a window, so a window holds at most win * sum_w / max_w + ns <=
	 * 3 * ns takes.
	 */
	win = ((__u64)ns * max_w + sum_w - 1) / sum_w;
	for (r0 = 1; filled < m; r0 = end) {
		end = r0 + win;
		/* cnt[x + 1]: takes in round r0 + x; then prefix sums make
		 * cnt[x] the first sched index of round r0 + x. */
		memset(cnt, 0, (win + 1) * sizeof(*cnt));
		for (i = 0; i < ns; i++) {
			__u64 aq = s[i].aq, ar = s[i].ar, r;

			while ((r = round_of(aq, ar)) < end) {
				cnt[r - r0 + 1]++;
				advance(&s[i], &aq, &ar);
			}
		}
		for (t = 1; t <= win; t++)
			cnt[t] += cnt[t - 1];
		total = cnt[win];
		for (i = 0; i < ns; i++) {
			__u64 r;

			while ((r = round_of(s[i].aq, s[i].ar)) < end) {
				sched[cnt[r - r0]++] = (__u32)i;
				advance(&s[i], &s[i].aq, &s[i].ar);
			}
		}
		for (t = 0; t < total && filled < m; t++, filled++)
			take(&s[sched[t]], used, ring, m);
	}
}

int lb_maglev_build(const struct lb_maglev_backend *b, size_t n, __u32 *ring, __u32 m)
{
	struct mg_slot *all = NULL;
	__u32 *scratch = NULL;
	__u64 *used = NULL;
	size_t i, ns = 0;
	int err;

	if (!ring || (!b && n) || m > LB_MAGLEV_MAX_RING || !lb_maglev_is_prime(m))
		return -EINVAL;
	/* Distinct non-NONE 32-bit ids cannot be more than this. It also
	 * keeps backend indices within __u32 and 4 * n + 2 from wrapping. */
	if (n >= LB_BACKEND_NONE)
		return -EINVAL;
	err = check_backends(b, n);
	if (err)
		return err;

	if (n) {
		all = calloc(n, sizeof(*all));
		/* The id check's n entries, then the schedule's 3 * n and
		 * its counters' n + 1. */
		scratch = calloc(4 * n + 2, sizeof(*scratch));
		used = calloc(m / 64 + 1, sizeof(*used));
		if (!all || !scratch || !used) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		all[i].addr = b[i].addr;
		all[i].family = b[i].family;
		all[i].weight = b[i].weight;
		all[i].id = b[i].id;
	}
	/* n == 0: nothing to check, and qsort() wants non-NULL arrays. */
	if (n) {
		err = check_unique(all, scratch, n);
		if (err)
			goto out;
	}

	/* Keep the usable ones, still in (family, addr) order. */
	for (i = 0; i < n; i++) {
		if (all[i].weight)
			all[ns++] = all[i];
	}
	populate(all, ns, scratch, scratch ? scratch + 3 * n + 1 : NULL, used, ring, m);
	err = 0;
out:
	free(used);
	free(scratch);
	free(all);
	return err;
}

/* 64-bit xxHash avalanche: hash.h's lb_hash_final() keeps 32 bits only. */
static __u64 avalanche64(__u64 h)
{
	h ^= h >> 33;
	h *= LB_HASH_P2;
	h ^= h >> 29;
	h *= LB_HASH_P3;
	h ^= h >> 32;
	return h;
}

/* 64-bit fingerprint of a backend address; all words and the family. */
static __u64 addr_fp(const struct lb_addr *a, __u8 family)
{
	__u64 h = LB_HASH_P3;

	h = lb_hash_round(h, lb_hash_pair(a->w[0], a->w[1]));
	h = lb_hash_round(h, lb_hash_pair(a->w[2], a->w[3]));
	h = lb_hash_round(h, family);
	return avalanche64(h);
}

/* Index of the digest: backend id -> address fingerprint, an open-
 * addressed table of a power-of-two size >= 2n, so a ring entry costs one
 * probe on average (a binary search cost more than building the ring). */
struct mg_idfp {
	__u32 id;
	__u32 used;
	__u64 fp;
};

struct mg_index {
	struct mg_idfp *slot;
	__u32 mask;
};

static __u32 idx_home(const struct mg_index *x, __u32 id)
{
	return (__u32)(((__u64)id * LB_HASH_P1) >> 32) & x->mask;
}

static int idx_build(struct mg_index *x, const struct lb_maglev_backend *b, size_t n)
{
	__u32 size = 4;

	while (size < 2 * n)
		size <<= 1;
	x->slot = calloc(size, sizeof(*x->slot));
	if (!x->slot)
		return -ENOMEM;
	x->mask = size - 1;
	for (size_t i = 0; i < n; i++) {
		__u32 k = idx_home(x, b[i].id);

		while (x->slot[k].used && x->slot[k].id != b[i].id)
			k = (k + 1) & x->mask;
		if (x->slot[k].used)
			continue;	/* duplicate id: the first one wins */
		x->slot[k].used = 1;
		x->slot[k].id = b[i].id;
		x->slot[k].fp = addr_fp(&b[i].addr, b[i].family);
	}
	return 0;
}

/* Distinct markers, well away from any real fingerprint's structure. */
#define MG_FP_EMPTY 0x6d61676c65763030ULL	/* "maglev00" */
#define MG_FP_UNKNOWN 0x6d61676c65763f3fULL	/* "maglev??" */

static __u64 entry_fp(__u32 id, const struct mg_index *x, const struct lb_maglev_backend *b,
		      size_t nb)
{
	if (id == LB_BACKEND_NONE)
		return MG_FP_EMPTY;
	if (x->slot) {
		for (__u32 k = idx_home(x, id); x->slot[k].used; k = (k + 1) & x->mask)
			if (x->slot[k].id == id)
				return x->slot[k].fp;
	} else {
		/* No memory for the index: same answer, slower. */
		for (size_t i = 0; i < nb; i++)
			if (b[i].id == id)
				return addr_fp(&b[i].addr, b[i].family);
	}
	return MG_FP_UNKNOWN ^ ((__u64)id * LB_HASH_P1);
}

__u64 lb_maglev_digest(const __u32 *ring, __u32 m, const struct lb_maglev_backend *b, size_t n)
{
	struct mg_index x = { 0 };
	__u64 h;
	__u32 j;

	if (b && n && idx_build(&x, b, n))
		x.slot = NULL;
	/* Each round is a bijection of the accumulator for a given input, so
	 * rings differing in one entry end in different digests unless the
	 * two fingerprints collide (2^-64 per pair of addresses). */
	h = lb_hash_round(LB_HASH_P3, m);
	for (j = 0; ring && j < m; j++)
		h = lb_hash_round(h, entry_fp(ring[j], &x, b, b ? n : 0));
	free(x.slot);
	return avalanche64(h);
}
