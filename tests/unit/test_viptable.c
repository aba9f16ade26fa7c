/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_viptable.c - lib/viptable.c: build/lookup round trips, the probe
 * bound, the failure modes and determinism. Inputs come from a fixed
 * xorshift generator, so every run checks the same tables.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "viptable.h"

static __u64 rng_state;

static void rng_seed(__u64 s)
{
	rng_state = s ? s : 1;
}

static __u32 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (__u32)(rng_state >> 16);
}

/* A random key: v4 or v6, TCP or UDP, one in four a port wildcard. */
static struct lb_vip_key random_key(void)
{
	struct lb_vip_key k;

	memset(&k, 0, sizeof(k));
	if (rng() & 1) {
		k.family = LB_FAMILY_V4;
		k.addr.w[0] = rng();
	} else {
		k.family = LB_FAMILY_V6;
		k.addr.w[0] = htonl(0x20010db8);
		k.addr.w[1] = rng();
		k.addr.w[2] = rng();
		k.addr.w[3] = rng();
	}
	k.proto = (rng() & 1) ? IPPROTO_TCP : IPPROTO_UDP;
	k.port = (rng() & 3) ? htons((__u16)(1 + rng() % 65535)) : 0;
	return k;
}

static int key_in(const struct lb_vip_entry *v, size_t n, const struct lb_vip_key *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(&v[i].key, k, sizeof(*k)))
			return 1;
	return 0;
}

/* n distinct random entries, vip_id i % 256 (several keys per VIP, as
 * with wildcard and per-port entries of one service). */
static struct lb_vip_entry *random_entries(size_t n)
{
	struct lb_vip_entry *v = calloc(n, sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++) {
		do {
			v[i].key = random_key();
		} while (key_in(v, i, &v[i].key));
		v[i].vip_id = (__u32)(i % 256);
	}
	return v;
}

static __u32 home_of(const struct lb_vip_key *k, __u32 seed, __u32 slots)
{
	return lb_vip_hash(k, seed) & (slots - 1);
}

/* Checks the layout contract of a built table: every key found by the
 * lookup, sitting < LB_VIP_PROBES from home, every slot between its home
 * and it occupied, empty slots all-zero, nothing else in the table. */
static void check_table(const struct lb_vip_entry *v, size_t n, const struct lb_vip_slot *t,
			__u32 slots, __u32 seed)
{
	static const struct lb_vip_slot zero;
	size_t i, used = 0;
	__u32 s, id, d;

	for (s = 0; s < slots; s++) {
		if (t[s].key.family == LB_FAMILY_NONE) {
			assert_memory_equal(&t[s], &zero, sizeof(zero));
			continue;
		}
		used++;
		assert_true(key_in(v, n, &t[s].key));
		d = (s - home_of(&t[s].key, seed, slots)) & (slots - 1);
		assert_true(d < LB_VIP_PROBES);
		for (__u32 j = 0; j < d; j++)
			assert_int_not_equal(
				t[lb_vip_slot_index(home_of(&t[s].key, seed, slots), j, slots)].key.family,
				LB_FAMILY_NONE);
	}
	assert_int_equal(used, n);
	for (i = 0; i < n; i++) {
		id = 0xdeadbeef;
		assert_int_equal(lb_viptable_lookup(t, slots, seed, &v[i].key, &id), 0);
		assert_int_equal(id, v[i].vip_id);
	}
}

