/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nl.h - what sluiced asks the kernel over rtnetlink (libmnl): interfaces
 * (exist? up? ifindex, MAC, MTU), the next hop of each backend (route,
 * egress link, neighbour), and a monitor that says when links, neighbours
 * or routes changed so the backends' next hops are resolved again.
 *
 * Next hops: the XDP fast path uses a backend's cached next hop
 * (lb_backend.nh_*, valid under LB_BACKEND_F_NH_VALID) and otherwise asks
 * bpf_fib_lookup(), which cannot resolve a missing neighbour: it answers
 * NO_NEIGH and the packet is dropped (docs/forwarding.md, next hops). So when a
 * backend's neighbour is missing or not usable, cp_nl_nexthop() has the
 * kernel resolve it (RTM_NEWNEIGH with NTF_USE: the kernel sends the ARP
 * request / neighbour solicitation at once) and reports resolved = 0; the
 * caller resolves again when the monitor reports a neighbour change (the
 * kernel notifies when the entry becomes REACHABLE or FAILED) or on a
 * short timer. The first packet to a new backend then finds it resolved.
 *
 * Threads: a struct cp_nl belongs to one thread at a time (sluiced's
 * control thread); nothing here locks. Every call blocks for one or two
 * netlink round trips except cp_nl_monitor_read(), which never blocks.
 */
#ifndef SLUICE_CP_NL_H
#define SLUICE_CP_NL_H

#include <net/if.h>
#include <linux/types.h>

#include "fwd.h"

struct cp_nl;

/* An interface as the kernel reports it. */
struct cp_link {
	int ifindex;
	char name[IF_NAMESIZE];
	__u8 mac[6];		/* zero when the link has no 6-byte address */
	__u32 mtu;		/* L3 MTU */
	int up;			/* administratively up (IFF_UP) */
	int oper_up;		/* operationally up: IFF_RUNNING (carrier, not dormant) */
	__u16 type;		/* ARPHRD_*: ARPHRD_ETHER for Ethernet and veth */
};

/* A backend's next hop. ifindex, mtu and smac are filled whenever a
 * unicast route exists; dmac only when resolved is 1. */
struct cp_nexthop {
	int ifindex;		/* egress interface */
	__u32 mtu;		/* route MTU (RTAX_MTU) if set, else the link's */
	__u8 dmac[6];		/* the gateway's or the destination's MAC */
	__u8 smac[6];		/* the egress link's MAC */
	int resolved;		/* 1: dmac valid; 0: resolution pending, retry later */
};

/* Opens a NETLINK_ROUTE request socket and a non-blocking monitor socket
 * subscribed to link, neighbour, IPv4 and IPv6 route changes. Returns the
 * handle (free with cp_nl_close), or NULL with errno set (logged). */
struct cp_nl *cp_nl_open(void);

/* Closes both sockets and frees nl; NULL is accepted. */
void cp_nl_close(struct cp_nl *nl);

/* Looks up an interface by name. Returns 0 with *out filled, -ENODEV if no
 * such interface exists (logged: "interface X does not exist"), -EINVAL for
 * an empty name or one of IF_NAMESIZE bytes or more, or another -errno
 * from netlink (logged). A link that is down is not an error: the caller
 * reads out->up / out->oper_up and decides. */
int cp_nl_link_get(struct cp_nl *nl, const char *ifname, struct cp_link *out);

/* Resolves the next hop towards dst, family LB_FAMILY_V4 or LB_FAMILY_V6
 * (fwd.h's, not AF_*): RTM_GETROUTE, then the egress link, then the
 * neighbour (the gateway, or dst itself on a connected route) on that
 * link.
 * Returns 0 with out->resolved = 1 when the neighbour is in a valid state
 * (REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP) and has a MAC.
 * Returns 0 with out->resolved = 0 when the neighbour is missing,
 * incomplete or failed (the kernel has been asked to resolve it; see
 * above), or the egress link is down.
 * Returns -ENETUNREACH / -EHOSTUNREACH / -EACCES / -EINVAL as the kernel
 * answers the route lookup (no route, unreachable, prohibit, blackhole),
 * -EHOSTUNREACH for a route that is not unicast (local, broadcast, ...),
 * -EOPNOTSUPP when the egress link is not Ethernet (no MAC to cache),
 * -EAFNOSUPPORT for another family, -EINVAL for a NULL argument; each
 * logged once. */
