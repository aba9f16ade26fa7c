/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fwd.h - the one ABI between the fast paths (XDP, DPDK) and userspace.
 *
 * Every map key and value, every counter index and every pass/drop reason
 * lives here and nowhere else. It is included by the BPF programs, the
 * loader, the control plane, the DPDK fast path and the tests.
 *
 * Rules: fixed-width types only, explicit padding, no bool/enum/pointer in a
 * layout, sizes pinned by _Static_assert. Reason codes are never renumbered;
 * a retired one stays as a reserved slot.
 *
 * Concurrency model (see docs/architecture.md): userspace writes the arrays
 * below through mmap() and publishes a change with one aligned 32-bit store
 * (a "flip"). The fast path reads each flip word once per packet: VIP
 * tables and rings are never seen half-written. The one exception is
 * lb_config's node settings (encap sources, flow TTLs), rewritten in place
 * on an operator's command: a packet in flight during that write may
 * carry a mix of the old and new IPv6 source (each TTL is one word).
 */
#ifndef SLUICE_LIB_FWD_H
#define SLUICE_LIB_FWD_H

#include <linux/types.h>

/* The layout of the pinned maps: raised whenever a map key, value or
 * fixed size (LB_R_MAX) changes, so hitless restart refuses old pins by
 * their stamp (docs/architecture.md "Hitless restart"). */
#define LB_ABI_VERSION 6

/* Address families as stored in keys; 0 marks an empty slot. */
#define LB_FAMILY_NONE 0
#define LB_FAMILY_V4 4
#define LB_FAMILY_V6 6

/* An address of either family: IPv4 uses word 0, words 1..3 are zero. */
struct lb_addr {
	__be32 w[4];
};

/* --- VIPs ------------------------------------------------------------- */

/* Key of a VIP. port 0 is the port wildcard; proto is IPPROTO_TCP/UDP, or
 * IPPROTO_ICMP/ICMPV6 for the per-address entry that makes the balancer
 * answer echo requests to a VIP address. */
struct lb_vip_key {
	struct lb_addr addr;
	__be16 port;
	__u8 proto;
	__u8 family;
};

/* One slot of the open-addressed VIP table. The table is an ARRAY of
 * 2 * vip_slots entries: two generations, the live one named by
 * lb_config.vip_gen. Empty slot: key.family == 0. */
struct lb_vip_slot {
	struct lb_vip_key key;
	__u32 vip_id;		/* index into vip_meta/vip_stats, or LB_VIP_ID_ADDR */
};

/* vip_id of the per-address ICMP entries: "this address is a VIP". */
#define LB_VIP_ID_ADDR 0xffffffffu

/* A key hashes to a home slot and may sit at most this many slots further. */
#define LB_VIP_PROBES 8

/* VIP flags */
#define LB_VIP_F_AFFINITY (1u << 0)	/* flow key is the client address only */

/* Per-VIP state, ARRAY indexed by vip_id. */
struct lb_vip_meta {
	__u32 flags;		/* LB_VIP_F_* */
	/* The flip word of this VIP's ring: (ring_size << 1) | live_half.
	 * ring_size 0 means the VIP is not in service. */
	__u32 ring;
};

#define LB_RING_SIZE(ring_word) ((ring_word) >> 1)
#define LB_RING_HALF(ring_word) ((ring_word) & 1u)
#define LB_RING_WORD(size, half) (((size) << 1) | ((half) & 1u))

/* Rings: one ARRAY of entry pairs (array elements are 8-byte aligned, so a
 * pair wastes nothing). Seen as a flat __u32 array through mmap(), ring row
 * r = vip_id * 2 + half starts at r * LB_RING_STRIDE(max_ring). A row of an
 * empty ring is all LB_BACKEND_NONE. */
struct lb_ring_pair {
	__u32 backend_id[2];
};

#define LB_BACKEND_NONE 0xffffffffu

/* __u32 entries per ring row: max_ring rounded up to a whole pair. */
#define LB_RING_STRIDE(max_ring) (((max_ring) + 1u) & ~1u)

/* --- Backends ---------------------------------------------------------- */

#define LB_BACKEND_UNUSED 0	/* id free: ring entries pointing here drop */
#define LB_BACKEND_UP 1
#define LB_BACKEND_DOWN 2	/* flows re-pick from the ring */
#define LB_BACKEND_DRAINING 3	/* keeps its flows, not in any ring */

#define LB_BACKEND_F_NH_VALID (1u << 0)	/* next-hop cache below is usable */

/* ARRAY indexed by backend id. addr, family and gen never change while an
 * id is in use; a different backend gets a new gen, so flows pinned to the
 * old one notice. state is one byte written alone. */