static void test_roundtrip_1000(void **state)
{
	const __u32 slots = 4096;
	const size_t n = 1000;
	struct lb_vip_slot *t = calloc(slots, sizeof(*t));
	struct lb_vip_entry *v;
	struct lb_vip_key k;
	__u32 seed = LB_VIP_SEED_START, id;
	size_t i, v4 = 0, wild = 0, udp = 0;

	(void)state;
	rng_seed(0x5eed0001);
	v = random_entries(n);
	for (i = 0; i < n; i++) {
		v4 += v[i].key.family == LB_FAMILY_V4;
		wild += v[i].key.port == 0;
		udp += v[i].key.proto == IPPROTO_UDP;
	}
	/* the mix the test claims to cover */
	assert_true(v4 > 300 && v4 < 700);
	assert_true(wild > 150 && wild < 350);
	assert_true(udp > 300 && udp < 700);

	assert_non_null(t);
	assert_int_equal(lb_viptable_build(v, n, t, slots, &seed), 0);
	assert_true(seed - LB_VIP_SEED_START < LB_VIP_SEED_TRIES);
	check_table(v, n, t, slots, seed);

	/* Absent keys: random ones, and near misses of present ones (other
	 * port, other protocol, other family with the same words). */
	for (i = 0; i < 1000; i++) {
		k = random_key();
		if (key_in(v, n, &k))
			continue;
		assert_int_equal(lb_viptable_lookup(t, slots, seed, &k, &id), -ENOENT);
	}
	for (i = 0; i < n; i++) {
		k = v[i].key;
		k.port = htons((__u16)(ntohs(k.port) + 1));
		if (!key_in(v, n, &k))
			assert_int_equal(lb_viptable_lookup(t, slots, seed, &k, &id), -ENOENT);
		k = v[i].key;
		k.proto = IPPROTO_SCTP;
		assert_int_equal(lb_viptable_lookup(t, slots, seed, &k, &id), -ENOENT);
		k = v[i].key;
		k.family = k.family == LB_FAMILY_V4 ? LB_FAMILY_V6 : LB_FAMILY_V4;
		if (!key_in(v, n, &k))
			assert_int_equal(lb_viptable_lookup(t, slots, seed, &k, &id), -ENOENT);
	}
	/* The wrong seed does not find everything (the seed matters). */
	{
		size_t found = 0;

		for (i = 0; i < n; i++)
			found += !lb_viptable_lookup(t, slots, seed + 1, &v[i].key, &id);
		assert_true(found < n);
	}
	free(v);
	free(t);
}

/* Many small, full tables: wrap-around at the end of the table and long
 * runs are exercised far more often than in a big sparse one. */
static void test_small_full_tables(void **state)
{
	const __u32 slots = 16;
	const size_t n = slots / 2;
	struct lb_vip_slot t[16];
	struct lb_vip_entry *v;
	int round;

	(void)state;
	rng_seed(0x5eed0002);
	for (round = 0; round < 2000; round++) {
		__u32 seed = (__u32)round;

		v = random_entries(n);
		assert_int_equal(lb_viptable_build(v, n, t, slots, &seed), 0);
		check_table(v, n, t, slots, seed);
		free(v);
	}
}

static void test_full_default_size(void **state)
{
	/* The defaults of fwd.h: vip_slots 2048 holds 1024 keys. */
	const __u32 slots = LB_DEFAULT_VIP_SLOTS;
	const size_t n = slots / 2;
	struct lb_vip_slot *t = calloc(slots, sizeof(*t));
	struct lb_vip_entry *v;
	int round;

	(void)state;
	assert_non_null(t);
	rng_seed(0x5eed0003);
	for (round = 0; round < 20; round++) {
		__u32 seed = LB_VIP_SEED_START;

		v = random_entries(n);
		assert_int_equal(lb_viptable_build(v, n, t, slots, &seed), 0);
		check_table(v, n, t, slots, seed);
		free(v);
	}
	free(t);
}

/* lb_viptable_slots(max_vips) holds max_vips VIPs on as many addresses:
 * 2 * max_vips keys (each VIP and its address's ICMP entry) at load 1/2,
 * here for --max-vips 3000 (past the 2048 slots of the old fixed size). */
