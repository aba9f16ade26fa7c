// SPDX-License-Identifier: Apache-2.0
/*
 * sluiced - the Sluice control plane over the XDP fast path: the daemon
 * core (daemon.c) with the XDP driver, whose programs and maps are pinned
 * under --pin-root so that a restart adopts them without losing a packet.
 */
#define LB_LOG_PREFIX "sluiced: "

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "daemon.h"
#include "driver_xdp.h"
#include "log.h"

#define SLUICED_PIN_ROOT "/sys/fs/bpf/sluice"

enum { OPT_PIN_ROOT = 256, OPT_XDP_GENERIC };

struct xdp_options {
	char pin_root[PATH_MAX];
	int generic;
};

static const struct option xdp_longopts[] = {
	{ "pin-root", required_argument, 0, OPT_PIN_ROOT },
	{ "xdp-generic", no_argument, 0, OPT_XDP_GENERIC },
	{ 0, 0, 0, 0 },
};

static int xdp_option(void *arg, int val, const char *optarg)
{
	struct xdp_options *x = arg;

	switch (val) {
	case OPT_PIN_ROOT:
		if (strlen(optarg) >= sizeof(x->pin_root))
			return -ENAMETOOLONG;
		strcpy(x->pin_root, optarg);
		return 0;
	case OPT_XDP_GENERIC:
		x->generic = 1;
		return 0;
	}
	return -EINVAL;
}

static int xdp_open(void *arg, struct cp_driver *drv, const struct lb_params *p, int *adopted)
{
	struct xdp_options *x = arg;
	int err;

	err = cp_driver_xdp_open(drv, x->pin_root, p, adopted);
	if (err) {
		pr_warn("cannot load the XDP fast path: %s\n", strerror(-err));
		return err;
	}
	if (x->generic)
		cp_driver_xdp_set_generic(drv, 1);
	pr_info("XDP fast path %s\n", *adopted ? "adopted from pins" : "loaded");
	return 0;
}

int main(int argc, char **argv)
{
	static struct xdp_options x = { .pin_root = SLUICED_PIN_ROOT };
	static const struct cp_fastpath fp = {
		.prog = "sluiced",
		.summary =
"The Sluice control plane: keeps the XDP load balancer's tables in step with\n"
"the desired state and serves sluicectl and sluice-healthd.\n",
		.options_help =
"      --pin-root DIR     bpffs directory of pinned programs and maps\n"
"                         (default " SLUICED_PIN_ROOT ")\n"
"      --xdp-generic      attach in generic (skb) mode; native is the default\n",
		.signals_help =
"exit and leave the XDP program forwarding (`sluicectl detach` removes it).\n",
		.exit_log = "forwarding stays in place",
		.options = xdp_longopts,
		.option = xdp_option,
		.open = xdp_open,
		.arg = &x,
	};

	return cp_daemon_main(argc, argv, &fp);
}