struct lb_backend {
	struct lb_addr addr;
	__u8 family;
	__u8 state;		/* LB_BACKEND_* */
	__u8 flags;		/* LB_BACKEND_F_* */
	__u8 pad0;
	__u32 gen;		/* incarnation; stored in flows that use it */
	/* Next hop resolved by the control plane (saves a FIB lookup per
	 * packet). Used only when LB_BACKEND_F_NH_VALID is set. */
	__u32 nh_ifindex;
	__u16 nh_mtu;		/* egress MTU (L3 bytes) */
	__u8 nh_dmac[6];
	__u8 nh_smac[6];
	__u8 pad1[2];
	/* The VIP this id serves. The fast path does not read it; a
	 * restarted control plane does, to take the same ids and gens
	 * again so that flows pinned to them keep their backend. */
	__u32 vip_id;
};

/* --- Flows ------------------------------------------------------------- */

/* 5-tuple in network order. For an affinity VIP, sport is zero so every
 * connection of a client shares one key. */
struct lb_flow_key {
	struct lb_addr src;
	struct lb_addr dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;		/* 0: way empty */
	__u8 pad[2];
};

/* The connection table is an ARRAY of buckets, nr_cpus * flow_buckets
 * entries: each CPU owns a slice, so the packet path writes without locks
 * (RSS keeps a flow on one CPU). A bucket is a 4-way set; a new flow takes
 * an empty way, else an expired one, else the way seen least recently: an
 * LRU per set, not per table ("the oldest" is the oldest of the 4 ways the
 * flow hashes to), at the cost of an array store instead of an LRU-hash
 * update. Replacing a way that holds another flow that has not expired is
 * an eviction (lb_vip_stats.flow_evictions). tag is the flow hash,
 * compared before the key; last_seen is in jiffies (low 32 bits) of the
 * fast path's clock (LB_ENV_HZ in lib/pipeline.h). A way idle for longer
 * than its protocol's lb_config.flow_ttl_* has expired: a lookup misses
 * it. */
#define LB_FLOW_WAYS 4

struct lb_flow_bucket {
	__u32 tag[LB_FLOW_WAYS];
	__u32 backend_id[LB_FLOW_WAYS];
	__u32 backend_gen[LB_FLOW_WAYS];
	__u32 last_seen[LB_FLOW_WAYS];
	struct lb_flow_key key[LB_FLOW_WAYS];
};

/* last_seen is refreshed only when it is this many jiffies old, so a busy
 * flow does not dirty its cache line on every packet. */
#define LB_FLOW_TOUCH_JIFFIES 64

/* --- Node configuration ----------------------------------------------- */

#define LB_CFG_F_ENTROPY_V4 (1u << 0)	/* low bits of the v4 encap source from the flow hash */
#define LB_CFG_F_ENTROPY_V6 (1u << 1)	/* same for v6 */

/* ARRAY of one entry. vip_gen is the flip word of the VIP table. */
struct lb_config {
	__u32 vip_gen;		/* live half of vip_table: 0 or 1 */
	__u32 vip_seed[2];	/* hash seed of each half */
	__u32 flags;		/* LB_CFG_F_* */
	__be32 encap_src4;	/* outer source for IPv4 backends; 0: none */
	__u32 entropy_mask4;	/* host-order mask of source bits taken from the hash */
	struct lb_addr encap_src6;	/* outer source for IPv6 backends */
	__u32 entropy_mask6;	/* host-order mask on the last word of the v6 source */
	__u32 vip_wild;		/* bit h: half h holds a port-wildcard TCP/UDP key */
	/* Idle timeouts of connection-table entries, in seconds (0: never
	 * expire). Seconds, not ticks: each fast path converts with its own
	 * clock rate (LB_ENV_HZ). Written alone, one aligned store each. */
	__u32 flow_ttl_tcp;	/* TCP flows */
	__u32 flow_ttl_udp;	/* UDP flows */
};

/* Largest flow_ttl_*: a week. ttl * HZ must stay far below 2^31 ticks
 * (last_seen is 32 bits; at HZ 1000 ages wrap after 49.7 days). */
#define LB_FLOW_TTL_MAX 604800

/* Sizes fixed at load time (the program's .rodata, so the verifier and
 * the JIT see constants). The loader fills it; DPDK uses it as is. */
struct lb_params {
	__u32 vip_slots;	/* VIP table slots per half; power of two */
	__u32 max_vips;		/* vip_meta / vip_stats entries */
	__u32 max_ring;		/* largest ring size M of any VIP */
	__u32 max_backends;	/* backends / backend_stats entries */
	__u32 flow_buckets;	/* connection-table buckets per CPU; power of two */
	__u32 nr_cpus;		/* CPU slices of the connection table */
};