static void test_slots_hold_max_vips(void **state)
{
	const __u32 max_vips = 3000, slots = lb_viptable_slots(max_vips);
	const size_t n = 2 * max_vips;
	struct lb_vip_slot *t = calloc(slots, sizeof(*t));
	struct lb_vip_entry *v = random_entries(n);

	(void)state;
	assert_int_equal(lb_viptable_slots(0), LB_DEFAULT_VIP_SLOTS);
	assert_int_equal(lb_viptable_slots(512), 2048);
	assert_int_equal(lb_viptable_slots(513), 4096);
	assert_int_equal(lb_viptable_slots(1u << 28), 1u << 30);
	assert_int_equal(lb_viptable_slots((1u << 28) + 1), 0);
	assert_int_equal(slots, 16384);
	assert_non_null(t);
	for (int round = 0; round < 5; round++) {
		__u32 seed = LB_VIP_SEED_START;

		assert_int_equal(lb_viptable_build(v, n, t, slots, &seed), 0);
		check_table(v, n, t, slots, seed);
		free(v);
		v = random_entries(n);
	}
	free(v);
	free(t);
}

static void test_duplicates(void **state)
{
	const __u32 slots = 64;
	struct lb_vip_slot t[64];
	struct lb_vip_entry *v;
	__u32 seed;
	int round;

	(void)state;
	rng_seed(0x5eed0004);
	/* A duplicate anywhere in the input, whatever its vip_id, in full
	 * and in sparse tables. */
	for (round = 0; round < 2000; round++) {
		size_t n = 2 + rng() % (slots / 2 - 1);
		size_t a = rng() % n, b = rng() % n;

		if (a == b)
			b = (a + 1) % n;
		v = random_entries(n);
		v[b].key = v[a].key;
		v[b].vip_id = rng() % 256;
		seed = LB_VIP_SEED_START;
		assert_int_equal(lb_viptable_build(v, n, t, slots, &seed), -EINVAL);
		assert_int_equal(seed, LB_VIP_SEED_START);
		free(v);
	}
}

static void test_invalid(void **state)
{
	struct lb_vip_slot t[64];
	struct lb_vip_entry *v;
	__u32 seed = 1;

	(void)state;
	rng_seed(0x5eed0005);
	v = random_entries(33);

	/* n > slots / 2 */
	assert_int_equal(lb_viptable_build(v, 33, t, 64, &seed), -EINVAL);
	assert_int_equal(lb_viptable_build(v, 32, t, 64, &seed), 0);
	assert_int_equal(lb_viptable_build(v, 2, t, 2, &seed), -EINVAL);
	/* slots not a power of two, or zero */
	assert_int_equal(lb_viptable_build(v, 4, t, 48, &seed), -EINVAL);
	assert_int_equal(lb_viptable_build(v, 0, t, 0, &seed), -EINVAL);
	/* NULL arguments */
	assert_int_equal(lb_viptable_build(NULL, 4, t, 64, &seed), -EINVAL);
	assert_int_equal(lb_viptable_build(v, 4, NULL, 64, &seed), -EINVAL);
	assert_int_equal(lb_viptable_build(v, 4, t, 64, NULL), -EINVAL);
	/* family 0, family not 4/6 */
	v[3].key.family = LB_FAMILY_NONE;
	assert_int_equal(lb_viptable_build(v, 4, t, 64, &seed), -EINVAL);
	v[3].key.family = 5;
	assert_int_equal(lb_viptable_build(v, 4, t, 64, &seed), -EINVAL);
	/* IPv4 with words 1..3 set: the fast path would never match it */
	v[3].key.family = LB_FAMILY_V4;
	v[3].key.addr.w[2] = 1;
	assert_int_equal(lb_viptable_build(v, 4, t, 64, &seed), -EINVAL);
	free(v);
}

static void test_empty(void **state)
{
	static const struct lb_vip_slot zero[8];
	struct lb_vip_slot t[8];
	struct lb_vip_key k;
	__u32 seed = 7, id;

	(void)state;
	memset(t, 0xa5, sizeof(t));
	assert_int_equal(lb_viptable_build(NULL, 0, t, 8, &seed), 0);
	assert_int_equal(seed, 7);
	assert_memory_equal(t, zero, sizeof(t));
	rng_seed(0x5eed0006);
	k = random_key();
	assert_int_equal(lb_viptable_lookup(t, 8, seed, &k, &id), -ENOENT);
}

