// SPDX-License-Identifier: Apache-2.0
/*
 * model_health.c - a backend's health (model.h, struct cp_backend): the
 * state a VIP gives a new backend, sluice-healthd's view, the operator's
 * override and its expiry, healthd's heartbeat, and the last known health
 * given back to backends loaded after a restart.
 *
 * Rules, in the order they win (cp_backend_health):
 *   1. an override (health set), until its time is up or health clear;
 *   2. healthd's view (health report, and its heartbeat's corrections);
 *   3. the initial state: what the VIP chose when the backend was added
 *      (--initial-health; auto is down with a check, up without, as
 *      HAProxy's init-state), or what it last had before a restart.
 * A restart gives every backend its last known health: from the health
 * file (health_file.c) and from the fast path's own entry, the more
 * careful of the two, so a backend that was down is never put back in
 * the ring before a check says it is up.
 *
 * Not thread-safe: sluiced's control thread owns the model.
 */
#define LB_LOG_PREFIX "model: "

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#include "model_int.h"

enum cp_health cp_vip_initial_health(const struct cp_vip *v)
{
	if (v->spec.initial_health != CP_HEALTH_UNKNOWN)
		return v->spec.initial_health;
	return v->spec.check.type == CP_CHECK_NONE ? CP_HEALTH_UP : CP_HEALTH_DOWN;
}

