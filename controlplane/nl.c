/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nl.c - rtnetlink through libmnl: links, backends' next hops, and the
 * change monitor (nl.h).
 *
 * Requests: one blocking NETLINK_ROUTE socket. Every request carries
 * NLM_F_ACK, so even a GET ends with the kernel's ACK (or its error) and
 * the receive loop knows when the request is over without a timeout.
 * Reply handlers never abort the loop: they record an error and let it
 * run to the ACK, so no reply is left queued to confuse the next request.
 * The socket asks for extended ACKs: the kernel's reason for a refusal
 * ("Invalid NTF_* flag ...") goes into the log line.
 *
 * Neighbour resolution: RTM_NEWNEIGH with NTF_USE (and NLM_F_CREATE, state
 * NUD_NONE). neigh_add() (net/core/neighbour.c) creates the entry if it is
 * missing, leaves the state alone (NEIGH_UPDATE_F_USE) and calls
 * neigh_event_send(), which moves NONE/FAILED to INCOMPLETE and sends the
 * first probe immediately. Verified on this 6.18 kernel: a plain NUD_NONE
 * add creates an entry and sends nothing; NTF_USE sends the ARP request at
 * once, 3 probes, then FAILED. State NUD_NONE, not PERMANENT as `ip neigh
 * ... use` sends by default: a PERMANENT create would make the entry
 * exempt from garbage collection for good. Not NTF_EXT_MANAGED either
 * (the kernel then re-probes the entry every few seconds, forever, even
 * FAILED): that needs an explicit delete when a backend goes away, and an
 * entry left behind by a crash would be probed for good. NTF_USE leaves
 * an ordinary entry that ages and is collected like any other.
 *
 * Threads: see nl.h.
 */
#define LB_LOG_PREFIX "nl: "

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <search.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "log.h"
#include "model.h"
#include "nl.h"

/* The kernel's NUD_VALID (include/net/neighbour.h; not in the UAPI): the
 * states in which an entry holds a usable link-layer address. */
#define CP_NUD_VALID \
	(NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)

/* Receive buffer of both sockets. libmnl's MNL_SOCKET_BUFFER_SIZE is one
 * page (4 KiB here); a link message with all its attributes can come
 * close to that, and a datagram that does not fit is truncated and lost
 * (ENOSPC). 32 KiB is what newer libmnl names MNL_SOCKET_DUMP_SIZE. */
#define NL_RX_SIZE 32768

/* Requests are small: header, fixed part and a name or an address. */
#define NL_REQ_SIZE 256

/* Notifications read per cp_nl_monitor_read() call at most. */
#define NL_MONITOR_BATCH 256

/* Receive buffer asked for the monitor, so a burst (an interface going
 * down flushes its routes and neighbours) does not overflow it. Best
 * effort: an overflow is reported as CP_NL_CHANGED_LOST anyway. */
#define NL_MONITOR_RCVBUF (1 << 20)

/* cp_nl_is_local's source: the kernel's local routing table (table 255:
 * every address of this host, its subnets' broadcast addresses, 127/8),
 * dumped once and kept until the monitor reports a route or link change.
 * A lookup per backend was a netlink round trip each (tens of
 * microseconds): 100,000 backends in one apply cost seconds. Without a
 * monitor (no handle: --check-config, no fast path) the dump is trusted
 * for NL_LOCALS_TTL_NS. */
#define NL_LOCALS_TTL_NS 1000000000ull

struct nl_localrt {
	__u8 af;
	__u8 len;		/* prefix length */
	__u8 type;		/* RTN_LOCAL or RTN_BROADCAST */
	__u8 addr[16];
};

struct nl_locals {
	struct nl_localrt *v;
	size_t n, cap;
	int valid;
	__u64 at;		/* when it was dumped (CLOCK_MONOTONIC ns) */
};

/* A batch of thousands of backends behind one router asks for the same
 * egress link and neighbour again and again: an answer is reused for
 * NL_MEMO_NS (one round trip instead of three per backend). Every change
 * the monitor reports drops it, so a refresh it triggers asks afresh. */
#define NL_MEMO_NS 20000000ull

struct nl_neigh {
	__u16 state;		/* NUD_* */
	int has_lladdr;
	__u8 lladdr[6];
};

struct nl_memo {
	__u64 link_at, neigh_at;	/* 0: none */
	struct cp_link link;
	int neigh_af, neigh_ifindex;
	__u8 neigh_addr[16];
	struct nl_neigh neigh;
};

struct cp_nl {
	struct nl_memo memo;
	struct mnl_socket *req;	/* requests and their replies */
	struct mnl_socket *mon;	/* notifications, non-blocking */
	unsigned int portid;	/* req's port id: replies must carry it */
	unsigned int seq;	/* sequence number of the last request */
	char *buf;		/* NL_RX_SIZE bytes, shared: one thread owns nl */
	char extack[128];	/* kernel's message about the last refused request */
	void *said;		/* tsearch tree of struct nh_said: see say_once */
	struct nl_locals locals;	/* the local table, for cp_nl_is_local */
};

union nl_req {
	struct nlmsghdr hdr;	/* alignment */
	char buf[NL_REQ_SIZE];
};

/* Handles one data message of a reply; returns 0 or -errno. */
typedef int (*nl_reply_fn)(const struct nlmsghdr *nlh, void *arg);

