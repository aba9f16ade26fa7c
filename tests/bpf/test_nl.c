/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_nl.c - controlplane/nl.c against the real kernel, in a private
 * network namespace (unshare(CLONE_NEWNET) first; nothing outside it is
 * touched and everything goes away with the process).
 *
 * Topology, built with `ip`:
 *
 *   this netns                               peer netns (a child process)
 *   sl0 02:00:00:00:00:01 mtu 9000  <-veth->  sl1 02:00:00:00:00:0b mtu 9000
 *       10.0.0.1/24 fd00::1/64                    10.0.0.4/24 fd00::4/64
 *   10.0.0.2 / fd00::2: PERMANENT neighbours 02:00:00:00:00:02 (no host)
 *   10.9/24, fd09::/64 via .2;  10.8/24, fd08::/64 via .2 mtu 1400
 *   10.7/24, fd07::/64 unreachable;  10.6/24 dev lo
 *   sl2 <-veth-> sl3, both down (link flags)
 *
 * 10.0.0.3 / fd00::3 exist nowhere (resolution starts and stays pending);
 * 10.0.0.4 / fd00::4 answer (resolution completes: the monitor reports
 * it and the next lookup is resolved). The peer lives in a forked child
 * that dies with us (PR_SET_PDEATHSIG), so no named netns is left behind
 * even if this process crashes.
 *
 * Expected values come from the topology above and from if_nametoindex(),
 * and neighbour states from `ip neigh`, not from the code under test.
 *
 * Needs root (CLONE_NEWNET, rtnetlink writes) and iproute2; exits 77 with
 * a reason otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "fwd.h"
#include "log.h"
#include "model.h"
#include "nl.h"

static struct cp_nl *nl;
static pid_t peer_pid = -1;

static const __u8 mac_sl0[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const __u8 mac_sl1[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const __u8 mac_gw[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const __u8 mac_zero[6];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "test_nl: `%s` failed (status %d)\n", cmd, rc);
	return rc;
}

/* Output of a shell command, at most len - 1 bytes. */
static void sh_out(char *out, size_t len, const char *cmd)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0;

	assert_non_null(f);
	while (n < len - 1) {
		size_t r = fread(out + n, 1, len - 1 - n, f);

		if (!r)
			break;
		n += r;
	}
	out[n] = '\0';
	pclose(f);
}

static struct lb_addr v4(const char *s)
{
	struct lb_addr a = { 0 };

	assert_int_equal(inet_pton(AF_INET, s, &a.w[0]), 1);
	return a;
}

