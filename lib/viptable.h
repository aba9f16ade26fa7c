/* SPDX-License-Identifier: Apache-2.0 */
/*
 * viptable.h - the open-addressed VIP table (struct lb_vip_slot, fwd.h),
 * built in userspace by the XDP loader and the DPDK control thread, read
 * by both fast paths.
 *
 * Layout contract (the BPF program, lb_viptable_lookup() and the builder
 * all follow it):
 *  - slots is a power of two; the home slot of a key is
 *    lb_vip_hash(key, seed) & (slots - 1);
 *  - probe i (0 <= i < LB_VIP_PROBES) looks at
 *    lb_vip_slot_index(home, i, slots);
 *  - a lookup stops at the first empty slot (key.family == 0) or after
 *    LB_VIP_PROBES probes.
 * The builder places keys Robin Hood style, ordered by (home, key) inside
 * a run, so the table is a function of the set of entries and the seed,
 * not of their order, and the longest probe is as short as linear probing
 * allows.
 *
 * The inline helpers compile for BPF (clang -target bpf) and for the host.
 */
#ifndef SLUICE_LIB_VIPTABLE_H
#define SLUICE_LIB_VIPTABLE_H

#include "compat.h"
#include "fwd.h"
#include "hash.h"

/* One VIP key and the id it maps to: vip_id < max_vips, or LB_VIP_ID_ADDR
 * for the per-address ICMP entries. */
struct lb_vip_entry {
	struct lb_vip_key key;
	__u32 vip_id;
};

/* First seed the loaders try; fixed so that the same VIP set gives the
 * same table on every node and every run. */
#define LB_VIP_SEED_START 0x7a11e5u

/* Seeds tried before giving up with -ENOSPC. */
#define LB_VIP_SEED_TRIES 64

/* A VIP key whose port, proto and family are written with one store
 * (LB_WORD_OF): lb_vip_key_eq and lb_vip_hash read them as one word. */
static __always_inline void lb_vip_key_set(struct lb_vip_key *k, const struct lb_addr *addr,
					   __be16 port, __u8 proto, __u8 family)
{
	k->addr = *addr;
	*(lb_alias_u32 *)&k->port = LB_WORD_OF(port, LB_HALF_OF(proto, family));
}

/* Key equality as five 32-bit compares (the key is 20 bytes, 4-aligned,
 * no padding). The last word is copied out rather than read through a
 * cast so the compiler's aliasing rules hold. */
static __always_inline int lb_vip_key_eq(const struct lb_vip_key *a, const struct lb_vip_key *b)
{
	const __u32 tail = __builtin_offsetof(struct lb_vip_key, port);
	__u32 ta, tb;

	__builtin_memcpy(&ta, (const __u8 *)a + tail, sizeof(ta));
	__builtin_memcpy(&tb, (const __u8 *)b + tail, sizeof(tb));
	return ((a->addr.w[0] ^ b->addr.w[0]) | (a->addr.w[1] ^ b->addr.w[1]) |
		(a->addr.w[2] ^ b->addr.w[2]) | (a->addr.w[3] ^ b->addr.w[3]) |
		(ta ^ tb)) == 0;
}

/* Slot of probe `probe` from `home`; slots is a power of two. */
static __always_inline __u32 lb_vip_slot_index(__u32 home, __u32 probe, __u32 slots)
{
	return (home + probe) & (slots - 1);
}

#ifndef __bpf__
#include <stddef.h>

/*
 * Builds a table of `slots` slots (a power of two) holding the n entries
 * of v: each key sits at lb_vip_slot_index(home, i, slots) for some
 * i < LB_VIP_PROBES, every slot between its home and it is occupied, and
 * empty slots are all-zero. out must have room for `slots` slots; it is
 * overwritten even on failure. Tries seeds *seed, *seed + 1, ... (at most
 * LB_VIP_SEED_TRIES) until every key fits and writes the seed used back.
 *
 * Returns 0; -EINVAL for a duplicate key, a key whose family is not
 * LB_FAMILY_V4/V6, an IPv4 key with address words 1..3 not zero, n >
 * slots / 2 or slots not a power of two; -ENOSPC if no seed fits.
 * vip_id is stored as given (the caller checks its range).
 *
 * Pure function, no allocation, no logging: any thread.
 */
int lb_viptable_build(const struct lb_vip_entry *v, size_t n, struct lb_vip_slot *out,
		      __u32 slots, __u32 *seed);

/* Looks key up in a table built with `seed`, probing exactly as the BPF
 * program does. Returns 0 and *vip_id, or -ENOENT. Reads only: any
 * thread, as long as nobody rewrites t meanwhile. */
int lb_viptable_lookup(const struct lb_vip_slot *t, __u32 slots, __u32 seed,
		       const struct lb_vip_key *key, __u32 *vip_id);

/* Slots a table needs to hold max_vips VIPs on as many addresses: each
 * VIP is a key and each address adds its ICMP key, so 2 * max_vips keys
 * at a load of at most 1/2 (what LB_VIP_PROBES needs): the power of two
 * >= 4 * max_vips, and at least LB_DEFAULT_VIP_SLOTS. 0 past 2^30. */
__u32 lb_viptable_slots(__u32 max_vips);
#endif /* !__bpf__ */

#endif /* SLUICE_LIB_VIPTABLE_H */