struct nl_talk {
	struct cp_nl *nl;
	nl_reply_fn fn;
	void *arg;
	int err;		/* first error: the kernel's or fn's */
	int single;		/* a get: one data message, no ACK */
};

/* A table of attributes by type, for mnl_attr_parse(). */
struct nl_attrs {
	const struct nlattr **tb;
	unsigned int max;
};

static int collect_attr(const struct nlattr *a, void *data)
{
	const struct nl_attrs *at = data;
	unsigned int type = mnl_attr_get_type(a);

	/* Types beyond max come from a newer kernel: not ours to read. */
	if (type <= at->max)
		at->tb[type] = a;
	return MNL_CB_OK;
}

static int family_af(__u8 family)
{
	if (family == LB_FAMILY_V4)
		return AF_INET;
	if (family == LB_FAMILY_V6)
		return AF_INET6;
	return 0;
}

static size_t af_len(int af)
{
	return af == AF_INET ? 4 : af == AF_INET6 ? 16 : 0;
}

static const char *addr_str(int af, const void *a, char buf[INET6_ADDRSTRLEN])
{
	if (!inet_ntop(af, a, buf, INET6_ADDRSTRLEN))
		snprintf(buf, INET6_ADDRSTRLEN, "?");
	return buf;
}

static const char *nud_name(__u16 state)
{
	switch (state) {
	case NUD_NONE: return "NONE";
	case NUD_INCOMPLETE: return "INCOMPLETE";
	case NUD_REACHABLE: return "REACHABLE";
	case NUD_STALE: return "STALE";
	case NUD_DELAY: return "DELAY";
	case NUD_PROBE: return "PROBE";
	case NUD_FAILED: return "FAILED";
	case NUD_NOARP: return "NOARP";
	case NUD_PERMANENT: return "PERMANENT";
	default: return "?";
	}
}

/* "reason" or "reason: kernel's message", for the one log line. */
static const char *why(const struct cp_nl *nl, int err, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", strerror(-err), nl->extack[0] ? ": " : "", nl->extack);
	return buf;
}

/* --- Request / reply --------------------------------------------------- */

static int talk_data(const struct nlmsghdr *nlh, void *data)
{
	struct nl_talk *t = data;
	int err;

	if (t->fn && !t->err) {
		err = t->fn(nlh, t->arg);
		if (err)
			t->err = err;
	}
	return t->single ? MNL_CB_STOP : MNL_CB_OK;
}

/* NLMSG_ERROR: error 0 is the ACK that ends every request. */
static int talk_error(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	struct nl_talk *t = data;
	const struct nlattr *a;
	size_t off;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		t->err = -EBADMSG;
		return MNL_CB_STOP;
	}
	if (!e->error)
		return MNL_CB_STOP;
	/* The kernel sends -errno; some subsystems used to send +errno. */
	t->err = e->error < 0 ? e->error : -e->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return MNL_CB_STOP;
	/* The TLVs follow the error and, unless capped, our request. */
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += MNL_ALIGN(e->msg.nlmsg_len - sizeof(struct nlmsghdr));
	mnl_attr_for_each(a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
			snprintf(t->nl->extack, sizeof(t->nl->extack), "%s", mnl_attr_get_str(a));
			break;
		}
	}
	return MNL_CB_STOP;
}

static int talk_done(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_STOP;
}

/* Sends the request and feeds each data message of the reply to fn until
 * the kernel's ACK or error (single: until the one data message a get
 * answers, which then needs no ACK). Returns 0, the kernel's -errno, fn's
 * first error, or -errno of the socket. Logs nothing: callers log once,
 * with what they were doing. */
static int talk_to(struct cp_nl *nl, struct nlmsghdr *nlh, nl_reply_fn fn, void *arg,
		   int single)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = talk_error,
		[NLMSG_DONE] = talk_done,
	};
	struct nl_talk t = { .nl = nl, .fn = fn, .arg = arg, .single = single };
	unsigned int seq;
	ssize_t n;
	int ret;

	/* seq 0 would make libmnl accept any reply as ours. */
	if (++nl->seq == 0)
		++nl->seq;
	seq = nl->seq;
	nlh->nlmsg_flags |= NLM_F_REQUEST | (single ? 0 : NLM_F_ACK);
	nlh->nlmsg_seq = seq;
	nl->extack[0] = '\0';

	if (mnl_socket_sendto(nl->req, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl->req, nl->buf, NL_RX_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run2(nl->buf, n, seq, nl->portid, talk_data, &t, ctl,
				  MNL_ARRAY_SIZE(ctl));
		if (ret == MNL_CB_STOP)
			return t.err;
		/* EPROTO / ESRCH: a datagram for an older request or from
		 * another sender, not ours; keep waiting for our answer. */
		if (ret < 0 && errno != EPROTO && errno != ESRCH)
			return -errno;
	}
}

static int talk(struct cp_nl *nl, struct nlmsghdr *nlh, nl_reply_fn fn, void *arg)
{
	return talk_to(nl, nlh, fn, arg, 0);
}

/* A get of one object (a route, a link, a neighbour): one round trip, not
 * the two an ACK costs; next hops make 100,000 of them in a big batch. */
static int talk_get(struct cp_nl *nl, struct nlmsghdr *nlh, nl_reply_fn fn, void *arg)
{
	return talk_to(nl, nlh, fn, arg, 1);
}

