/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * action.h - what becomes of a frame counted under each reason (fwd.h
 * LB_R_*), written once for both fast paths: the XDP program maps the
 * action to its XDP_* code, the DPDK worker's caller acts on it as is.
 */
#ifndef SLUICE_LIB_ACTION_H
#define SLUICE_LIB_ACTION_H

#include "compat.h"
#include "fwd.h"

enum lb_action {
	LB_ACT_TX,		/* out the port it came in on */
	LB_ACT_REDIRECT,	/* out the port the pipeline chose */
	LB_ACT_PASS,		/* the kernel's (DPDK: the exception port) */
	LB_ACT_DROP,
};

/* Any int: a reason that is not one of LB_R_PASS_* or a sent frame's
 * drops. Inline, as both fast paths ask once per frame. */
static __always_inline enum lb_action lb_reason_action(int reason)
{
	switch (reason) {
	case LB_R_FWD_TX:
	case LB_R_ICMP_ECHO_REPLY:
	case LB_R_ICMP_TOO_BIG_SENT:
		return LB_ACT_TX;
	case LB_R_FWD_REDIRECT:
		return LB_ACT_REDIRECT;
	case LB_R_PASS_NOT_IP:
	case LB_R_PASS_NOT_VIP:
	case LB_R_PASS_ICMP_OTHER:
		return LB_ACT_PASS;
	default:
		return LB_ACT_DROP;
	}
}

#endif /* SLUICE_LIB_ACTION_H */
