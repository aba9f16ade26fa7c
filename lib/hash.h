/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hash.h - the one hash of Sluice, header-only, identical in BPF and C.
 *
 * Used for the flow hash (ring pick, connection-table bucket, encap source
 * entropy), the VIP table and the Maglev permutations. It is the xxHash64
 * round and avalanche over 64-bit words built from 32-bit loads (so no
 * alignment assumptions), truncated to 32 bits. Seeds are constants: every
 * node of a fleet must map a flow to the same ring entry.
 *
 * Words are the in-memory (network order) fields read as host integers, so
 * the value depends on host byte order; all supported hosts are
 * little-endian.
 */
#ifndef SLUICE_LIB_HASH_H
#define SLUICE_LIB_HASH_H

#include "compat.h"
#include "fwd.h"

#define LB_HASH_P1 0x9E3779B185EBCA87ULL
#define LB_HASH_P2 0xC2B2AE3D27D4EB4FULL
#define LB_HASH_P3 0x165667B19E3779F9ULL

/* Seeds: fixed forever, part of the fleet-wide contract. */
#define LB_HASH_SEED_FLOW 0x5a17ce01u
#define LB_HASH_SEED_OFFSET 0x0ff5e7a1u	/* Maglev permutation offset */
#define LB_HASH_SEED_SKIP 0x5c1b0b02u	/* Maglev permutation skip */

static __always_inline __u64 lb_hash_rotl64(__u64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static __always_inline __u64 lb_hash_round(__u64 acc, __u64 in)
{
	acc += in * LB_HASH_P2;
	acc = lb_hash_rotl64(acc, 31);
	return acc * LB_HASH_P1;
}

static __always_inline __u32 lb_hash_final(__u64 h)
{
	h ^= h >> 33;
	h *= LB_HASH_P2;
	h ^= h >> 29;
	h *= LB_HASH_P3;
	h ^= h >> 32;
	return (__u32)h;
}

static __always_inline __u64 lb_hash_pair(__u32 lo, __u32 hi)
{
	return (__u64)lo | ((__u64)hi << 32);
}

/* Hash of a flow key. IPv4 keys hash only the words that can be non-zero,
 * which halves the cost; the result is still a function of the whole key. */
static __always_inline __u32 lb_flow_hash(const struct lb_flow_key *k)
{
	__u64 h = LB_HASH_SEED_FLOW + LB_HASH_P3;
	__u32 meta = (__u32)k->proto | ((__u32)k->family << 8);
	__u32 ports = (__u32)k->sport | ((__u32)k->dport << 16);

	if (k->family == LB_FAMILY_V4) {
		h = lb_hash_round(h, lb_hash_pair(k->src.w[0], k->dst.w[0]));
	} else {
		h = lb_hash_round(h, lb_hash_pair(k->src.w[0], k->src.w[1]));
		h = lb_hash_round(h, lb_hash_pair(k->src.w[2], k->src.w[3]));
		h = lb_hash_round(h, lb_hash_pair(k->dst.w[0], k->dst.w[1]));
		h = lb_hash_round(h, lb_hash_pair(k->dst.w[2], k->dst.w[3]));
	}
	h = lb_hash_round(h, lb_hash_pair(ports, meta));
	return lb_hash_final(h);
}

/* Hash of a VIP key under a table seed (the VIP table's home slot). An
 * IPv4 key is one round: its other address words are zero. */
static __always_inline __u32 lb_vip_hash(const struct lb_vip_key *k, __u32 seed)
{
	__u64 h = (__u64)seed + LB_HASH_P3;
	__u32 meta = (__u32)k->port | ((__u32)k->proto << 16) | ((__u32)k->family << 24);

	if (k->family == LB_FAMILY_V4)
		return lb_hash_final(lb_hash_round(h, lb_hash_pair(k->addr.w[0], meta)));
	h = lb_hash_round(h, lb_hash_pair(k->addr.w[0], k->addr.w[1]));
	h = lb_hash_round(h, lb_hash_pair(k->addr.w[2], k->addr.w[3]));
	h = lb_hash_round(h, lb_hash_pair(meta, 0));
	return lb_hash_final(h);
}

/* Hash of a backend address (Maglev permutations). */
static __always_inline __u32 lb_addr_hash(const struct lb_addr *a, __u8 family, __u32 seed)
{
	__u64 h = (__u64)seed + LB_HASH_P3;

	h = lb_hash_round(h, lb_hash_pair(a->w[0], a->w[1]));
	h = lb_hash_round(h, lb_hash_pair(a->w[2], a->w[3]));
	h = lb_hash_round(h, family);
	return lb_hash_final(h);
}

/* Map a 32-bit hash onto [0, n) with a multiply instead of a division
 * (Lemire's fast range): uniform, and ~20 cycles cheaper than hash % n. */
static __always_inline __u32 lb_hash_range(__u32 hash, __u32 n)
{
	return (__u32)(((__u64)hash * n) >> 32);
}

#endif /* SLUICE_LIB_HASH_H */
