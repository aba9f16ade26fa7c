/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * calib.bpf.c - calibration probes of bench_xdp: one known operation each,
 * then XDP_DROP, tail-called by restore_xdp exactly like drop_xdp (the
 * floor) and sluice_xdp. Their ns above the floor, beside what docs/measuring.md
 * measured for the same operations on the anchor machine, say how fast
 * this host is for BPF work, so Katran's anchors can be scaled to it.
 *
 * Every probe uses what it computed and counts itself: it adds to its slot
 * of calib_hits a value that is 1 only if the operation took the path
 * being measured (the lookup hit, the update succeeded, the clock read
 * non-zero, the hash equals the one userspace computed). bench_xdp
 * requires the slot to rise by exactly `repeat` per run and the others not
 * to move; the compiler cannot drop an operation whose result is stored.
 * calib_base_xdp does only that counting (a .bss add of a .bss value), so
 * its figure is the part of every probe's that is not the operation.
 *
 * Keys and values come from .bss, which userspace writes and the verifier
 * and compiler both treat as unknown: no lookup is folded to a constant.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "fwd.h"

/* Slots of calib_hits; bench_xdp.c has the same numbers (CALIB_*). */
#define CALIB_BASE 0
#define CALIB_HASH 1
#define CALIB_LRU 2
#define CALIB_LRU_UPD 3
#define CALIB_KTIME 4
#define CALIB_COARSE 5
#define CALIB_JHASH 6
#define CALIB_LRU_SAME 7
#define CALIB_LRU_BIG 8
#define CALIB_N 9

#define CALIB_VIP_ENTRIES 512
/* lru_hot and lru_upd (~0.5 MB each) stay in the CPU's caches, so their
 * probes time the kernel's work, which scales with the CPU; lru_big
 * (~7 MB) does not, and its probe times the memory system as well. */
#define CALIB_LRU_ENTRIES 4096
#define CALIB_LRU_BIG_ENTRIES 65536

struct calib_val {
	__u64 one;		/* 1: what a hit adds to its counter */
	__u64 seq;		/* updates: upd_seq of the one that wrote it */
};

__u64 calib_hits[CALIB_N];
__u64 calib_one;			/* 1, written by userspace */
struct lb_vip_key hash_key;		/* in vip_hash */
struct lb_flow_key lru_key;		/* in lru_hot */
struct lb_flow_key upd_key;		/* updates: template, src.w[0] = seq */
struct lb_flow_key same_key;		/* calib_lru_same_xdp's one key */
__u32 upd_seq;				/* next update's seq; never reset */
__u32 jhash_in[4];
__u32 jhash_want;			/* jhash2(jhash_in, 4, 0) */

/* A VIP table as a plain HASH map: 20-byte key. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CALIB_VIP_ENTRIES);
	__type(key, struct lb_vip_key);
	__type(value, struct calib_val);
} vip_hash SEC(".maps");

/* A Katran-style connection table (common LRU, 40-byte flow key), looked
 * up for one established flow... */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CALIB_LRU_ENTRIES);
	__type(key, struct lb_flow_key);
	__type(value, struct calib_val);
} lru_hot SEC(".maps");

/* ...and written with a new flow every packet: full after 4096 inserts,
 * then every insert evicts. Maps of their own, so the churn never evicts
 * lru_hot's flow. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CALIB_LRU_ENTRIES);
	__type(key, struct lb_flow_key);
	__type(value, struct calib_val);
} lru_upd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CALIB_LRU_BIG_ENTRIES);
	__type(key, struct lb_flow_key);
	__type(value, struct calib_val);
} lru_big SEC(".maps");

SEC("xdp")
int calib_base_xdp(struct xdp_md *ctx)
{
	calib_hits[CALIB_BASE] += calib_one;
	return XDP_DROP;
}

SEC("xdp")
int calib_hash_xdp(struct xdp_md *ctx)
{
	struct lb_vip_key k = hash_key;
	struct calib_val *v = bpf_map_lookup_elem(&vip_hash, &k);

	if (v)
		calib_hits[CALIB_HASH] += v->one;
	return XDP_DROP;
}

SEC("xdp")
int calib_lru_xdp(struct xdp_md *ctx)
{
	struct lb_flow_key k = lru_key;
	struct calib_val *v = bpf_map_lookup_elem(&lru_hot, &k);

	if (v)
		calib_hits[CALIB_LRU] += v->one;
	return XDP_DROP;
}

/* bpf_map_update_elem of a new key (src.w[0] = seq) or of one key over
 * and over (a replace: still a new element, the old one freed). The value
 * carries seq, so userspace can tell that the last update landed. */
static __always_inline void lru_update(void *map, const struct lb_flow_key *key, int new_key,
				       int slot)
{
	struct lb_flow_key k = *key;
	struct calib_val v = { .one = 1 };
	__u32 seq = upd_seq++;

	if (new_key)
		k.src.w[0] = seq;
	v.seq = seq;
	calib_hits[slot] += bpf_map_update_elem(map, &k, &v, BPF_ANY) == 0;
}

SEC("xdp")
int calib_lru_upd_xdp(struct xdp_md *ctx)
{
	lru_update(&lru_upd, &upd_key, 1, CALIB_LRU_UPD);
	return XDP_DROP;
}

SEC("xdp")
int calib_lru_same_xdp(struct xdp_md *ctx)
{
	lru_update(&lru_upd, &same_key, 0, CALIB_LRU_SAME);
	return XDP_DROP;
}

SEC("xdp")
int calib_lru_big_xdp(struct xdp_md *ctx)
{
	lru_update(&lru_big, &upd_key, 1, CALIB_LRU_BIG);
	return XDP_DROP;
}

SEC("xdp")
int calib_ktime_xdp(struct xdp_md *ctx)
{
	calib_hits[CALIB_KTIME] += bpf_ktime_get_ns() != 0;
	return XDP_DROP;
}

SEC("xdp")
int calib_coarse_xdp(struct xdp_md *ctx)
{
	calib_hits[CALIB_COARSE] += bpf_ktime_get_coarse_ns() != 0;
	return XDP_DROP;
}

/* The kernel's jhash2() (include/linux/jhash.h) over 4 words, initval 0. */
static __always_inline __u32 rol32(__u32 w, int s)
{
	return (w << s) | (w >> (32 - s));
}

SEC("xdp")
int calib_jhash_xdp(struct xdp_md *ctx)
{
	__u32 a, b, c;

	a = b = c = 0xdeadbeef + (4 << 2);
	a += jhash_in[0];
	b += jhash_in[1];
	c += jhash_in[2];
	a -= c; a ^= rol32(c, 4);  c += b;
	b -= a; b ^= rol32(a, 6);  a += c;
	c -= b; c ^= rol32(b, 8);  b += a;
	a -= c; a ^= rol32(c, 16); c += b;
	b -= a; b ^= rol32(a, 19); a += c;
	c -= b; c ^= rol32(b, 4);  b += a;
	a += jhash_in[3];
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	calib_hits[CALIB_JHASH] += c == jhash_want;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