/* Defaults: 256 VIPs with M up to 65537 (128 MiB of rings, both halves),
 * 4096 backends, 64 Ki buckets (256 Ki flows, 14 MiB) per CPU; a VIP
 * table of 2048 slots, or as many as max_vips needs (lb_viptable_slots). */
#define LB_DEFAULT_VIP_SLOTS 2048
#define LB_DEFAULT_MAX_VIPS 256
#define LB_DEFAULT_RING_SIZE 65537
#define LB_DEFAULT_MAX_BACKENDS 4096
#define LB_DEFAULT_FLOW_BUCKETS 65536

/* --- Counters (PERCPU_ARRAY, summed by userspace) ---------------------- */

/* vip_stats, indexed by vip_id */
struct lb_vip_stats {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;	/* connection-table inserts */
	__u64 ring_picks;	/* ring consultations: new flows and re-picks */
	/* Lookups that found no entry, TCP SYNs excepted: for TCP a live
	 * connection the table lost (eviction, expiry, restart, RSS change);
	 * for UDP the first packet of a flow. */
	__u64 flow_misses;
	/* New flows stored over a different flow that had not expired: the
	 * way seen least recently of a full 4-way set. Counted on the VIP of
	 * the new flow. */
	__u64 flow_evictions;
};

/* Drops after the backend was picked, counted against it too: the
 * reasons lb_forward() alone returns, LB_R_DROP_FIB to
 * LB_R_DROP_NO_SOURCE, dropped[reason - LB_BACKEND_DROP_FIRST]. */
#define LB_BACKEND_DROP_FIRST LB_R_DROP_FIB
#define LB_BACKEND_DROPS 5

/* backend_stats, indexed by backend id. packets and bytes: forwarded.
 * One cache line, so the forwarding counters never straddle two. */
struct lb_backend_stats {
	__u64 packets;
	__u64 bytes;
	__u64 dropped[LB_BACKEND_DROPS];	/* packets, by reason */
	__u64 pad;
};

/* reason_stats, indexed by LB_R_*: every packet the program sees is
 * counted under exactly one reason. */
struct lb_reason_stats {
	__u64 packets;
	__u64 bytes;
};

/* Verdict reasons. Never renumber; retire by leaving a hole. */
#define LB_R_FWD_TX		0	/* encapsulated, out the ingress port */
#define LB_R_FWD_REDIRECT	1	/* encapsulated, out another port */
#define LB_R_PASS_NOT_IP	2	/* ARP, LLDP, ...: the kernel's */
#define LB_R_PASS_NOT_VIP	3	/* IP, but no VIP matches */
#define LB_R_PASS_ICMP_OTHER	4	/* ICMP to a VIP address we do not handle */
#define LB_R_ICMP_ECHO_REPLY	5	/* echo request to a VIP answered */
#define LB_R_ICMP_TOO_BIG_SENT	6	/* frag-needed / packet-too-big to a client */
#define LB_R_DROP_BAD_L2	7	/* truncated Ethernet/VLAN, >2 tags */
#define LB_R_DROP_BAD_L3	8	/* truncated or invalid IPv4/IPv6 header */
#define LB_R_DROP_BAD_L4	9	/* truncated TCP/UDP/ICMP header */
#define LB_R_DROP_FRAGMENT	10	/* IP fragment to a VIP: no ports to hash */
#define LB_R_DROP_NO_BACKEND	11	/* VIP ring empty */
#define LB_R_DROP_BAD_BACKEND	12	/* ring names an unused backend id */
#define LB_R_DROP_FIB		13	/* no route to the backend */
#define LB_R_DROP_NO_NEIGH	14	/* route, but neighbour unresolved */
#define LB_R_DROP_TOO_BIG	15	/* too big to encapsulate, DF clear */
#define LB_R_DROP_NO_ROOM	16	/* bpf_xdp_adjust_head/tail refused */
#define LB_R_DROP_NO_SOURCE	17	/* no encap source of the backend's family */
#define LB_R_DROP_ICMP_QUOTE	18	/* ICMP error to a VIP quoting no VIP flow */
#define LB_R_DROP_IPV6_EXT	19	/* too many IPv6 extension headers */
#define LB_R_DROP_NO_VIP_META	20	/* VIP table names an id out of range */
#define LB_R_DROP_NO_FLOW_BUCKET 21	/* connection-table bucket out of range */
#define LB_R_MAX		22