static struct nlmsghdr *req_start(union nl_req *req, __u16 type, __u16 flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req->buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

/* --- Open / close ------------------------------------------------------ */

/* The request socket and the receive buffer: all a one-shot query needs. */
static int req_open(struct cp_nl *nl)
{
	int one = 1;
	int err;

	nl->buf = malloc(NL_RX_SIZE);
	if (!nl->buf) {
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	nl->req = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->req) {
		err = -errno;
		pr_warn("netlink socket: %s\n", strerror(-err));
		return err;
	}
	/* Best effort, only for better log lines: the kernel's reason for a
	 * refusal, and errors that do not echo the whole request back. */
	mnl_socket_setsockopt(nl->req, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->req, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl->req, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		pr_warn("bind netlink socket: %s\n", strerror(-err));
		return err;
	}
	nl->portid = mnl_socket_get_portid(nl->req);
	return 0;
}

struct cp_nl *cp_nl_open(void)
{
	unsigned int groups = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	int rcvbuf = NL_MONITOR_RCVBUF;
	struct cp_nl *nl;
	int err;

	nl = calloc(1, sizeof(*nl));
	if (!nl) {
		pr_warn("out of memory\n");
		errno = ENOMEM;
		return NULL;
	}
	err = req_open(nl);
	if (err)
		goto fail;

	nl->mon = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!nl->mon) {
		err = -errno;
		pr_warn("netlink monitor socket: %s\n", strerror(-err));
		goto fail;
	}
	/* Socket-level options (mnl_socket_setsockopt() is SOL_NETLINK).
	 * FORCE passes net.core.rmem_max, which root may; else the capped
	 * size. */
	if (setsockopt(mnl_socket_get_fd(nl->mon), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0 &&
	    setsockopt(mnl_socket_get_fd(nl->mon), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		pr_debug("monitor SO_RCVBUF: %s\n", strerror(errno));
	if (mnl_socket_bind(nl->mon, groups, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		pr_warn("subscribe to link/neighbour/route changes: %s\n",
			strerror(-err));
		goto fail;
	}
	return nl;

fail:
	cp_nl_close(nl);
	errno = -err;
	return NULL;
}

void cp_nl_close(struct cp_nl *nl)
{
	if (!nl)
		return;
	if (nl->mon)
		mnl_socket_close(nl->mon);
	if (nl->req)
		mnl_socket_close(nl->req);
	tdestroy(nl->said, free);
	free(nl->locals.v);
	free(nl->buf);
	free(nl);
}

/* --- Links ------------------------------------------------------------- */

static int link_reply(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	struct nl_attrs at = { tb, IFLA_MAX };
	const struct ifinfomsg *ifi;
	struct cp_link *out = arg;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return -EBADMSG;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), collect_attr, &at) < 0)
		return -EBADMSG;
	if (!tb[IFLA_IFNAME] || mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_NUL_STRING) < 0 ||
	    !tb[IFLA_MTU] || mnl_attr_validate(tb[IFLA_MTU], MNL_TYPE_U32) < 0)
		return -EBADMSG;

	memset(out, 0, sizeof(*out));
	out->ifindex = ifi->ifi_index;
	out->type = ifi->ifi_type;
	snprintf(out->name, sizeof(out->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	out->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == sizeof(out->mac))
		memcpy(out->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), sizeof(out->mac));
	out->up = !!(ifi->ifi_flags & IFF_UP);
	/* IFF_RUNNING is the kernel's netif_oper_up(): operstate UP, or
	 * UNKNOWN as lo and many virtual links report. IF_OPER_UP alone
	 * would call lo down. */
	out->oper_up = !!(ifi->ifi_flags & IFF_RUNNING);
	return 0;
}

