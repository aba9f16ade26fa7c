/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader_int.h - the XDP loader's internals, shared by its files and by
 * nothing else (callers use loader.h). One concern per file:
 *
 *   loader.c         open, load, mmap, grace period, publishing, close
 *   loader_pin.c     pinning and unpinning
 *   loader_attach.c  attaching to and detaching from interfaces
 *   loader_adopt.c   adopting what an earlier process pinned (hitless
 *                    restart, docs/architecture.md)
 *   loader_read.c    reading back counters, flows and table entries
 *
 * Public functions are lb_xdp_*; the internals shared between these files
 * are loader_*; everything else is static to its file.
 */
#ifndef SLUICE_XDP_LOADER_INT_H
#define SLUICE_XDP_LOADER_INT_H

#include <net/if.h>
#include <stddef.h>
#include <linux/types.h>

#include "fwd.h"
#include "tables.h"
#include "loader.h"

#define LB_XDP_MAX_IFACES 16

/* Pin names beside the maps' (which are their LB_MAP_* names). */
#define LB_XDP_PROG_PIN "prog"
#define LB_XDP_LINK_PIN_PREFIX "link_"
/* The ABI stamp of a pin dir: an ARRAY of one __u32 holding the
 * LB_ABI_VERSION (lib/fwd.h) the pinned maps are laid out for. Only
 * userspace reads it; the program never sees it. */
#define LB_XDP_ABI_PIN "abi"

/* The program's maps, as pinned and as lb_xdp_map_fd() knows them:
 * loader_map_names[LB_XDP_NR_MAPS] (loader.c). */
#define LB_XDP_NR_MAPS 9
extern const char *const loader_map_names[];

/* The arrays mmap()ed at load: the five tables and the flows. */
#define LB_XDP_NR_MMAPS 6

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One interface we attached to (or adopted a pinned link of). */
struct loader_iface {
	int ifindex;			/* 0: record unused */
	int link_fd;			/* native mode: bpf_link fd; -1 in generic mode */
	int pinned;			/* link pinned as <pin_dir>/link_<ifname> */
	char ifname[IF_NAMESIZE];
};

/* One mmap()ed map, for munmap(). */
struct loader_mmap {
	void *addr;
	size_t len;
};

/* The largest per-CPU counter value (fwd.h): the size of x->pcpu's slots. */
#define LB_PCPU_MAX_VALUE						\
	(sizeof(struct lb_backend_stats) > sizeof(struct lb_vip_stats)	\
		 ? sizeof(struct lb_backend_stats) : sizeof(struct lb_vip_stats))
_Static_assert(sizeof(struct lb_reason_stats) <= LB_PCPU_MAX_VALUE, "pcpu slot");

struct lb_xdp {
	struct sluice *skel;
	struct bpf_program *prog;

	/* The params the program was loaded with (nr_cpus included), the
	 * mmap()ed views of the tables and the grace callback: written only
	 * through lib/tables.h. */
	struct lb_tables tables;
	struct lb_flow_bucket *flows;	/* nr_cpus * flow_buckets, mmap()ed */
	struct loader_mmap maps[LB_XDP_NR_MMAPS];

	/* Grace periods: ARRAY_OF_MAPS of one inner ARRAY. */
	int sync_fd;
	int sync_inner_fd;

	void *pcpu;			/* nr_cpus values of LB_PCPU_MAX_VALUE bytes */

	char *pin_dir;			/* set by lb_xdp_pin: later links pin there too */
	struct loader_iface ifaces[LB_XDP_MAX_IFACES];

	/* Hitless restart (lb_xdp_adopt). */
	int abi_fd;			/* "abi" map; -1 in handles of lb_xdp_open */
	__u32 replaced_prog_id;		/* pinned program adoption replaced, or 0: a
					 * generic attachment may still run it */
};

/* loader.c */

/* The first half of lb_xdp_open and lb_xdp_adopt: checks the sizes,
 * allocates the handle and opens the object, sized but not loaded.
 * NULL with errno set on failure (logged). */
struct lb_xdp *loader_handle_new(const struct lb_params *params);
/* The second half: loads the object, maps the arrays and creates the
 * grace-period map. fresh: the maps were just created, so the rings are
 * set to "no ring" (adopted maps keep their contents). Logged. */
int loader_handle_load(struct lb_xdp *x, int fresh);
/* The map loader_map_names[i] of the object (never NULL for i <
 * LB_XDP_NR_MAPS: the skeleton has them all). */
struct bpf_map *loader_map(const struct lb_xdp *x, size_t i);
/* The record of ifindex (0: a free record), or NULL. */
struct loader_iface *loader_iface_find(struct lb_xdp *x, int ifindex);

/* loader_pin.c */

/* dir/name into path; -ENAMETOOLONG (logged) if it does not fit. */
int loader_pin_path(char *path, size_t cap, const char *dir, const char *name);
/* 1 if the object pinned at path is fd's object (same type and id). */
int loader_pinned_is(int fd, const char *path);
/* Pins f's link as <pin_dir>/link_<ifname>; logged. */
int loader_link_pin(struct lb_xdp *x, struct loader_iface *f);
/* Removes that pin, if f's link was pinned; failures logged. */
void loader_link_unpin(struct lb_xdp *x, struct loader_iface *f);

/* loader_adopt.c */

/* lb_xdp_attach in generic mode found program cur already on ifindex:
 * 0 if it is ours or was swapped for ours, -EBUSY if it is someone
 * else's, or -errno. */
int loader_adopt_generic(struct lb_xdp *x, int ifindex, __u32 cur);

#endif /* SLUICE_XDP_LOADER_INT_H */
