/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader.h - load, attach, pin and program sluice.bpf.c from userspace.
 *
 * The control plane's XDP driver and the tests use only this API; nothing
 * else touches the program's maps. All functions return 0 or -errno unless
 * stated otherwise and log once where they fail. One handle is used from
 * one thread at a time (the caller serialises).
 *
 * Publishing model (lib/fwd.h): arrays are written through mmap(); a VIP
 * table or ring change is written into the idle half, published with one
 * 32-bit store, and the call returns only after an RCU grace period, when
 * no packet can still be reading the old half. After lb_xdp_set_ring()
 * returns, every packet uses the new ring.
 */
#ifndef SLUICE_XDP_LOADER_H
#define SLUICE_XDP_LOADER_H

#include <stddef.h>
#include <linux/types.h>
#include "fwd.h"
#include "viptable.h"

struct lb_xdp;

#define LB_XDP_ATTACH_GENERIC (1u << 0)	/* skb mode, only when asked */

/* Opens and loads sluice.bpf.c with the given sizes (NULL or zero fields:
 * defaults from fwd.h; nr_cpus is always the host's). vip_slots and
 * flow_buckets must be powers of two, max_ring odd (it is a prime) and
 * >= 3; every size must fit the maps' 32-bit indexes. Returns NULL with
 * errno set (EINVAL for bad sizes, with a message naming the field).
 * Routes libbpf's own output through lib/log (libbpf_set_print). */
struct lb_xdp *lb_xdp_open(const struct lb_params *params);

/* Frees the handle; leaves attached/pinned programs in place. A native
 * attachment is a bpf_link: it outlives the handle only if it was pinned
 * (lb_xdp_pin), otherwise closing the handle detaches it. */
void lb_xdp_close(struct lb_xdp *x);

/* The sizes the program was loaded with. */
const struct lb_params *lb_xdp_params(const struct lb_xdp *x);
int lb_xdp_prog_fd(const struct lb_xdp *x);
/* fd of one of the LB_MAP_* maps, or -ENOENT. */
int lb_xdp_map_fd(const struct lb_xdp *x, const char *name);

/* Attaches in native mode through a bpf_link; generic (skb) mode only with
 * LB_XDP_ATTACH_GENERIC. A driver without native XDP gives -EOPNOTSUPP and
 * a message that names the interface and the flag. Generic mode never
 * replaces another program (-EBUSY), except, after lb_xdp_adopt, the
 * pinned program it took over: that one is kept (ours) or swapped
 * atomically (replaced); docs/architecture.md, "Hitless restart". */
int lb_xdp_attach(struct lb_xdp *x, int ifindex, unsigned int flags);
int lb_xdp_detach(struct lb_xdp *x, int ifindex);

/* Pins the program ("prog"), its native link(s) ("link_<ifname>") and
 * every map (by its LB_MAP_* name) under dir (created 0700, with parents).
 * Links attached later are pinned there too; lb_xdp_detach unpins them.
 * Pinning again the same objects is a no-op; another object already
 * pinned under a name is -EEXIST. Generic-mode attachments have no link
 * and are not pinned (they stay attached anyway). */
int lb_xdp_pin(struct lb_xdp *x, const char *dir);

/* Hitless restart: opens the program like lb_xdp_open, taking over what
 * an earlier process pinned in pin_dir (lb_xdp_pin of a handle of
 * lb_xdp_adopt, or this call). *adopted = 1: the pinned maps were
 * compatible (same LB_ABI_VERSION and sizes) and are reused with their
 * contents, and the pinned program is kept if it is this very build (its
 * id does not change) or replaced atomically on every pinned link.
 * *adopted = 0: fresh maps (nothing or something incompatible was
 * pinned): the caller writes its whole state. Either way the handle ends
 * pinned at pin_dir (created 0700) with its links recorded as attached,
 * as after lb_xdp_pin. pin_dir NULL: exactly lb_xdp_open, plus the "abi"
 * stamp that a later lb_xdp_pin pins; *adopted = 0.
 * Returns the caller's handle, or NULL with errno set (logged; EINVAL for
 * bad sizes, an empty pin_dir or a NULL adopted). One process at a time
 * per pin_dir: the caller makes sure of that. The protocol (compatibility,
 * keeping or swapping the program, replacing pins without a gap, generic
 * mode, what a failure or a crash leaves): docs/architecture.md,
 * "Hitless restart". */
struct lb_xdp *lb_xdp_adopt(const char *pin_dir, const struct lb_params *params,
			    int *adopted);