static struct lb_addr v6(const char *s)
{
	struct lb_addr a = { 0 };

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static int ifindex(const char *name)
{
	int i = (int)if_nametoindex(name);

	assert_true(i > 0);
	return i;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads the monitor until it has nothing queued; returns the bits seen. */
static int monitor_drain(void)
{
	int all = 0, changed;

	do {
		assert_int_equal(cp_nl_monitor_read(nl, &changed), 0);
		all |= changed;
	} while (changed);
	return all;
}

/* Waits up to timeout_s for the monitor to report any of the bits. */
static int monitor_wait(int bits, double timeout_s)
{
	double end = now_s() + timeout_s;
	struct pollfd p = { .fd = cp_nl_monitor_fd(nl), .events = POLLIN };
	int seen = 0, changed;

	while (!(seen & bits) && now_s() < end) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		assert_int_equal(cp_nl_monitor_read(nl, &changed), 0);
		seen |= changed;
	}
	return seen;
}

/* --- Peer namespace ------------------------------------------------------ */

/* Forks the peer: it enters a new netns, waits for sl1 to be moved in,
 * configures it and sleeps until killed (or until we die). */
static int peer_start(void)
{
	int c2p[2], p2c[2];
	pid_t parent = getpid();
	char b;

	if (pipe(c2p) || pipe(p2c))
		return -1;
	peer_pid = fork();
	if (peer_pid < 0)
		return -1;
	if (peer_pid == 0) {
		close(c2p[0]);
		close(p2c[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || unshare(CLONE_NEWNET))
			_exit(1);
		b = 'r';
		if (write(c2p[1], &b, 1) != 1 || read(p2c[0], &b, 1) != 1)
			_exit(1);
		b = system("ip link set lo up && ip link set sl1 up && "
			   "ip addr add 10.0.0.4/24 dev sl1 && "
			   "ip -6 addr add fd00::4/64 dev sl1 nodad") ? 'f' : 'k';
		if (write(c2p[1], &b, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(c2p[1]);
	close(p2c[0]);
	if (read(c2p[0], &b, 1) != 1 || b != 'r')
		goto fail;
	if (sh("ip link set sl1 netns %d", (int)peer_pid))
		goto fail;
	b = 'g';
	if (write(p2c[1], &b, 1) != 1 || read(c2p[0], &b, 1) != 1 || b != 'k')
		goto fail;
	close(c2p[0]);
	close(p2c[1]);
	return 0;
fail:
	fprintf(stderr, "test_nl: peer namespace set-up failed\n");
	close(c2p[0]);
	close(p2c[1]);
	return -1;
}

static void peer_stop(void)
{
	if (peer_pid > 0) {
		kill(peer_pid, SIGKILL);
		waitpid(peer_pid, NULL, 0);
		peer_pid = -1;
	}
}

static int setup(void **state)
{
	double end;
	char out[256];

	(void)state;
	if (sh("ip link set lo up") ||
	    sh("ip link add sl0 address 02:00:00:00:00:01 mtu 9000 type veth "
	       "peer name sl1 address 02:00:00:00:00:0b mtu 9000") ||
	    peer_start() ||
	    sh("ip link set sl0 up") ||
	    sh("ip addr add 10.0.0.1/24 dev sl0") ||
	    sh("ip -6 addr add fd00::1/64 dev sl0 nodad") ||
	    sh("ip neigh add 10.0.0.2 lladdr 02:00:00:00:00:02 dev sl0 nud permanent") ||
	    sh("ip -6 neigh add fd00::2 lladdr 02:00:00:00:00:02 dev sl0 nud permanent") ||
	    sh("ip route add 10.9.0.0/24 via 10.0.0.2") ||
	    sh("ip route add 10.8.0.0/24 via 10.0.0.2 mtu 1400") ||
	    sh("ip route add unreachable 10.7.0.0/24") ||
	    sh("ip route add 10.6.0.0/24 dev lo") ||
	    sh("ip -6 route add fd09::/64 via fd00::2") ||
	    sh("ip -6 route add fd08::/64 via fd00::2 mtu 1400") ||
	    sh("ip -6 route add unreachable fd07::/64") ||
	    sh("ip link add sl2 address 02:00:00:00:00:21 type veth "
	       "peer name sl3 address 02:00:00:00:00:31"))
		return -1;

	/* veth carrier follows the peer; give it a moment. */
	end = now_s() + 5;
	do {
		sh_out(out, sizeof(out), "ip -o link show sl0");
		if (strstr(out, "LOWER_UP"))
			break;
		usleep(20000);
	} while (now_s() < end);

	nl = cp_nl_open();
	if (!nl) {
		fprintf(stderr, "test_nl: cp_nl_open: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cp_nl_close(nl);
	nl = NULL;
	peer_stop();
	return 0;
}

/* --- Links ------------------------------------------------------------- */

static void test_link_lo(void **state)
{
	struct cp_link l;

	(void)state;
	assert_int_equal(cp_nl_link_get(nl, "lo", &l), 0);
	assert_int_equal(l.ifindex, ifindex("lo"));
	assert_string_equal(l.name, "lo");
	assert_memory_equal(l.mac, mac_zero, 6);
	assert_int_equal(l.mtu, 65536);
	assert_int_equal(l.type, ARPHRD_LOOPBACK);
	assert_int_equal(l.up, 1);
	/* operstate UNKNOWN, yet running: IFF_RUNNING says so */
	assert_int_equal(l.oper_up, 1);
}

static void test_link_veth(void **state)
{
	struct cp_link l;

	(void)state;
	assert_int_equal(cp_nl_link_get(nl, "sl0", &l), 0);
	assert_int_equal(l.ifindex, ifindex("sl0"));
	assert_string_equal(l.name, "sl0");
	assert_memory_equal(l.mac, mac_sl0, 6);
	assert_int_equal(l.mtu, 9000);
	assert_int_equal(l.type, ARPHRD_ETHER);
	assert_int_equal(l.up, 1);
	assert_int_equal(l.oper_up, 1);
}

/* A down link is reported, not refused: the caller decides. */
static void test_link_down(void **state)
{
	struct cp_link l;

	(void)state;
	assert_int_equal(cp_nl_link_get(nl, "sl2", &l), 0);
	assert_int_equal(l.ifindex, ifindex("sl2"));
	assert_int_equal(l.up, 0);
	assert_int_equal(l.oper_up, 0);
	assert_int_equal(l.mtu, 1500);

	/* up, but its peer is down: no carrier */
	assert_int_equal(sh("ip link set sl2 up"), 0);
	assert_int_equal(cp_nl_link_get(nl, "sl2", &l), 0);
	assert_int_equal(l.up, 1);
	assert_int_equal(l.oper_up, 0);
}

static void test_link_missing(void **state)
{
	struct cp_link l;

	(void)state;
	assert_int_equal(cp_nl_link_get(nl, "nosuch0", &l), -ENODEV);
	assert_int_equal(cp_nl_link_get(nl, "", &l), -EINVAL);
	assert_int_equal(cp_nl_link_get(nl, "abcdefghijklmnop", &l), -EINVAL);	/* 16 bytes */
	assert_int_equal(cp_nl_link_get(nl, NULL, &l), -EINVAL);
}

/* --- Next hops: resolved ----------------------------------------------- */

static void expect_nh(__u8 family, struct lb_addr dst, const __u8 dmac[6], __u32 mtu)
{
	struct cp_nexthop nh;

	assert_int_equal(cp_nl_nexthop(nl, family, &dst, &nh), 0);
	assert_int_equal(nh.resolved, 1);
	assert_int_equal(nh.ifindex, ifindex("sl0"));
	assert_int_equal(nh.mtu, mtu);
	assert_memory_equal(nh.dmac, dmac, 6);
	assert_memory_equal(nh.smac, mac_sl0, 6);
}

static void test_nh_direct_v4(void **state)
{
	(void)state;
	expect_nh(LB_FAMILY_V4, v4("10.0.0.2"), mac_gw, 9000);
}

static void test_nh_gateway_v4(void **state)
{
	(void)state;
	expect_nh(LB_FAMILY_V4, v4("10.9.0.7"), mac_gw, 9000);
}

static void test_nh_route_mtu_v4(void **state)
{
	(void)state;
	expect_nh(LB_FAMILY_V4, v4("10.8.0.7"), mac_gw, 1400);
}

static void test_nh_direct_v6(void **state)
{
	(void)state;
	expect_nh(LB_FAMILY_V6, v6("fd00::2"), mac_gw, 9000);
}

static void test_nh_gateway_v6(void **state)
{
	(void)state;
	expect_nh(LB_FAMILY_V6, v6("fd09::7"), mac_gw, 9000);
}

static void test_nh_route_mtu_v6(void **state)
{
	(void)state;
	expect_nh(LB_FAMILY_V6, v6("fd08::7"), mac_gw, 1400);
}

/* --- Next hops: resolution started ------------------------------------- */

/* No entry before; after the call resolved = 0 and the kernel is resolving
 * (INCOMPLETE, or FAILED once its probes ran out on a slow machine). */
static void expect_resolving(__u8 family, const char *addr, const char *ip_flag)
{
	struct lb_addr dst = family == LB_FAMILY_V4 ? v4(addr) : v6(addr);
	struct cp_nexthop nh;
	char cmd[128], out[256];

	snprintf(cmd, sizeof(cmd), "ip %s neigh show %s dev sl0", ip_flag, addr);
	sh_out(out, sizeof(out), cmd);
	assert_string_equal(out, "");

	assert_int_equal(cp_nl_nexthop(nl, family, &dst, &nh), 0);
	assert_int_equal(nh.resolved, 0);
	assert_int_equal(nh.ifindex, ifindex("sl0"));
	assert_int_equal(nh.mtu, 9000);
	assert_memory_equal(nh.smac, mac_sl0, 6);
	assert_memory_equal(nh.dmac, mac_zero, 6);

	sh_out(out, sizeof(out), cmd);
	print_message("after cp_nl_nexthop: %s", out);
	assert_true(strstr(out, "INCOMPLETE") || strstr(out, "FAILED"));

	/* Asking again while it is pending is fine and still pending. */
	assert_int_equal(cp_nl_nexthop(nl, family, &dst, &nh), 0);
	assert_int_equal(nh.resolved, 0);
}

static void test_nh_unresolved_v4(void **state)
{
	(void)state;
	expect_resolving(LB_FAMILY_V4, "10.0.0.3", "-4");
}

static void test_nh_unresolved_v6(void **state)
{
	(void)state;
	expect_resolving(LB_FAMILY_V6, "fd00::3", "-6");
}

/* The whole loop against a live peer: the first lookup starts resolution,
 * the monitor reports the neighbour change, the next lookup is resolved
 * with the peer's MAC. */
static void expect_resolves(__u8 family, const char *addr, const char *ip_flag)
{
	struct lb_addr dst = family == LB_FAMILY_V4 ? v4(addr) : v6(addr);
	struct cp_nexthop nh;
	char cmd[128], out[256];
	double end;
	int seen = 0;

	snprintf(cmd, sizeof(cmd), "ip %s neigh show %s dev sl0", ip_flag, addr);
	sh_out(out, sizeof(out), cmd);
	assert_string_equal(out, "");
	monitor_drain();

	assert_int_equal(cp_nl_nexthop(nl, family, &dst, &nh), 0);
	assert_int_equal(nh.resolved, 0);

	end = now_s() + 5;
	while (!nh.resolved && now_s() < end) {
		seen |= monitor_wait(CP_NL_CHANGED_NEIGH, 0.5);
		assert_int_equal(cp_nl_nexthop(nl, family, &dst, &nh), 0);
	}
	assert_true(seen & CP_NL_CHANGED_NEIGH);
	assert_int_equal(nh.resolved, 1);
	assert_memory_equal(nh.dmac, mac_sl1, 6);
	assert_memory_equal(nh.smac, mac_sl0, 6);
	assert_int_equal(nh.ifindex, ifindex("sl0"));
	assert_int_equal(nh.mtu, 9000);
}

static void test_nh_resolves_v4(void **state)
{
	(void)state;
	expect_resolves(LB_FAMILY_V4, "10.0.0.4", "-4");
}

static void test_nh_resolves_v6(void **state)
{
	(void)state;
	expect_resolves(LB_FAMILY_V6, "fd00::4", "-6");
}

/* A route out of a link without carrier: not resolvable now, no error. */
static void test_nh_no_carrier(void **state)
{
	struct lb_addr dst = v4("10.3.0.2");
	struct cp_nexthop nh;

	(void)state;
	assert_int_equal(sh("ip addr add 10.3.0.1/24 dev sl2"), 0);	/* up, peer down */
	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V4, &dst, &nh), 0);
	assert_int_equal(nh.resolved, 0);
	assert_int_equal(nh.ifindex, ifindex("sl2"));
}

/* --- Next hops: errors -------------------------------------------------- */

static void test_nh_unreachable(void **state)
{
	struct lb_addr a;
	struct cp_nexthop nh;

	(void)state;
	a = v4("192.0.2.1");	/* no route at all: no default route here */
	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V4, &a, &nh), -ENETUNREACH);
	assert_int_equal(nh.resolved, 0);
	a = v4("10.7.0.1");	/* unreachable route */
	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V4, &a, &nh), -EHOSTUNREACH);
	a = v6("2001:db8::1");
	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V6, &a, &nh), -ENETUNREACH);
	a = v6("fd07::1");
	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V6, &a, &nh), -EHOSTUNREACH);
	assert_int_equal(nh.resolved, 0);
	a = v4("10.0.0.1");	/* our own address: a local route */
	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V4, &a, &nh), -EHOSTUNREACH);
	a = v4("10.6.0.1");	/* out of lo: no Ethernet next hop */
	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V4, &a, &nh), -EOPNOTSUPP);
	assert_int_equal(nh.resolved, 0);
}