int cp_nl_nexthop(struct cp_nl *nl, __u8 family, const struct lb_addr *dst,
		  struct cp_nexthop *out);

/* cp_nexthop_fn (model.h), arg is a struct cp_nl *. Fills b->nh_* from
 * cp_nl_nexthop(b->family, b->addr) and sets LB_BACKEND_F_NH_VALID when the
 * next hop is resolved (MTU capped to 65535); otherwise clears the flag
 * and zeroes nh_*, so the fast path falls back to bpf_fib_lookup().
 * Never fails for an unresolvable next hop: returns 0 (the reason is
 * logged by cp_nl_nexthop); -EINVAL only for NULL arguments. */
int cp_nl_fill_backend(void *nl, struct lb_backend *b);

/* cp_is_local_fn (model.h): an enum cp_local for a on this host, from
 * the kernel's route to it (RTN_LOCAL: one of its addresses, also an
 * AnyIP `local` route; RTN_BROADCAST: a connected subnet's broadcast).
 * nl may be NULL: a socket is opened for the one query. A failed lookup
 * is CP_LOCAL_NO (not logged: the next hop is, later). */
int cp_nl_is_local(void *nl, __u8 family, const struct lb_addr *a);

/* What cp_nl_monitor_read() saw. */
/* --- The announce table (announce.c) ------------------------------------
 *
 * The rtm_protocol of the VIP routes sluiced keeps in the announce table:
 * a protocol of its own (values above RTPROT_STATIC are for routing
 * daemons; 200 is assigned to none in iproute2's rt_protos). bird2's
 * kernel protocol with `learn` imports routes another program put in its
 * table, and an operator lists exactly ours with
 * `ip route show table N proto 200`; our dump and deletes never touch
 * another program's routes. */
#define CP_RTPROT_SLUICE 200

/* A handle with no monitor socket, for requests only; NULL on failure
 * (logged). Closed with cp_nl_close. */
struct cp_nl *cp_nl_open_requests(void);

/* Adds (add 1: create or replace) or deletes the route of one address
 * (/32 or /128) in table, protocol CP_RTPROT_SLUICE: a blackhole (scope
 * universe) when oif is 0, else a route out of interface oif (scope
 * link), which the kernel removes with that interface. A delete matches
 * either type, of our protocol only. 0 or the kernel's -errno (a delete
 * of a missing route: -ESRCH or -ENOENT). Logs nothing: announce.c logs
 * once. */
int cp_nl_vip_route(struct cp_nl *nl, int add, __u32 table, __u8 family,
		    const struct lb_addr *a, int oif);

/* Calls fn for every /32 and /128 of protocol CP_RTPROT_SLUICE in table
 * (blackhole or unicast), both families; fn's nonzero return stops the
 * walk and is returned. 0 or -errno. */
typedef int (*cp_nl_route_fn)(void *arg, __u8 family, const struct lb_addr *a);
int cp_nl_vip_routes(struct cp_nl *nl, __u32 table, cp_nl_route_fn fn, void *arg);

#define CP_NL_CHANGED_LINK (1 << 0)	/* RTM_NEWLINK / RTM_DELLINK */
#define CP_NL_CHANGED_NEIGH (1 << 1)	/* IPv4/IPv6 RTM_NEWNEIGH / RTM_DELNEIGH */
#define CP_NL_CHANGED_ROUTE (1 << 2)	/* RTM_NEWROUTE / RTM_DELROUTE, v4 or v6 */
#define CP_NL_CHANGED_LOST (1 << 3)	/* notifications were lost: assume anything changed */

/* The monitor socket's file descriptor, for poll/epoll (readable when
 * notifications are queued). Owned by nl: do not close it. */
int cp_nl_monitor_fd(struct cp_nl *nl);

/* Reads the queued notifications without blocking and sets *changed to
 * the CP_NL_CHANGED_* bits seen (0: nothing relevant). It reads at most a
 * bounded batch per call, so with level-triggered polling the fd stays
 * readable while more are queued. A socket overflow (ENOBUFS) is not an
 * error: it sets CP_NL_CHANGED_LOST. Returns 0, or -errno (logged). */
int cp_nl_monitor_read(struct cp_nl *nl, int *changed);

#endif /* SLUICE_CP_NL_H */