/* Removes from dir the pins of this handle's program, maps, ABI stamp and
 * (if dir is where it pinned) links; a name that holds another object is
 * left alone. Removes dir if that leaves it empty. Unpinned native links
 * now live only as long as the handle: lb_xdp_close detaches them. */
int lb_xdp_unpin(struct lb_xdp *x, const char *dir);

/* How this handle is attached to ifindex: 0 not at all, or one of: */
#define LB_XDP_ATTACHED_NATIVE 1	/* a bpf_link (pinned ones included) */
#define LB_XDP_ATTACHED_GENERIC 2	/* skb mode, through netlink */
int lb_xdp_attached(const struct lb_xdp *x, int ifindex);
/* Number of interfaces attached. */
int lb_xdp_nr_attached(const struct lb_xdp *x);
/* Where the handle pins (lb_xdp_pin, lb_xdp_adopt), or NULL. The string
 * is the handle's, valid until the next lb_xdp_pin/unpin/close. */
const char *lb_xdp_pin_dir(const struct lb_xdp *x);

/* Waits for an RCU grace period: when it returns, no XDP program that
 * started before the call is still running. The publishing calls below
 * already do this; exposed for callers that retire state of their own
 * (and to measure it). */
int lb_xdp_sync(struct lb_xdp *x);

/* lb_tables_batch_begin/end (lib/tables.h) over this program's tables. */
int lb_xdp_batch_begin(struct lb_xdp *x);
int lb_xdp_batch_end(struct lb_xdp *x);

/* Node settings: encap sources, entropy. vip_gen/vip_seed are the
 * loader's and are ignored here. */
int lb_xdp_set_config(struct lb_xdp *x, const struct lb_config *cfg);

/* Replaces the whole VIP table with these n entries (keys unique). Fails
 * with -ENOSPC if they do not fit in vip_slots within LB_VIP_PROBES. */
int lb_xdp_set_vips(struct lb_xdp *x, const struct lb_vip_entry *v, size_t n);

/* Flags of a VIP (LB_VIP_F_*). */
int lb_xdp_set_vip_flags(struct lb_xdp *x, __u32 vip_id, __u32 flags);

/* Publishes a ring of m entries (m <= max_ring) for vip_id. m == 0 takes
 * the VIP out of service (packets to it drop as drop_no_backend). */
int lb_xdp_set_ring(struct lb_xdp *x, __u32 vip_id, const __u32 *ring, __u32 m);

/* Writes backend id (addr, family, gen, next hop, state). */
int lb_xdp_set_backend(struct lb_xdp *x, __u32 id, const struct lb_backend *b);
/* Changes only the state byte (LB_BACKEND_*). */
int lb_xdp_set_backend_state(struct lb_xdp *x, __u32 id, __u8 state);

/* Counters summed over CPUs. */
int lb_xdp_vip_stats(struct lb_xdp *x, __u32 vip_id, struct lb_vip_stats *out);
int lb_xdp_backend_stats(struct lb_xdp *x, __u32 id, struct lb_backend_stats *out);
int lb_xdp_reason_stats(struct lb_xdp *x, struct lb_reason_stats out[LB_R_MAX]);

/* Looks a flow up in every CPU's slice. Returns 0 and the backend id, or
 * -ENOENT. */
int lb_xdp_flow_lookup(struct lb_xdp *x, const struct lb_flow_key *key, __u32 *backend_id);

/* Calls fn for every live flow of every CPU with the time since its
 * last packet, in ms (the table refreshes a flow's stamp only every
 * LB_FLOW_TOUCH_JIFFIES, so a busy flow may read up to that old); stops
 * early if fn returns non-zero and returns that value. */
int lb_xdp_flow_foreach(struct lb_xdp *x,
			int (*fn)(const struct lb_flow_key *key, __u32 backend_id,
				  __u32 idle_ms, void *arg),
			void *arg);

/* The clock the program stamps flows with (bpf_jiffies64(), low 32
 * bits) as it reads now, and its rate: for tests that back-date a flow. */
int lb_xdp_clock(const struct lb_xdp *x, __u32 *now, __u32 *hz);

/* What the fast path holds for backend id (a copy), and the vip_id the
 * live VIP table gives key (-ENOENT if none): a restarted control plane
 * reads them to take the same ids again. */
int lb_xdp_backend_get(struct lb_xdp *x, __u32 id, struct lb_backend *out);
int lb_xdp_vip_find(struct lb_xdp *x, const struct lb_vip_key *key, __u32 *vip_id);

#endif /* SLUICE_XDP_LOADER_H */