/* Lines logged about one destination, and the last of them. */
static struct {
	const char *about;	/* "nl: next hop of 10.5.0.1:" */
	int lines;
	char last[256];
} said;

static void said_sink(int level, const char *fmt, va_list ap, void *arg)
{
	char line[256];

	(void)level;
	(void)arg;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (strncmp(line, said.about, strlen(said.about)))
		return;
	said.lines++;
	snprintf(said.last, sizeof(said.last), "%s", line);
}

static void lookup_10_5(int want_err)
{
	struct lb_addr a = v4("10.5.0.1");
	struct cp_nexthop nh;

	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V4, &a, &nh), want_err);
}

/* Next hops are looked up again every few seconds: a failure is logged
 * when it starts or changes, and the recovery once, not on every lookup. */
static void test_nh_logged_once(void **state)
{
	(void)state;
	said.about = "nl: next hop of 10.5.0.1:";
	said.lines = 0;
	lb_log_set_sink(said_sink, NULL);
	for (int i = 0; i < 3; i++)
		lookup_10_5(-ENETUNREACH);
	assert_int_equal(said.lines, 1);
	assert_non_null(strstr(said.last, strerror(ENETUNREACH)));

	assert_int_equal(sh("ip route add 10.5.0.0/24 via 10.0.0.2"), 0);
	lookup_10_5(0);
	lookup_10_5(0);
	assert_int_equal(said.lines, 2);
	assert_non_null(strstr(said.last, "resolved"));

	assert_int_equal(sh("ip route del 10.5.0.0/24"), 0);
	lookup_10_5(-ENETUNREACH);
	lookup_10_5(-ENETUNREACH);
	assert_int_equal(said.lines, 3);
	assert_non_null(strstr(said.last, "no route"));

	/* Another failure is another message. */
	assert_int_equal(sh("ip route add unreachable 10.5.0.0/24"), 0);
	lookup_10_5(-EHOSTUNREACH);
	lookup_10_5(-EHOSTUNREACH);
	assert_int_equal(said.lines, 4);
	assert_non_null(strstr(said.last, strerror(EHOSTUNREACH)));
	assert_int_equal(sh("ip route del unreachable 10.5.0.0/24"), 0);
	lb_log_reset_sink();
}