/* RTM_GETLINK by index, or by name when ifindex is 0. No logging. */
static int link_query(struct cp_nl *nl, int ifindex, const char *name, struct cp_link *out)
{
	union nl_req req;
	struct nlmsghdr *nlh = req_start(&req, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (!ifindex)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	/* No counters wanted: keeps the reply small. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return talk_get(nl, nlh, link_reply, out);
}

int cp_nl_link_get(struct cp_nl *nl, const char *ifname, struct cp_link *out)
{
	char buf[192];
	int err;

	if (!nl || !out) {
		pr_warn("NULL argument\n");
		return -EINVAL;
	}
	if (!ifname || !ifname[0] || strlen(ifname) >= IF_NAMESIZE) {
		pr_warn("bad interface name \"%s\" (1 to %d bytes)\n",
			ifname ? ifname : "(null)", IF_NAMESIZE - 1);
		return -EINVAL;
	}
	err = link_query(nl, 0, ifname, out);
	if (err == -ENODEV) {
		pr_warn("interface %s does not exist\n", ifname);
		return err;
	}
	if (err) {
		pr_warn("interface %s: cannot read it: %s\n", ifname, why(nl, err, buf, sizeof(buf)));
		return err;
	}
	return 0;
}

/* --- Routes ------------------------------------------------------------ */

struct nl_route {
	__u8 type;		/* RTN_* */
	int oif;
	int gw_af;		/* AF_INET/AF_INET6 of the gateway; 0: directly connected */
	__u8 gw[16];
	__u32 mtu;		/* RTAX_MTU; 0 when the route sets none */
};

static int route_reply(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	const struct nlattr *mx[RTAX_MAX + 1] = { 0 };
	struct nl_attrs at = { tb, RTA_MAX };
	struct nl_attrs amx = { mx, RTAX_MAX };
	struct nl_route *r = arg;
	const struct rtmsg *rtm;
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm)))
		return -EBADMSG;
	rtm = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*rtm), collect_attr, &at) < 0)
		return -EBADMSG;

	r->type = rtm->rtm_type;
	if (tb[RTA_OIF]) {
		if (mnl_attr_validate(tb[RTA_OIF], MNL_TYPE_U32) < 0)
			return -EBADMSG;
		r->oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	}
	if (tb[RTA_GATEWAY]) {
		len = mnl_attr_get_payload_len(tb[RTA_GATEWAY]);
		if (!af_len(rtm->rtm_family) || len != af_len(rtm->rtm_family))
			return -EBADMSG;
		r->gw_af = rtm->rtm_family;
		memcpy(r->gw, mnl_attr_get_payload(tb[RTA_GATEWAY]), len);
	} else if (tb[RTA_VIA]) {
		/* IPv4 route through an IPv6 gateway (RFC 5549): the
		 * neighbour to resolve is an IPv6 one. */
		const struct rtvia *via = mnl_attr_get_payload(tb[RTA_VIA]);

		len = mnl_attr_get_payload_len(tb[RTA_VIA]);
		if (len < sizeof(*via))
			return -EBADMSG;
		len -= sizeof(*via);
		if (!af_len(via->rtvia_family) || len != af_len(via->rtvia_family))
			return -EOPNOTSUPP;
		r->gw_af = via->rtvia_family;
		memcpy(r->gw, via->rtvia_addr, len);
	}
	if (tb[RTA_METRICS]) {
		if (mnl_attr_parse_nested(tb[RTA_METRICS], collect_attr, &amx) < 0)
			return -EBADMSG;
		if (mx[RTAX_MTU] && mnl_attr_validate(mx[RTAX_MTU], MNL_TYPE_U32) == 0)
			r->mtu = mnl_attr_get_u32(mx[RTAX_MTU]);
	}
	return 0;
}

/* The kernel's own answer for a packet to dst sent from this host: the
 * route after policy rules, multipath selection and PMTU exceptions
 * (RTAX_MTU then carries a learnt path MTU). */
static int route_get(struct cp_nl *nl, int af, const void *dst, struct nl_route *out)
{
	union nl_req req;
	struct nlmsghdr *nlh = req_start(&req, RTM_GETROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = af;
	rtm->rtm_dst_len = af_len(af) * 8;
	mnl_attr_put(nlh, RTA_DST, af_len(af), dst);
	memset(out, 0, sizeof(*out));
	return talk_get(nl, nlh, route_reply, out);
}

/* An RTM_NEWROUTE of a dump: its header, its attributes in tb and its
 * table (RTA_TABLE, which holds ids above 255, else rtm_table). */
static int route_msg(const struct nlmsghdr *nlh, const struct rtmsg **rtm,
		     const struct nlattr *tb[RTA_MAX + 1], __u32 *table)
{
	struct nl_attrs at = { tb, RTA_MAX };

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(**rtm)))
		return -EBADMSG;
	*rtm = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(**rtm), collect_attr, &at) < 0)
		return -EBADMSG;
	*table = tb[RTA_TABLE] && !mnl_attr_validate(tb[RTA_TABLE], MNL_TYPE_U32)
			 ? mnl_attr_get_u32(tb[RTA_TABLE])
			 : (*rtm)->rtm_table;
	return 0;
}

