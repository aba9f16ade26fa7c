/* SPDX-License-Identifier: Apache-2.0 */
/*
 * decap_loader.h - load, attach, pin and program decap.bpf.c, the XDP
 * program a backend runs to strip the balancer's IP-in-IP encapsulation.
 *
 * All functions return 0 or -errno unless stated otherwise and log once to
 * stderr where they fail. A handle is used from one thread at a time (the
 * caller serialises); different handles are independent.
 */
#ifndef SLUICE_XDP_DECAP_LOADER_H
#define SLUICE_XDP_DECAP_LOADER_H

#include <linux/types.h>
#include "fwd.h"

struct lb_decap;

#define LB_DECAP_ATTACH_GENERIC (1u << 0)	/* skb mode, only when asked */

/* Opens and loads decap.bpf.c (needs CAP_BPF/CAP_NET_ADMIN). Returns a
 * handle the caller frees with lb_decap_close(), or NULL with errno set. */
struct lb_decap *lb_decap_open(void);

/* Frees the handle (NULL is a no-op). The attachment made by
 * lb_decap_attach() is a bpf_link: closing its last reference detaches it,
 * so it stays attached after close only if lb_decap_pin() pinned it.
 * Pinned maps and program stay too; remove the pins to let them go. */
void lb_decap_close(struct lb_decap *d);

/* fd of the loaded program, owned by the handle. */
int lb_decap_prog_fd(const struct lb_decap *d);

/* Adds / removes an outer destination address to decapsulate for. family
 * is LB_FAMILY_V4 (address in w[0], w[1..3] must be zero) or LB_FAMILY_V6;
 * anything else is -EINVAL. Adding an address already present succeeds;
 * removing one that is absent gives -ENOENT. -E2BIG when the map is full. */
int lb_decap_add_addr(struct lb_decap *d, __u8 family, const struct lb_addr *addr);
int lb_decap_del_addr(struct lb_decap *d, __u8 family, const struct lb_addr *addr);

/* Attaches the program to ifindex through a bpf_link, in native (driver)
 * mode; with LB_DECAP_ATTACH_GENERIC in generic (skb) mode. Never falls
 * back from native to generic by itself: a driver without native XDP gives
 * -EOPNOTSUPP and a message naming the interface and the flag. One
 * attachment per handle: a second call gives -EALREADY. Other flags:
 * -EINVAL. */
int lb_decap_attach(struct lb_decap *d, int ifindex, unsigned int flags);

/* Pins under dir (created 0700 with its parents, on a bpffs): "prog",
 * "link" (only if attached), LB_MAP_DECAP_ADDRS and LB_MAP_DECAP_STATS.
 * All or nothing: on failure nothing stays pinned. An existing pin at one
 * of these paths gives -EEXIST. */
int lb_decap_pin(struct lb_decap *d, const char *dir);

/* Counters by LB_DECAP_R_*, summed over the possible CPUs. */
int lb_decap_stats(struct lb_decap *d, struct lb_reason_stats out[LB_DECAP_R_MAX]);

#endif /* SLUICE_XDP_DECAP_LOADER_H */