static void test_nh_bad_args(void **state)
{
	struct lb_addr a = v4("10.0.0.2");
	struct cp_nexthop nh;

	(void)state;
	assert_int_equal(cp_nl_nexthop(nl, 0, &a, &nh), -EAFNOSUPPORT);
	assert_int_equal(cp_nl_nexthop(nl, 2 /* AF_INET, not LB_FAMILY_V4 */, &a, &nh),
			 -EAFNOSUPPORT);
	assert_int_equal(cp_nl_nexthop(nl, LB_FAMILY_V4, NULL, &nh), -EINVAL);
	assert_int_equal(cp_nl_nexthop(NULL, LB_FAMILY_V4, &a, &nh), -EINVAL);
}

/* --- cp_nl_fill_backend ------------------------------------------------- */

static struct lb_backend backend(__u8 family, struct lb_addr a)
{
	struct lb_backend b = { 0 };

	b.addr = a;
	b.family = family;
	b.state = LB_BACKEND_UP;
	b.gen = 7;
	return b;
}

/* A stale cache: NH_VALID with next-hop fields from some earlier push. */
static void make_stale(struct lb_backend *b)
{
	b->flags = LB_BACKEND_F_NH_VALID;
	b->nh_ifindex = 99;
	b->nh_mtu = 1234;
	memset(b->nh_dmac, 0xee, 6);
	memset(b->nh_smac, 0xdd, 6);
}