/* Names for logs and metrics, indexed by LB_R_*; kept beside the codes. */
#define LB_REASON_NAMES {				\
	"fwd_tx", "fwd_redirect", "pass_not_ip",	\
	"pass_not_vip", "pass_icmp_other",		\
	"icmp_echo_reply", "icmp_too_big_sent",		\
	"drop_bad_l2", "drop_bad_l3", "drop_bad_l4",	\
	"drop_fragment", "drop_no_backend",		\
	"drop_bad_backend", "drop_fib",			\
	"drop_no_neigh", "drop_too_big",		\
	"drop_no_room", "drop_no_source",		\
	"drop_icmp_quote", "drop_ipv6_ext",		\
	"drop_no_vip_meta", "drop_no_flow_bucket",	\
}

/* --- decap.bpf.c (backend side) -------------------------------------- */

/* HASH decap_addrs: outer destinations this host decapsulates for. An
 * encapsulated packet to any other address is left to the kernel. */
struct lb_decap_key {
	struct lb_addr addr;
	__u8 family;		/* LB_FAMILY_V4 / LB_FAMILY_V6 */
	__u8 pad[3];
};

/* decap_stats (PERCPU_ARRAY of struct lb_reason_stats) indices */
#define LB_DECAP_R_DONE		0	/* outer header stripped, inner passed up */
#define LB_DECAP_R_PASS_OTHER	1	/* not IPIP/IPv6-in-IP: untouched */
#define LB_DECAP_R_PASS_NOT_LOCAL 2	/* encapsulated, but not to a decap address */
#define LB_DECAP_R_DROP_BAD	3	/* truncated or inconsistent outer/inner header */
#define LB_DECAP_R_DROP_NO_ROOM	4	/* bpf_xdp_adjust_head refused */
#define LB_DECAP_R_MAX		5

#define LB_DECAP_REASON_NAMES {				\
	"decap", "pass_other", "pass_not_local",	\
	"drop_bad", "drop_no_room",			\
}

#define LB_MAP_DECAP_ADDRS "decap_addrs"
#define LB_MAP_DECAP_STATS "decap_stats"

/* Encapsulation constants */
#define LB_ENCAP_TTL 64
#define LB_IPV4_HDR_LEN 20
#define LB_IPV6_HDR_LEN 40

/* Map names shared by the loader, pins and tests. */
#define LB_MAP_CONFIG "lb_config"
#define LB_MAP_VIP_TABLE "vip_table"
#define LB_MAP_VIP_META "vip_meta"
#define LB_MAP_RINGS "rings"
#define LB_MAP_BACKENDS "backends"
#define LB_MAP_FLOWS "flows"
#define LB_MAP_VIP_STATS "vip_stats"
#define LB_MAP_BACKEND_STATS "backend_stats"
#define LB_MAP_REASON_STATS "reason_stats"

_Static_assert(sizeof((const char *[])LB_REASON_NAMES) == LB_R_MAX * sizeof(const char *),
	       "a name per reason");
_Static_assert(sizeof(struct lb_addr) == 16, "lb_addr");
_Static_assert(sizeof(struct lb_vip_key) == 20, "lb_vip_key");
_Static_assert(sizeof(struct lb_vip_slot) == 24, "lb_vip_slot");
_Static_assert(sizeof(struct lb_vip_meta) == 8, "lb_vip_meta");
_Static_assert(sizeof(struct lb_backend) == 48, "lb_backend");
_Static_assert(__builtin_offsetof(struct lb_backend, vip_id) == 44, "lb_backend.vip_id");
_Static_assert(sizeof(struct lb_flow_key) == 40, "lb_flow_key");
_Static_assert(sizeof(struct lb_flow_bucket) == 64 + 4 * 40, "lb_flow_bucket");
_Static_assert(sizeof(struct lb_config) == 56, "lb_config");
_Static_assert(sizeof(struct lb_vip_stats) == 48, "lb_vip_stats");
_Static_assert(sizeof(struct lb_backend_stats) == 64, "lb_backend_stats");
_Static_assert(LB_R_DROP_NO_NEIGH == LB_BACKEND_DROP_FIRST + 1 &&
	       LB_R_DROP_TOO_BIG == LB_BACKEND_DROP_FIRST + 2 &&
	       LB_R_DROP_NO_ROOM == LB_BACKEND_DROP_FIRST + 3 &&
	       LB_R_DROP_NO_SOURCE == LB_BACKEND_DROP_FIRST + LB_BACKEND_DROPS - 1,
	       "the per-backend drop reasons are contiguous");
_Static_assert(sizeof(struct lb_ring_pair) == 8, "lb_ring_pair");
_Static_assert(sizeof(struct lb_params) == 24, "lb_params");
_Static_assert(sizeof(struct lb_decap_key) == 20, "lb_decap_key");
_Static_assert(__builtin_offsetof(struct lb_flow_bucket, key) == 64, "flow keys after tags");

#endif /* SLUICE_LIB_FWD_H */
