/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.h - the control-plane daemon core shared by sluiced (XDP) and
 * sluice-dpdk: options, state and config loading, the API socket,
 * netlink next hops, metrics and the event loop, over whichever fast path
 * the program brings (struct cp_fastpath).
 */
#ifndef SLUICE_CP_DAEMON_H
#define SLUICE_CP_DAEMON_H

#include <getopt.h>
#include "driver.h"

struct cp_fastpath {
	const char *prog;		/* in usage text and option errors */
	const char *summary;		/* usage lines after "Usage:" */
	const char *options_help;	/* usage lines of the options below */
	const char *signals_help;	/* what SIGTERM leaves behind */
	const char *exit_log;		/* logged on SIGTERM/SIGINT, e.g.
					 * "forwarding stays in place" */
	/* Fast-path options, {0}-terminated, val >= 256; or NULL. */
	const struct option *options;
	/* One of those options; 0 or -EINVAL (the core prints the usage). */
	int (*option)(void *arg, int val, const char *optarg);
	/* Opens the fast path with the sizes the options asked for (p's
	 * zero fields: defaults). *adopted: it took over a running fast
	 * path's tables (ids and gens must be read back). 0 or -errno,
	 * logged. */
	int (*open)(void *arg, struct cp_driver *drv, const struct lb_params *p, int *adopted);
	/* Nonzero when the fast path puts every backend behind one
	 * configured next hop (sluice-dpdk --gateway-mac): the kernel's
	 * neighbours are neither asked nor followed. NULL: they are. */
	int (*fixed_nexthop)(void *arg);
	int no_daemon;			/* threads already run: never fork */
	/* Forwarding ends with the process (sluice-dpdk): the announce
	 * table's routes are withdrawn on every exit, SIGTERM included,
	 * where sluiced's XDP program keeps forwarding and leaves them. */
	int withdraw_on_exit;
	/* The kernel interface that lives as long as the forwarding does
	 * (sluice-dpdk's exception TAP): announced routes point out of it,
	 * so the kernel removes them if the process dies, a crash included.
	 * NULL or 0: blackhole routes, which outlive the process (XDP's
	 * forwarding does too). */
	int (*announce_ifindex)(void *arg);
	void *arg;
};

/* Runs the daemon; returns the process exit code. */
int cp_daemon_main(int argc, char **argv, const struct cp_fastpath *fp);

#endif /* SLUICE_CP_DAEMON_H */
