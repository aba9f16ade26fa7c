/* SPDX-License-Identifier: Apache-2.0 */
/*
 * announce.h - which VIP addresses this node announces, and keeping the
 * kernel's announce table equal to that (docs/architecture.md, "Announcing
 * VIPs").
 *
 * sluiced keeps one blackhole route of its own protocol per announced
 * address in the kernel table `node set --announce-table` names; bird2's
 * kernel protocol learns them and announces them over BGP. This file
 * decides the set and writes only the differences, through a route
 * writer (nl.c in the daemon, a fake in the unit test).
 */
#ifndef SLUICE_CP_ANNOUNCE_H
#define SLUICE_CP_ANNOUNCE_H

#include <stddef.h>
#include <linux/types.h>

#include "fwd.h"
#include "model.h"

/* One announced address: a /32 or a /128. */
struct cp_ann_addr {
	struct lb_addr addr;	/* IPv4 in w[0] */
	__u8 family;		/* LB_FAMILY_V4 / LB_FAMILY_V6 */
};

/* Reports one route of ours found in a table; nonzero stops. */
typedef int (*cp_ann_list_fn)(void *arg, const struct cp_ann_addr *a);

/* Writes routes to the kernel; each returns 0 or -errno. add of a route
 * that is there already succeeds; del of one that is not says -ESRCH or
 * -ENOENT (both taken as done). list reports the routes of ours in
 * table (protocol CP_RTPROT_SLUICE, blackhole, full length). */
struct cp_route_writer {
	int (*add)(void *ctx, __u32 table, const struct cp_ann_addr *a);
	int (*del)(void *ctx, __u32 table, const struct cp_ann_addr *a);
	int (*list)(void *ctx, __u32 table, cp_ann_list_fn fn, void *arg);
	void *ctx;
};

/* A write that failed, logged once per address and error. */
struct cp_ann_said {
	struct cp_ann_addr a;
	int err;
	int add;
};

struct cp_announce {
	struct cp_route_writer w;
	__u32 table;			/* the table `have` is in; 0: none */
	int known;			/* `have` was read from the kernel */
	struct cp_ann_addr *have;	/* in the kernel now, sorted */
	size_t n_have, cap_have;
	struct cp_ann_addr *want;	/* scratch: the last wanted set, sorted */
	size_t n_want, cap_want;
	struct cp_ann_said *said;	/* failures logged and not yet undone */
	size_t n_said, cap_said;
	int pending;			/* a write failed: sync again on the next tick */
	__u64 writes;			/* netlink writes made, for tests and logs */
};

/* What decides beside the model: the fast path forwards (a driver with
 * at least one interface attached). */
struct cp_ann_input {
	int attached;
};

void cp_announce_init(struct cp_announce *a, const struct cp_route_writer *w);
void cp_announce_free(struct cp_announce *a);

/* The wanted set of m into a->want (sorted, one entry per address):
 * empty when there is no announce table, the node is drained or the fast
 * path is not attached; else every address with at least one VIP that has
 * a backend in service (backend_usable). 0 or -ENOMEM. */
int cp_announce_wanted(struct cp_announce *a, const struct cp_model *m,
		       const struct cp_ann_input *in);

/* Makes the kernel's announce table equal to the wanted set of m: the
 * first call reads what is there (a previous process's routes stay
 * untouched until then), a table changed since the last call has its
 * routes moved, then only differences are written. A failed write is
 * logged once per address and error and retried on the next call
 * (a->pending says one is due). Returns the number of failed writes, or
 * -errno when the set could not be computed or the table not read. */
int cp_announce_sync(struct cp_announce *a, const struct cp_model *m,
		     const struct cp_ann_input *in);

/* Withdraws every route of ours (the explicit stop). Same return. */
int cp_announce_withdraw(struct cp_announce *a);

/* "10.100.0.1" / "2001:db8::1". */
const char *cp_ann_addr_format(const struct cp_ann_addr *a, char *buf, size_t len);

#endif /* SLUICE_CP_ANNOUNCE_H */