static int localrt_reply(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	struct nl_locals *l = arg;
	const struct rtmsg *rtm;
	struct nl_localrt e = { 0 };
	__u32 table;

	if (route_msg(nlh, &rtm, tb, &table))
		return -EBADMSG;
	if (table != RT_TABLE_LOCAL ||
	    (rtm->rtm_type != RTN_LOCAL && rtm->rtm_type != RTN_BROADCAST) ||
	    !af_len(rtm->rtm_family) || rtm->rtm_dst_len > af_len(rtm->rtm_family) * 8)
		return 0;
	e.af = rtm->rtm_family;
	e.len = rtm->rtm_dst_len;
	e.type = rtm->rtm_type;
	if (tb[RTA_DST]) {
		if (mnl_attr_get_payload_len(tb[RTA_DST]) != af_len(e.af))
			return -EBADMSG;
		memcpy(e.addr, mnl_attr_get_payload(tb[RTA_DST]), af_len(e.af));
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		struct nl_localrt *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = e;
	return 0;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* Dumps both families' routes and keeps the local table's. */
static int locals_dump(struct cp_nl *nl)
{
	union nl_req req;
	struct nlmsghdr *nlh = req_start(&req, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	int err;

	rtm->rtm_family = AF_UNSPEC;
	rtm->rtm_table = RT_TABLE_LOCAL;
	nl->locals.n = 0;
	err = talk(nl, nlh, localrt_reply, &nl->locals);
	nl->locals.valid = !err;
	nl->locals.at = mono_ns();
	return err;
}

static int prefix_has(const struct nl_localrt *e, const __u8 *a)
{
	unsigned int full = e->len / 8, rest = e->len % 8;

	if (memcmp(e->addr, a, full))
		return 0;
	return !rest || !((e->addr[full] ^ a[full]) & (0xff00 >> rest));
}

/* The most specific local-table route that holds a. */
static int locals_find(const struct nl_locals *l, int af, const struct lb_addr *a)
{
	const __u8 *b = (const __u8 *)a->w;
	int best = -1, ans = CP_LOCAL_NO;

	for (size_t i = 0; i < l->n; i++) {
		const struct nl_localrt *e = &l->v[i];

		if (e->af != af || e->len <= best || !prefix_has(e, b))
			continue;
		best = e->len;
		ans = e->type == RTN_LOCAL ? CP_LOCAL_ADDR : CP_LOCAL_BROADCAST;
	}
	return ans;
}

/* Without the caller's handle (sluiced --check-config, a daemon without
 * a fast path) one of our own, kept for the process: no monitor empties
 * its table, so it is dumped again when older than NL_LOCALS_TTL_NS. */
static struct cp_nl *own_handle(void)
{
	static struct cp_nl *own;

	if (!own) {
		own = calloc(1, sizeof(*own));
		if (own && req_open(own)) {
			cp_nl_close(own);
			own = NULL;
		}
	}
	if (own && mono_ns() - own->locals.at > NL_LOCALS_TTL_NS)
		own->locals.valid = 0;
	return own;
}

int cp_nl_is_local(void *arg, __u8 family, const struct lb_addr *a)
{
	struct cp_nl *nl = arg ? arg : own_handle();
	int af = family_af(family);

	if (!af || !a || !nl)
		return CP_LOCAL_NO;
	if (!nl->locals.valid && locals_dump(nl)) {
		pr_debug("dumping the local routing table failed\n");
		return CP_LOCAL_NO;
	}
	return locals_find(&nl->locals, af, a);
}

static const char *rtn_name(__u8 type)
{
	switch (type) {
	case RTN_LOCAL: return "local";
	case RTN_BROADCAST: return "broadcast";
	case RTN_ANYCAST: return "anycast";
	case RTN_MULTICAST: return "multicast";
	case RTN_BLACKHOLE: return "blackhole";
	case RTN_UNREACHABLE: return "unreachable";
	case RTN_PROHIBIT: return "prohibit";
	case RTN_THROW: return "throw";
	case RTN_NAT: return "nat";
	default: return "not unicast";
	}
}

/* --- Neighbours -------------------------------------------------------- */

static int neigh_reply(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[NDA_MAX + 1] = { 0 };
	struct nl_attrs at = { tb, NDA_MAX };
	struct nl_neigh *n = arg;
	const struct ndmsg *ndm;

	if (nlh->nlmsg_type != RTM_NEWNEIGH || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ndm)))
		return -EBADMSG;
	ndm = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ndm), collect_attr, &at) < 0)
		return -EBADMSG;
	n->state = ndm->ndm_state;
	/* The kernel includes the address only in a valid state. */
	if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == sizeof(n->lladdr)) {
		memcpy(n->lladdr, mnl_attr_get_payload(tb[NDA_LLADDR]), sizeof(n->lladdr));
		n->has_lladdr = 1;
	}
	return 0;
}

/* One entry (neigh_get(), kernel 5.0+): -ENOENT when there is none. */
static int neigh_get(struct cp_nl *nl, int af, const void *addr, int ifindex,
		     struct nl_neigh *out)
{
	union nl_req req;
	struct nlmsghdr *nlh = req_start(&req, RTM_GETNEIGH, 0);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

	ndm->ndm_family = af;
	ndm->ndm_ifindex = ifindex;
	mnl_attr_put(nlh, NDA_DST, af_len(af), addr);
	memset(out, 0, sizeof(*out));
	return talk_get(nl, nlh, neigh_reply, out);
}

/* Has the kernel resolve addr on ifindex now (see the top of this file).
 * Never sent for an entry in a valid state: NTF_USE would also turn a
 * PERMANENT entry into a dynamic one (NEIGH_UPDATE_F_USE clears it). */
static int neigh_use(struct cp_nl *nl, int af, const void *addr, int ifindex)
{
	union nl_req req;
	struct nlmsghdr *nlh = req_start(&req, RTM_NEWNEIGH, NLM_F_CREATE);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

	ndm->ndm_family = af;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = NUD_NONE;
	ndm->ndm_flags = NTF_USE;
	mnl_attr_put(nlh, NDA_DST, af_len(af), addr);
	return talk(nl, nlh, NULL, NULL);
}

/* --- Next hops --------------------------------------------------------- */

static int link_query_memo(struct cp_nl *nl, int ifindex, struct cp_link *out)
{
	struct nl_memo *mm = &nl->memo;
	__u64 now = mono_ns();
	int err;

	if (mm->link_at && now - mm->link_at < NL_MEMO_NS && mm->link.ifindex == ifindex) {
		*out = mm->link;
		return 0;
	}
	err = link_query(nl, ifindex, NULL, out);
	mm->link_at = err ? 0 : now;
	if (!err)
		mm->link = *out;
	return err;
}

/* Only a resolved neighbour is reused: anything else leads to NTF_USE. */
static int neigh_get_memo(struct cp_nl *nl, int af, const void *addr, int ifindex,
			  struct nl_neigh *out)
{
	struct nl_memo *mm = &nl->memo;
	__u64 now = mono_ns();
	int err;

