/* SPDX-License-Identifier: Apache-2.0 */
/*
 * driver_xdp.h - the XDP fast-path driver: struct cp_driver (driver.h)
 * over the xdp/ loader, with hitless restart.
 *
 * Pins (docs/architecture.md, "Hitless restart"): one program and one set of maps
 * serve every interface of the node, so they are pinned once, in
 * pin_root/<ifname>/ named after the first interface attached while
 * nothing was pinned (normally the only one): prog, the LB_MAP_* maps,
 * abi (ABI stamp), and link_<ifname> for every interface attached in
 * native mode, the first one's and any later one's. With sluiced's
 * default pin_root /sys/fs/bpf/sluice a single-interface node has exactly
 * /sys/fs/bpf/sluice/<ifname>/. A starting driver adopts the one non-empty
 * directory under pin_root (two is an error: it names them and touches
 * neither).
 *
 * Lifetime: close() leaves everything pinned and attached (sluiced exits
 * on SIGTERM with forwarding in place); detach() of the last interface
 * also removes the pins (an explicit detach means "stop forwarding"), so
 * the next start begins afresh.
 *
 * Threads: sluiced's control thread only, like every cp_driver.
 */
#ifndef SLUICE_CP_DRIVER_XDP_H
#define SLUICE_CP_DRIVER_XDP_H

#include "driver.h"
#include "fwd.h"

struct lb_xdp;

/* Opens the XDP driver into *d. pin_root: where pins live (created on
 * first attach); NULL never pins, and native attachments then end with
 * close(). params as for lb_xdp_open. *adopted = 1 if the maps of a
 * compatible earlier run were taken over (state, flows and counters
 * survive: reconcile them), 0 if they are new (write the whole model).
 * See lb_xdp_adopt for what compatible means and what is replaced.
 * Returns 0 or -errno (logged); *d is untouched on failure. */
int cp_driver_xdp_open(struct cp_driver *d, const char *pin_root, const struct lb_params *params,
		       int *adopted);

/* Attach in generic (skb) mode from now on (on != 0) instead of native.
 * For interfaces without native XDP (--xdp-generic). */
void cp_driver_xdp_set_generic(struct cp_driver *d, int on);

/* The loader handle behind the driver, for what only XDP has (program fd,
 * flow lookup, tests). Owned by the driver; valid until close(). */
struct lb_xdp *cp_driver_xdp_loader(const struct cp_driver *d);

#endif /* SLUICE_CP_DRIVER_XDP_H */