static void expect_cleared(struct lb_backend *b)
{
	assert_int_equal(b->flags & LB_BACKEND_F_NH_VALID, 0);
	assert_int_equal(b->nh_ifindex, 0);
	assert_int_equal(b->nh_mtu, 0);
	assert_memory_equal(b->nh_dmac, mac_zero, 6);
	assert_memory_equal(b->nh_smac, mac_zero, 6);
}

static void test_fill_backend(void **state)
{
	cp_nexthop_fn fn = cp_nl_fill_backend;	/* matches model.h's type */
	struct lb_backend b;

	(void)state;
	b = backend(LB_FAMILY_V4, v4("10.0.0.2"));
	assert_int_equal(fn(nl, &b), 0);
	assert_int_equal(b.flags, LB_BACKEND_F_NH_VALID);
	assert_int_equal(b.nh_ifindex, ifindex("sl0"));
	assert_int_equal(b.nh_mtu, 9000);
	assert_memory_equal(b.nh_dmac, mac_gw, 6);
	assert_memory_equal(b.nh_smac, mac_sl0, 6);
	/* identity untouched */
	assert_int_equal(b.family, LB_FAMILY_V4);
	assert_int_equal(b.state, LB_BACKEND_UP);
	assert_int_equal(b.gen, 7);
	assert_int_equal(b.addr.w[0], v4("10.0.0.2").w[0]);

	b = backend(LB_FAMILY_V4, v4("10.8.0.9"));	/* route mtu */
	assert_int_equal(fn(nl, &b), 0);
	assert_int_equal(b.flags, LB_BACKEND_F_NH_VALID);
	assert_int_equal(b.nh_mtu, 1400);

	b = backend(LB_FAMILY_V6, v6("fd09::9"));
	assert_int_equal(fn(nl, &b), 0);
	assert_int_equal(b.flags, LB_BACKEND_F_NH_VALID);
	assert_memory_equal(b.nh_dmac, mac_gw, 6);

	/* unreachable: the fast path falls back to bpf_fib_lookup */
	b = backend(LB_FAMILY_V4, v4("192.0.2.1"));
	make_stale(&b);
	assert_int_equal(fn(nl, &b), 0);
	expect_cleared(&b);
	assert_int_equal(b.gen, 7);

	/* neighbour missing: cleared, resolution started */
	b = backend(LB_FAMILY_V4, v4("10.0.0.5"));
	make_stale(&b);
	assert_int_equal(fn(nl, &b), 0);
	expect_cleared(&b);

	/* no family */
	b = backend(0, v4("10.0.0.2"));
	make_stale(&b);
	assert_int_equal(fn(nl, &b), 0);
	expect_cleared(&b);

	assert_int_equal(fn(NULL, &b), -EINVAL);
	assert_int_equal(fn(nl, NULL), -EINVAL);
}