	if (mm->neigh_at && now - mm->neigh_at < NL_MEMO_NS && mm->neigh_af == af &&
	    mm->neigh_ifindex == ifindex && !memcmp(mm->neigh_addr, addr, af_len(af))) {
		*out = mm->neigh;
		return 0;
	}
	err = neigh_get(nl, af, addr, ifindex, out);
	mm->neigh_at = 0;
	if (!err && (out->state & CP_NUD_VALID) && out->has_lladdr) {
		mm->neigh_at = now;
		mm->neigh_af = af;
		mm->neigh_ifindex = ifindex;
		memcpy(mm->neigh_addr, addr, af_len(af));
		mm->neigh = *out;
	}
	return err;
}

/* What cp_nl_nexthop() found; a failure is described in say (empty:
 * nothing to tell the operator), *warn if it is worse than a missing
 * route. Debug details are logged here. */
static int nexthop_query(struct cp_nl *nl, int af, const struct lb_addr *dst, const char *dst_s,
			 struct cp_nexthop *out, char *say, size_t len, int *warn)
{
	char nh_s[INET6_ADDRSTRLEN], buf[192];
	struct cp_link link;
	struct nl_route rt;
	struct nl_neigh ne;
	const void *nh;
	int nh_af;
	int missing;
	int err;

	err = route_get(nl, af, dst, &rt);
	if (err) {
		snprintf(say, len, "no route: %s", why(nl, err, buf, sizeof(buf)));
		return err;
	}
	if (rt.type != RTN_UNICAST) {
		snprintf(say, len, "route is %s", rtn_name(rt.type));
		return -EHOSTUNREACH;
	}
	if (rt.oif <= 0) {
		snprintf(say, len, "route has no output interface");
		return -EHOSTUNREACH;
	}
	err = link_query_memo(nl, rt.oif, &link);
	if (err) {
		/* Gone between the two requests, typically. */
		snprintf(say, len, "egress ifindex %d: %s", rt.oif, why(nl, err, buf, sizeof(buf)));
		return err;
	}
	if (link.type != ARPHRD_ETHER) {
		snprintf(say, len, "egress %s is not Ethernet (ARPHRD %u): nothing to cache",
			 link.name, link.type);
		return -EOPNOTSUPP;
	}
	out->ifindex = rt.oif;
	out->mtu = rt.mtu ? rt.mtu : link.mtu;
	memcpy(out->smac, link.mac, sizeof(out->smac));
	if (!link.up || !link.oper_up) {
		/* Resolution cannot succeed now; the link coming up is a
		 * CP_NL_CHANGED_LINK event. */
		pr_debug("next hop of %s: egress %s is %s\n", dst_s, link.name,
			 link.up ? "without carrier" : "down");
		return 0;
	}

	nh_af = rt.gw_af ? rt.gw_af : af;
	nh = rt.gw_af ? (const void *)rt.gw : (const void *)dst;
	err = neigh_get_memo(nl, nh_af, nh, rt.oif, &ne);
	if (!err && (ne.state & CP_NUD_VALID) && ne.has_lladdr) {
		memcpy(out->dmac, ne.lladdr, sizeof(out->dmac));
		out->resolved = 1;
		return 0;
	}
	/* Named only from here on: the common case above formats nothing. */
	addr_str(nh_af, nh, nh_s);
	if (err && err != -ENOENT) {
		snprintf(say, len, "neighbour %s on %s: %s", nh_s, link.name,
			 why(nl, err, buf, sizeof(buf)));
		*warn = 1;
		return err;
	}
	if (!err && (ne.state & CP_NUD_VALID)) {
		/* NOARP without an address: nothing to resolve. */
		pr_debug("next hop of %s: neighbour %s on %s is %s without a MAC\n", dst_s, nh_s,
			 link.name, nud_name(ne.state));
		return 0;
	}
	/* INCOMPLETE: the kernel is already probing; asking again would
	 * only cost a round trip. */
	if (!err && ne.state == NUD_INCOMPLETE) {
		pr_debug("next hop of %s: neighbour %s on %s is being resolved\n", dst_s, nh_s,
			 link.name);
		return 0;
	}
	/* Missing, NONE or FAILED. */
	missing = err == -ENOENT;
	err = neigh_use(nl, nh_af, nh, rt.oif);
	if (err) {
		snprintf(say, len, "cannot start resolving neighbour %s on %s: %s", nh_s,
			 link.name, why(nl, err, buf, sizeof(buf)));
		*warn = 1;
		return err;
	}
	pr_debug("next hop of %s: neighbour %s on %s was %s: resolving\n", dst_s, nh_s,
		 link.name, missing ? "missing" : nud_name(ne.state));
	return 0;
}

/* One remembered message per destination. */
struct nh_said {
	int af;
	struct lb_addr dst;
	__u32 hash;		/* of the message last logged; 0: none stands */
};

static int said_cmp(const void *a, const void *b)
{
	const struct nh_said *x = a, *y = b;

	if (x->af != y->af)
		return x->af < y->af ? -1 : 1;
	return memcmp(&x->dst, &y->dst, sizeof(x->dst));
}

static __u32 say_hash(const char *say)
{
	__u32 h = 2166136261u;	/* FNV-1a */

	while (*say)
		h = (h ^ (unsigned char)*say++) * 16777619u;
	return h | 1;
}

