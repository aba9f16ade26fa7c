/* SPDX-License-Identifier: Apache-2.0 */
/*
 * maglev.h - weighted Maglev consistent hashing (Eisenbud et al., NSDI'16,
 * section 3.4): fills a VIP's ring of M backend ids.
 *
 * The ring is part of the fleet-wide contract: every node behind ECMP, and
 * every restart, must compute the same ring from the same backends, so the
 * result depends only on the multiset {(family, addr, weight)} of backends
 * with weight > 0 and on M. Not on array order, not on ids, not on the node.
 * Changing anything below that alters rings (hash seeds, offset/skip
 * formulas, sort order, weight schedule) makes mixed-version fleets disagree.
 *
 * Everything here is pure and reentrant: no global state, no locks; any
 * thread may call any function. Userspace only (not for BPF).
 */
#ifndef SLUICE_LIB_MAGLEV_H
#define SLUICE_LIB_MAGLEV_H

#include <stddef.h>

#include "fwd.h"
#include "hash.h"

/* One backend as lb_maglev_build() sees it. */
struct lb_maglev_backend {
	struct lb_addr addr;	/* IPv4 in w[0] (network order), w[1..3] zero */
	__u8 family;		/* LB_FAMILY_V4 / LB_FAMILY_V6 */
	__u8 pad[3];
	__u32 weight;		/* 0: no ring entries (draining or down) */
	__u32 id;		/* backend id written into the ring */
};

/*
 * Largest ring size accepted (the largest prime below it is 16777213).
 * One ring row of this size is 64 MiB and two halves per VIP are mapped, so
 * larger would not fit a gateway's memory anyway; at LB_MAGLEV_MIN_RATIO it
 * still serves ~167k backends, 40x LB_DEFAULT_MAX_BACKENDS. It also keeps
 * LB_RING_WORD(size, half) far from overflowing 32 bits.
 */
#define LB_MAGLEV_MAX_RING (1u << 24)

/*
 * M should be at least this many times the number of usable backends.
 * Below that, Maglev's fill order makes removing one backend move far more
 * than its own 1/N of the entries (measured with M = 65537: ~1.6/N at
 * N = 100, ~6.9/N at N = 1000), which breaks connections that are not in
 * the connection table, and per-backend shares get coarse.
 */
#define LB_MAGLEV_MIN_RATIO 100

/*
 * lb_maglev_is_prime - 1 if m is prime, else 0 (0 and 1 are not prime).
 * Accepts any 32-bit value; trial division, at most ~22k steps.
 */
int lb_maglev_is_prime(__u32 m);

/*
 * lb_maglev_build - fill ring[0..m) with the ids of the backends b[0..n).
 *
 * Accepts: m prime and <= LB_MAGLEV_MAX_RING (2 is accepted: its only skip,
 * 1, is coprime with it; useful only in tests). n may be 0 (b may then be
 * NULL) and may exceed m: some backends then get no entry (see
 * lb_maglev_ring_too_small()).
 *
 * Rejects with -EINVAL, before writing anything to ring:
 *   - ring NULL, or b NULL with n > 0; m not prime or > LB_MAGLEV_MAX_RING;
 *   - a family other than LB_FAMILY_V4 / LB_FAMILY_V6, or an IPv4 address
 *     with w[1..3] not zero (the hash covers all four words, so junk there
 *     would silently give this node a different ring from the fleet);
 *   - two backends with the same (family, addr), or two with the same id,
 *     or an id equal to LB_BACKEND_NONE.
 * Those checks cover weight-0 backends too: a duplicate is a control-plane
 * bug whatever the weight.
 * Returns -ENOMEM, ring untouched, if its scratch (80 bytes per
 * backend plus m / 8 bytes) cannot be allocated.
 *
 * With no backend of weight > 0, every entry is LB_BACKEND_NONE, the empty
 * ring marker the fast path drops on (LB_R_DROP_NO_BACKEND); returns 0.
 *
 * Otherwise each entry holds the id of a backend with weight > 0. Backends
 * are ordered by (family, address bytes); offset = lb_addr_hash(addr,
 * family, LB_HASH_SEED_OFFSET) % m, skip = lb_addr_hash(..., SEED_SKIP) %
 * (m - 1) + 1. Filling goes in rounds: in each, every backend in that order
 * adds its weight to a credit and, while credit >= the largest weight,
 * takes its next preferred empty slot and pays the largest weight. So a
 * backend's count is floor(R * weight / largest weight) for R the last
 * round or the one before: proportional to weight up to about one entry
 * per backend, the heaviest absorbing the sum of those roundings (a
 * backend with under ~100 entries can be a few percent off). Equal
 * weights give plain Maglev: every count is floor or ceil of m / n.
 *
 * Ownership: ring is the caller's and written in place, each entry once
 * but in no particular order, so it is incomplete until return: pass a ring
 * the fast path is not reading (the inactive half of the row) and flip
 * after 0 is returned. Nothing is kept after return; b is only read.
 * Cost: O(n log n + m log m) expected time (~1.5 ms for m = 65537,
 * n = 1000, any weights; tests/bench/bench_maglev.c).
 */
int lb_maglev_build(const struct lb_maglev_backend *b, size_t n, __u32 *ring, __u32 m);

/*
 * lb_maglev_digest - 64-bit digest of ring[0..m) read as positions ->
 * backend (family, addr), with b[0..n) mapping ids to addresses.
 *
 * Two nodes whose rings send every position to the same address get the
 * same digest even if their ids differ, so the control plane can compare
 * rings across a fleet (or before and after a restart) by exchanging 8
 * bytes. Any single-entry difference changes the digest (barring a 2^-64
 * collision of two addresses' 64-bit fingerprints); m is mixed in.
 * LB_BACKEND_NONE entries digest as "empty"; an id found in no b[i] digests
 * as "unknown id <id>" (such a ring is broken; it will not match a sane one).
 * b should be the array the ring was built from; weights are ignored. If two
 * b[i] share an id (which lb_maglev_build() rejects), which one is used is
 * unspecified.
 *
 * Never fails: it allocates an O(n) index; if that fails it falls back to a
 * linear search per entry (same result, slower). ring and b are only read.
 * The digest is not a security measure (not keyed, not collision resistant
 * against an adversary).
 */
__u64 lb_maglev_digest(const __u32 *ring, __u32 m, const struct lb_maglev_backend *b, size_t n);

/*
 * lb_maglev_ring_too_small - 1 if m < LB_MAGLEV_MIN_RATIO * n_usable, else 0.
 *
 * n_usable counts backends with weight > 0. The control plane warns (it
 * does not refuse): removing one backend from such a ring moves well over
 * ~1.6/N of the entries. n_usable == 0 returns 0. Any values accepted.
 */
int lb_maglev_ring_too_small(__u32 m, size_t n_usable);

#endif /* SLUICE_LIB_MAGLEV_H */