/* --- Monitor ------------------------------------------------------------ */

static void test_monitor(void **state)
{
	double t0;
	int changed;

	(void)state;
	assert_true(cp_nl_monitor_fd(nl) >= 0);

	monitor_drain();
	assert_int_equal(sh("ip neigh replace 10.0.0.9 lladdr 02:00:00:00:00:09 dev sl0 "
			    "nud permanent"), 0);
	assert_true(monitor_wait(CP_NL_CHANGED_NEIGH, 2) & CP_NL_CHANGED_NEIGH);

	monitor_drain();
	assert_int_equal(sh("ip route add 10.4.0.0/24 via 10.0.0.2"), 0);
	assert_true(monitor_wait(CP_NL_CHANGED_ROUTE, 2) & CP_NL_CHANGED_ROUTE);

	monitor_drain();
	assert_int_equal(sh("ip -6 route add fd04::/64 via fd00::2"), 0);
	assert_true(monitor_wait(CP_NL_CHANGED_ROUTE, 2) & CP_NL_CHANGED_ROUTE);

	monitor_drain();
	assert_int_equal(sh("ip link set sl2 mtu 1400"), 0);
	assert_true(monitor_wait(CP_NL_CHANGED_LINK, 2) & CP_NL_CHANGED_LINK);

	/* Nothing queued: returns at once (a late neighbour timer may still
	 * report something, so only the not-blocking part is asserted). */
	monitor_drain();
	t0 = now_s();
	assert_int_equal(cp_nl_monitor_read(nl, &changed), 0);
	assert_true(now_s() - t0 < 0.5);

	assert_int_equal(cp_nl_monitor_read(nl, NULL), -EINVAL);
}