int cp_health_saved_cmp(const void *a, const void *b)
{
	const struct cp_health_saved *x = a, *y = b;
	int c = memcmp(&x->vip, &y->vip, sizeof(x->vip));

	if (c)
		return c;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

/* A binary search: a restart adds every backend once, 100,000 of them
 * at most, each looked up here. */
static const struct cp_health_saved *saved_find(const struct cp_model *m, const struct cp_vip *v,
						const struct cp_backend *be)
{
	struct cp_health_saved key;

	if (!m->n_saved)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.vip = v->key;
	key.addr = be->addr;
	key.family = be->family;
	return bsearch(&key, m->saved, m->n_saved, sizeof(key), cp_health_saved_cmp);
}

/* The state the pinned fast path had for be (its adopted id and gen), or
 * LB_BACKEND_UNUSED when it had none. */
static __u8 adopted_state(const struct cp_model *m, const struct cp_vip *v,
			  const struct cp_backend *be)
{
	const struct lb_backend *a;

	if (!m->adopt || be->id >= m->n_adopt)
		return LB_BACKEND_UNUSED;
	a = &m->adopt[be->id];
	if (a->vip_id != v->id || a->gen != be->gen || a->family != be->family ||
	    memcmp(&a->addr, &be->addr, sizeof(a->addr)))
		return LB_BACKEND_UNUSED;
	return a->state;
}

static void restore_saved(struct cp_model *m, struct cp_backend *be,
			  const struct cp_health_saved *s)
{
	__u64 now = cp_model_now_ms(m);

	be->init = s->init == CP_HEALTH_DOWN ? CP_HEALTH_DOWN : CP_HEALTH_UP;
	be->health = s->health;
	be->latency_us = s->latency_us;
	memcpy(be->last_check, s->last_check, sizeof(be->last_check));
	be->last_check[sizeof(be->last_check) - 1] = '\0';
	if (s->override == CP_HEALTH_UNKNOWN ||
	    (s->override_until_ms && s->override_until_ms <= now))
		return;
	be->override = s->override;
	be->override_until_ms = s->override_until_ms;
	memcpy(be->override_reason, s->override_reason, sizeof(be->override_reason));
	be->override_reason[sizeof(be->override_reason) - 1] = '\0';
}

/* Whether the file had the backend down when it was written. */
static int saved_down(const struct cp_health_saved *s)
{
	if (!s)
		return 0;
	if (s->override != CP_HEALTH_UNKNOWN)
		return s->override == CP_HEALTH_DOWN;
	if (s->health != CP_HEALTH_UNKNOWN)
		return s->health == CP_HEALTH_DOWN;
	return s->init == CP_HEALTH_DOWN;
}

void model_health_added(struct cp_model *m, const struct cp_vip *v, struct cp_backend *be)
{
	const struct cp_health_saved *s = saved_find(m, v, be);
	__u8 fp = adopted_state(m, v, be);
	char a[64], k[96];

	be->init = (__u8)cp_vip_initial_health(v);
	if (s)
		restore_saved(m, be, s);
	else if (fp == LB_BACKEND_UP || fp == LB_BACKEND_DRAINING)
		be->init = CP_HEALTH_UP;	/* it was serving: keep it so */
	/* The fast path may know better than a file written a moment
	 * before a crash: a down entry the file does not explain (by an
	 * override since expired) wins, so nothing down goes back in. */
	if (fp == LB_BACKEND_DOWN && !saved_down(s) && cp_backend_health(be) != CP_HEALTH_DOWN &&
	    be->override == CP_HEALTH_UNKNOWN) {
		be->health = CP_HEALTH_UNKNOWN;
		be->init = CP_HEALTH_DOWN;
	}
	if (s || fp != LB_BACKEND_UNUSED)
		pr_debug("%s %s: health %s restored\n", model_fmt_vip(&v->key, k, sizeof(k)),
			 model_fmt_addr(&be->addr, be->family, a, sizeof(a)),
			 cp_backend_health(be) == CP_HEALTH_DOWN ? "down" : "up");
	m->health_changes++;
}

static void override_set(struct cp_model *m, struct cp_backend *be, const struct cp_request *r)
{
	be->override = r->health;
	be->override_until_ms = r->for_s ? cp_model_now_ms(m) + (__u64)r->for_s * 1000u : 0;
	if (r->fields & CP_F_REASON)
		snprintf(be->override_reason, sizeof(be->override_reason), "%s", r->reason);
	else
		be->override_reason[0] = '\0';
}

void model_health_change(struct cp_model *m, struct cp_backend *be, const struct cp_request *r)
{
	switch (r->op) {
	case CP_OP_HEALTH_REPORT:
		be->health = r->health;
		be->check_ms = cp_model_now_ms(m);
		if (r->fields & CP_F_LATENCY)
			be->latency_us = r->latency_us;
		if (r->fields & CP_F_REASON)
			snprintf(be->last_check, sizeof(be->last_check), "%s", r->reason);
		break;
	case CP_OP_HEALTH_SET:
		override_set(m, be, r);
		break;
	case CP_OP_HEALTH_CLEAR:
		be->override = CP_HEALTH_UNKNOWN;
		be->override_until_ms = 0;
		be->override_reason[0] = '\0';
		break;
	default:
		return;
	}
	m->health_changes++;
}

/* "check none: always up": a VIP that loses its check loses healthd's
 * word on its backends too, which nobody would ever correct. */
void model_health_vip_set(struct cp_model *m, struct cp_vip *v, const struct cp_vip_spec *old)
{
	if (old->check.type == CP_CHECK_NONE || v->spec.check.type != CP_CHECK_NONE)
		return;
	for (size_t j = 0; j < v->n_backends; j++) {
		v->backends[j].health = CP_HEALTH_UNKNOWN;
		v->backends[j].check_ms = 0;
		v->backends[j].init = (__u8)cp_vip_initial_health(v);
	}
	m->health_changes++;
}


void cp_model_healthd_heartbeat(struct cp_model *m)
{
	__u64 now = cp_model_now_ms(m);

	m->healthd.heartbeat_ms = now;
	m->healthd.heartbeats++;
	for (size_t i = 0; i < m->n_vips; i++) {
		struct cp_vip *v = &m->vips[i];

		if (v->spec.check.type == CP_CHECK_NONE)
			continue;
		for (size_t j = 0; j < v->n_backends; j++)
			if (v->backends[j].health != CP_HEALTH_UNKNOWN)
				v->backends[j].check_ms = now;
	}
}

__u64 cp_model_healthd_age_ms(const struct cp_model *m)
{
	__u64 now = cp_model_now_ms(m);
	__u64 last = m->healthd.heartbeat_ms ? m->healthd.heartbeat_ms : m->healthd.since_ms;

	return now > last ? now - last : 0;
}

int cp_model_healthd_up(const struct cp_model *m)
{
	return m->healthd.heartbeat_ms && cp_model_healthd_age_ms(m) <= m->healthd.timeout_ms;
}

int cp_model_has_checks(const struct cp_model *m)
{
	for (size_t i = 0; i < m->n_vips; i++)
		if (m->vips[i].spec.check.type != CP_CHECK_NONE)
			return 1;
	return 0;
}