/* Next hops are re-resolved every few seconds and on every neighbour
 * event: an unroutable backend would log the same line forever (2,000
 * lines/s with 10,000 of them). A message is logged when it differs from
 * the last one logged for that destination, and the recovery once. The
 * tree is keyed by the address in binary: formatting 100,000 of them per
 * round cost more than the lookups. */
static void say_once(struct cp_nl *nl, int af, const struct lb_addr *dst, const char *say,
		     int warn, int resolved)
{
	struct nh_said key = { .af = af, .dst = *dst }, *n = NULL, **found;
	__u32 h = say[0] ? say_hash(say) : 0;
	char dst_s[INET6_ADDRSTRLEN];

	found = h ? tsearch(&key, &nl->said, said_cmp) : tfind(&key, &nl->said, said_cmp);
	if (found && *found == &key) {
		/* New destination: the tree gets its own copy. Out of memory,
		 * the line is logged unremembered. */
		n = malloc(sizeof(*n));
		if (n) {
			*n = key;
			n->hash = 0;
			*found = n;
		} else {
			tdelete(&key, &nl->said, said_cmp);
		}
	} else if (found) {
		n = *found;
	}
	if ((n && n->hash == h) || (!h && !n))
		return;
	addr_str(af, dst, dst_s);
	if (h)
		lb_log(warn ? LB_LOG_WARN : LB_LOG_INFO, LB_LOG_PREFIX "next hop of %s: %s\n", dst_s, say);
	else
		pr_info("next hop of %s: %s\n", dst_s,
			resolved ? "resolved" : "no longer failing; being resolved");
	if (n)
		n->hash = h;
}

int cp_nl_nexthop(struct cp_nl *nl, __u8 family, const struct lb_addr *dst,
		  struct cp_nexthop *out)
{
	char dst_s[INET6_ADDRSTRLEN] = "", say[320] = "";
	int af, warn = 0, err;

	if (!nl || !dst || !out) {
		pr_warn("NULL argument\n");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	af = family_af(family);
	if (!af) {
		pr_warn("family %u is neither LB_FAMILY_V4 nor LB_FAMILY_V6\n",
			family);
		return -EAFNOSUPPORT;
	}
	/* Only debug lines name it here. */
	if (lb_log_get_level() >= LB_LOG_DEBUG)
		addr_str(af, dst, dst_s);
	err = nexthop_query(nl, af, dst, dst_s, out, say, sizeof(say), &warn);
	say_once(nl, af, dst, say, warn, out->resolved);
	return err;
}

int cp_nl_fill_backend(void *arg, struct lb_backend *b)
{
	struct cp_nl *nl = arg;
	struct cp_nexthop nh;
	int err;

	if (!nl || !b) {
		pr_warn("NULL argument\n");
		return -EINVAL;
	}
	err = cp_nl_nexthop(nl, b->family, &b->addr, &nh);
	/* mtu 0 would make the fast path call every packet too big. */
	if (err || !nh.resolved || !nh.mtu || nh.ifindex <= 0) {
		/* Zeroed, not left stale: no old MAC lingers in the map,
		 * and two pushes of the same unresolved backend are
		 * byte-identical. */
		b->flags &= ~LB_BACKEND_F_NH_VALID;
		b->nh_ifindex = 0;
		b->nh_mtu = 0;
		memset(b->nh_dmac, 0, sizeof(b->nh_dmac));
		memset(b->nh_smac, 0, sizeof(b->nh_smac));
		return 0;
	}
	b->nh_ifindex = (__u32)nh.ifindex;
	/* nh_mtu is 16 bits; no IP packet is larger anyway. */
	b->nh_mtu = nh.mtu > 0xffff ? 0xffff : (__u16)nh.mtu;
	memcpy(b->nh_dmac, nh.dmac, sizeof(b->nh_dmac));
	memcpy(b->nh_smac, nh.smac, sizeof(b->nh_smac));
	b->flags |= LB_BACKEND_F_NH_VALID;
	return 0;
}

/* --- Monitor ----------------------------------------------------------- */

int cp_nl_monitor_fd(struct cp_nl *nl)
{
	return nl ? mnl_socket_get_fd(nl->mon) : -EINVAL;
}

static int monitor_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct ndmsg *ndm;
	int *changed = data;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		*changed |= CP_NL_CHANGED_LINK;
		break;
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		/* The group also carries bridge FDB entries (AF_BRIDGE),
		 * which can be many and are never a next hop. */
		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ndm)))
			break;
		ndm = mnl_nlmsg_get_payload(nlh);
		if (ndm->ndm_family == AF_INET || ndm->ndm_family == AF_INET6)
			*changed |= CP_NL_CHANGED_NEIGH;
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		/* Our own announce routes are blackholes no next hop uses:
		 * announcing must not start a round of next-hop queries. */
		if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(struct rtmsg)) &&
		    ((const struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_protocol ==
			    CP_RTPROT_SLUICE)
			break;
		*changed |= CP_NL_CHANGED_ROUTE;
		break;
	}
	return MNL_CB_OK;
}

/* An address may have become local, or stopped being so. */
static void local_forget(struct cp_nl *nl, int changed)
{
	if (changed & ~CP_NL_CHANGED_NEIGH)
		nl->locals.valid = 0;
}

