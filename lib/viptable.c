/* SPDX-License-Identifier: Apache-2.0 */
/*
 * viptable.c - builder and userspace lookup of the VIP table (viptable.h).
 *
 * Build: Robin Hood insertion with linear probing; a seed is accepted when
 * every key sits fewer than LB_VIP_PROBES slots from home. Inside a run keys are
 * kept ordered by (home, key bytes): that order gives the smallest longest
 * displacement linear probing can reach for a given hash, and makes the
 * layout independent of the order of the input.
 */
#include <errno.h>
#include <string.h>

#include "viptable.h"

static int key_valid(const struct lb_vip_key *k)
{
	if (k->family == LB_FAMILY_V4)
		return (k->addr.w[1] | k->addr.w[2] | k->addr.w[3]) == 0;
	return k->family == LB_FAMILY_V6;
}

static __u32 home_slot(const struct lb_vip_key *k, __u32 seed, __u32 slots)
{
	return lb_vip_hash(k, seed) & (slots - 1);
}

/* Inserts e. Every placement records its displacement in *maxd (a key
 * only ever moves further from home, so the largest placement is the
 * largest final displacement). -EEXIST if the key is already there;
 * -ENOSPC as soon as a key would sit `limit` or more slots from home.
 * Termination: n <= slots / 2 leaves empty slots, and every step moves
 * one slot forward. */
static int insert(struct lb_vip_slot *t, __u32 slots, __u32 seed, const struct lb_vip_entry *e,
		  __u32 limit, __u32 *maxd)
{
	struct lb_vip_slot cur = { .key = e->key, .vip_id = e->vip_id };
	__u32 pos = home_slot(&cur.key, seed, slots);
	__u32 dist = 0;

	for (;;) {
		struct lb_vip_slot *s = &t[pos];
		__u32 sdist;

		if (dist >= limit)
			return -ENOSPC;
		if (s->key.family == LB_FAMILY_NONE) {
			*s = cur;
			if (dist > *maxd)
				*maxd = dist;
			return 0;
		}
		/* Only the key being inserted can have a twin here: the
		 * keys it displaces are already unique. Runs are ordered by
		 * (home, key), so the twin is met before any swap. */
		if (lb_vip_key_eq(&s->key, &cur.key))
			return -EEXIST;
		sdist = (pos - home_slot(&s->key, seed, slots)) & (slots - 1);
		if (sdist < dist ||
		    (sdist == dist && memcmp(&cur.key, &s->key, sizeof(cur.key)) < 0)) {
			struct lb_vip_slot tmp = *s;

			*s = cur;
			if (dist > *maxd)
				*maxd = dist;
			cur = tmp;
			dist = sdist;
		}
		pos = lb_vip_slot_index(pos, 1, slots);
		dist++;
	}
}

/* One attempt with one seed: 0, -EEXIST or -ENOSPC. */
static int attempt(const struct lb_vip_entry *v, size_t n, struct lb_vip_slot *out,
		   __u32 slots, __u32 seed, __u32 limit)
{
	__u32 maxd = 0;
	size_t i;
	int err;

	memset(out, 0, (size_t)slots * sizeof(*out));
	for (i = 0; i < n; i++) {
		err = insert(out, slots, seed, &v[i], limit, &maxd);
		if (err)
			return err;
	}
	return maxd < LB_VIP_PROBES ? 0 : -ENOSPC;
}

int lb_viptable_build(const struct lb_vip_entry *v, size_t n, struct lb_vip_slot *out,
		      __u32 slots, __u32 *seed)
{
	__u32 s, try;
	size_t i;
	int err;

	if (!out || !seed || (n && !v))
		return -EINVAL;
	if (slots == 0 || (slots & (slots - 1)) || n > slots / 2)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!key_valid(&v[i].key))
			return -EINVAL;

	/* The first attempt places every key whatever its displacement, so
	 * a duplicate is always found; later ones give up at the first key
	 * that would land LB_VIP_PROBES away from home. */
	s = *seed;
	for (try = 0; try < LB_VIP_SEED_TRIES; try++, s++) {
		err = attempt(v, n, out, slots, s, try ? LB_VIP_PROBES : slots);
		if (err == -EEXIST)
			return -EINVAL;
		if (!err) {
			*seed = s;
			return 0;
		}
	}
	memset(out, 0, (size_t)slots * sizeof(*out));
	return -ENOSPC;
}

int lb_viptable_lookup(const struct lb_vip_slot *t, __u32 slots, __u32 seed,
		       const struct lb_vip_key *key, __u32 *vip_id)
{
	__u32 home, i;

	if (!t || !key || slots == 0 || (slots & (slots - 1)))
		return -ENOENT;
	home = home_slot(key, seed, slots);
	for (i = 0; i < LB_VIP_PROBES; i++) {
		const struct lb_vip_slot *s = &t[lb_vip_slot_index(home, i, slots)];

		if (s->key.family == LB_FAMILY_NONE)
			break;
		if (lb_vip_key_eq(&s->key, key)) {
			if (vip_id)
				*vip_id = s->vip_id;
			return 0;
		}
	}
	return -ENOENT;
}

__u32 lb_viptable_slots(__u32 max_vips)
{
	__u64 need = 4ull * max_vips, slots = LB_DEFAULT_VIP_SLOTS;

	while (slots < need)
		slots *= 2;
	return slots > (1u << 30) ? 0 : (__u32)slots;
}