/* No seed can fit these: 2^19 keys in 2^20 slots is the legal maximum
 * load, and at that size some run of every seed's layout is longer than
 * LB_VIP_PROBES (measured: no seed of 64 fits). Smaller tables at full
 * load almost always fit, and with n <= 8 no key can ever be displaced 8
 * slots, so a big table is the only way to reach -ENOSPC honestly. */
static void test_enospc(void **state)
{
	const __u32 slots = 1u << 20;
	const size_t n = slots / 2;
	struct lb_vip_slot *t = calloc(slots, sizeof(*t));
	struct lb_vip_entry *v = calloc(n, sizeof(*v));
	__u32 seed = LB_VIP_SEED_START;
	size_t i;

	(void)state;
	assert_non_null(t);
	assert_non_null(v);
	rng_seed(0x5eed0007);
	/* Distinct by construction: the index is in the address. */
	for (i = 0; i < n; i++) {
		v[i].key.family = LB_FAMILY_V6;
		v[i].key.addr.w[0] = htonl(0x20010db8);
		v[i].key.addr.w[1] = rng();
		v[i].key.addr.w[2] = rng();
		v[i].key.addr.w[3] = (__u32)i;
		v[i].key.proto = IPPROTO_TCP;
		v[i].key.port = htons(443);
		v[i].vip_id = (__u32)(i % 256);
	}
	assert_int_equal(lb_viptable_build(v, n, t, slots, &seed), -ENOSPC);
	assert_int_equal(seed, LB_VIP_SEED_START);
	free(v);
	free(t);
}

static void test_deterministic(void **state)
{
	const __u32 slots = 1024;
	const size_t n = 500;
	struct lb_vip_slot *a = calloc(slots, sizeof(*a));
	struct lb_vip_slot *b = calloc(slots, sizeof(*b));
	struct lb_vip_entry *v, tmp;
	__u32 sa = LB_VIP_SEED_START, sb = LB_VIP_SEED_START;
	size_t i, j;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	rng_seed(0x5eed0008);
	v = random_entries(n);

	/* same input, same output */
	assert_int_equal(lb_viptable_build(v, n, a, slots, &sa), 0);
	memset(b, 0x5a, slots * sizeof(*b));
	assert_int_equal(lb_viptable_build(v, n, b, slots, &sb), 0);
	assert_int_equal(sa, sb);
	assert_memory_equal(a, b, slots * sizeof(*a));

	/* and the order of the input does not matter */
	for (i = n - 1; i > 0; i--) {
		j = rng() % (i + 1);
		tmp = v[i];
		v[i] = v[j];
		v[j] = tmp;
	}
	sb = LB_VIP_SEED_START;
	assert_int_equal(lb_viptable_build(v, n, b, slots, &sb), 0);
	assert_int_equal(sa, sb);
	assert_memory_equal(a, b, slots * sizeof(*a));
	free(v);
	free(a);
	free(b);
}

static void test_helpers(void **state)
{
	struct lb_vip_key a, b;

	(void)state;
	rng_seed(0x5eed0009);
	a = random_key();
	b = a;
	assert_true(lb_vip_key_eq(&a, &b));
	b.family ^= 2;
	assert_false(lb_vip_key_eq(&a, &b));
	b = a;
	b.proto ^= 1;
	assert_false(lb_vip_key_eq(&a, &b));
	b = a;
	b.port ^= 1;
	assert_false(lb_vip_key_eq(&a, &b));
	b = a;
	b.addr.w[3] ^= 0x80000000u;
	assert_false(lb_vip_key_eq(&a, &b));

	assert_int_equal(lb_vip_slot_index(5, 2, 8), 7);
	assert_int_equal(lb_vip_slot_index(7, 1, 8), 0);
	assert_int_equal(lb_vip_slot_index(6, 7, 8), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_roundtrip_1000),
		cmocka_unit_test(test_small_full_tables),
		cmocka_unit_test(test_full_default_size),
		cmocka_unit_test(test_slots_hold_max_vips),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_enospc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