static int monitor_drain(struct cp_nl *nl, int *changed)
{
	ssize_t n;
	int err;
	int i;

	for (i = 0; i < NL_MONITOR_BATCH; i++) {
		n = mnl_socket_recvfrom(nl->mon, nl->buf, NL_RX_SIZE);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			/* ENOBUFS: the socket overflowed and notifications
			 * were dropped. ENOSPC: one was truncated. Either way
			 * the caller must assume anything changed. */
			if (errno == ENOBUFS || errno == ENOSPC) {
				*changed |= CP_NL_CHANGED_LOST;
				continue;
			}
			err = -errno;
			pr_warn("%s\n", strerror(-err));
			return err;
		}
		/* seq and portid 0: notifications carry the sender's. */
		if (mnl_cb_run(nl->buf, n, 0, 0, monitor_msg, changed) < 0)
			*changed |= CP_NL_CHANGED_LOST;
	}
	return 0;
}

int cp_nl_monitor_read(struct cp_nl *nl, int *changed)
{
	int err;

	if (!nl || !changed) {
		pr_warn("NULL argument\n");
		return -EINVAL;
	}
	*changed = 0;
	/* Something changed, or may have: nothing memoized is trusted. */
	memset(&nl->memo, 0, sizeof(nl->memo));
	err = monitor_drain(nl, changed);
	local_forget(nl, *changed);
	return err;
}

/* --- The announce table -------------------------------------------------- */

struct cp_nl *cp_nl_open_requests(void)
{
	struct cp_nl *nl = calloc(1, sizeof(*nl));

	if (nl && req_open(nl)) {
		cp_nl_close(nl);
		nl = NULL;
	}
	return nl;
}

/* Table ids above 255 only fit RTA_TABLE; rtm_table says RT_TABLE_UNSPEC
 * then. Both are set, as iproute2 does. */
static struct rtmsg *vip_route_msg(struct nlmsghdr *nlh, int af, __u32 table, __u8 type)
{
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = (__u8)af;
	rtm->rtm_dst_len = (__u8)(af_len(af) * 8);
	rtm->rtm_table = table < 256 ? (__u8)table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = CP_RTPROT_SLUICE;
	rtm->rtm_type = type;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	return rtm;
}

int cp_nl_vip_route(struct cp_nl *nl, int add, __u32 table, __u8 family,
		    const struct lb_addr *a, int oif)
{
	int af = family_af(family);
	union nl_req req;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if (!nl || !af || !table)
		return -EINVAL;
	/* REPLACE: a route of ours already there (a previous process's) is
	 * taken over, not an error. */
	nlh = req_start(&req, add ? RTM_NEWROUTE : RTM_DELROUTE,
			add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	/* A delete gives no type and matches any scope (RT_SCOPE_NOWHERE):
	 * our protocol only, blackhole or not. */
	rtm = vip_route_msg(nlh, af, table,
			    !add ? RTN_UNSPEC : oif > 0 ? RTN_UNICAST : RTN_BLACKHOLE);
	rtm->rtm_scope = !add ? RT_SCOPE_NOWHERE : oif > 0 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	mnl_attr_put(nlh, RTA_DST, af_len(af), a);
	if (add && oif > 0)
		mnl_attr_put_u32(nlh, RTA_OIF, (__u32)oif);
	return talk(nl, nlh, NULL, NULL);
}

struct vip_walk {
	__u32 table;
	cp_nl_route_fn fn;
	void *arg;
};

static int vip_route_reply(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	const struct vip_walk *w = arg;
	const struct rtmsg *rtm;
	struct lb_addr a = { { 0 } };
	__u32 table;
	int af;

	if (route_msg(nlh, &rtm, tb, &table))
		return -EBADMSG;
	af = rtm->rtm_family;
	if (table != w->table || rtm->rtm_protocol != CP_RTPROT_SLUICE ||
	    (rtm->rtm_type != RTN_BLACKHOLE && rtm->rtm_type != RTN_UNICAST) || !af_len(af) ||
	    rtm->rtm_dst_len != af_len(af) * 8 || !tb[RTA_DST] ||
	    mnl_attr_get_payload_len(tb[RTA_DST]) != af_len(af))
		return 0;
	memcpy(&a, mnl_attr_get_payload(tb[RTA_DST]), af_len(af));
	return w->fn(w->arg, af == AF_INET ? LB_FAMILY_V4 : LB_FAMILY_V6, &a);
}

int cp_nl_vip_routes(struct cp_nl *nl, __u32 table, cp_nl_route_fn fn, void *arg)
{
	static const int afs[] = { AF_INET, AF_INET6 };
	struct vip_walk w = { table, fn, arg };
	int err = 0;

	if (!nl || !fn)
		return -EINVAL;
	/* One dump per family: an AF_UNSPEC dump would walk every family's
	 * tables too, and the filter is ours either way (no strict check on
	 * a socket shared with other requests). */
	for (size_t i = 0; i < sizeof(afs) / sizeof(afs[0]) && !err; i++) {
		union nl_req req;
		struct nlmsghdr *nlh = req_start(&req, RTM_GETROUTE, NLM_F_DUMP);
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

		rtm->rtm_family = (__u8)afs[i];
		err = talk(nl, nlh, vip_route_reply, &w);
	}
	return err;
}