/* --- Is it ours? --------------------------------------------------------- */

/* The hook that refuses backends on the balancer: local and broadcast
 * routes are this host's, a neighbour or a route via lo is not; the
 * cached answer follows an address added and removed. */
static int is_local(struct cp_nl *h, __u8 family, const char *addr)
{
	struct lb_addr a = family == LB_FAMILY_V4 ? v4(addr) : v6(addr);

	return cp_nl_is_local(h, family, &a);
}

static void test_is_local(void **state)
{
	(void)state;
	assert_int_equal(is_local(nl, LB_FAMILY_V4, "10.0.0.1"), CP_LOCAL_ADDR);
	assert_int_equal(is_local(nl, LB_FAMILY_V4, "10.0.0.255"), CP_LOCAL_BROADCAST);
	assert_int_equal(is_local(nl, LB_FAMILY_V4, "10.0.0.4"), CP_LOCAL_NO);
	assert_int_equal(is_local(nl, LB_FAMILY_V4, "10.6.0.5"), CP_LOCAL_NO);
	assert_int_equal(is_local(NULL, LB_FAMILY_V6, "fd00::1"), CP_LOCAL_ADDR);
	assert_int_equal(is_local(nl, LB_FAMILY_V6, "fd00::1"), CP_LOCAL_ADDR);
	assert_int_equal(is_local(nl, LB_FAMILY_V6, "fd00::4"), CP_LOCAL_NO);

	/* Cached, and forgotten when the monitor sees a route change. */
	assert_int_equal(is_local(nl, LB_FAMILY_V4, "10.0.0.77"), CP_LOCAL_NO);
	monitor_drain();
	assert_int_equal(sh("ip addr add 10.0.0.77/32 dev sl0"), 0);
	assert_true(monitor_wait(CP_NL_CHANGED_ROUTE, 2) & CP_NL_CHANGED_ROUTE);
	assert_int_equal(is_local(nl, LB_FAMILY_V4, "10.0.0.77"), CP_LOCAL_ADDR);
	monitor_drain();
	assert_int_equal(sh("ip addr del 10.0.0.77/32 dev sl0"), 0);
	assert_true(monitor_wait(CP_NL_CHANGED_ROUTE, 2) & CP_NL_CHANGED_ROUTE);
	assert_int_equal(is_local(nl, LB_FAMILY_V4, "10.0.0.77"), CP_LOCAL_NO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_lo),
		cmocka_unit_test(test_link_veth),
		cmocka_unit_test(test_link_down),
		cmocka_unit_test(test_link_missing),
		cmocka_unit_test(test_nh_direct_v4),
		cmocka_unit_test(test_nh_gateway_v4),
		cmocka_unit_test(test_nh_route_mtu_v4),
		cmocka_unit_test(test_nh_direct_v6),
		cmocka_unit_test(test_nh_gateway_v6),
		cmocka_unit_test(test_nh_route_mtu_v6),
		cmocka_unit_test(test_nh_unresolved_v4),
		cmocka_unit_test(test_nh_unresolved_v6),
		cmocka_unit_test(test_nh_resolves_v4),
		cmocka_unit_test(test_nh_resolves_v6),
		cmocka_unit_test(test_nh_no_carrier),
		cmocka_unit_test(test_nh_unreachable),
		cmocka_unit_test(test_nh_logged_once),
		cmocka_unit_test(test_nh_bad_args),
		cmocka_unit_test(test_fill_backend),
		cmocka_unit_test(test_monitor),
		cmocka_unit_test(test_is_local),
	};

	if (geteuid() != 0) {
		printf("SKIP: needs root (a private network namespace and rtnetlink writes)\n");
		return 77;
	}
	if (system("ip -V >/dev/null 2>&1") != 0) {
		printf("SKIP: iproute2 (`ip`) is not installed\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 77;
	}
	lb_log_set_level(LB_LOG_DEBUG);
	return cmocka_run_group_tests(tests, setup, teardown);
}
