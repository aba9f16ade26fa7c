// SPDX-License-Identifier: Apache-2.0
/*
 * handlers.c - what sluiced answers on its API socket (sluiced_handle,
 * daemon.h): one function per request kind, over the model (changes) and
 * the driver (counters, flows). Runs on the control thread only.
 */
#define LB_LOG_PREFIX "api: "

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_int.h"
#include "log.h"
#include "maglev.h"
#include "request_json.h"
#include "state.h"

/* Changes one batch request may carry: it must fit the API's 1 MiB. */
#define SLUICED_BATCH_MAX 20000

/* A VIP's settings are rendered from the request that would create it,
 * so a listing names and spells them as `vip add` and the API take them. */
static json_t *vip_json(const struct cp_vip *v)
{
	struct cp_request r;
	json_t *o;

	cp_model_vip_request(v, &r);
	o = json_pack("{s:i, s:i}", "id", (json_int_t)v->id, "backends",
		      (json_int_t)v->n_backends);
	if (o && cp_request_fields_to_json(&r, CP_F_VIP | CP_F_AFFINITY | CP_F_RING |
						   CP_F_INITIAL_HEALTH |
						   cp_check_fields(v->spec.check.type), o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char *backend_state_name(const struct cp_backend *b)
{
	if (cp_backend_health(b) == CP_HEALTH_DOWN)
		return "down";
	if (b->draining || b->weight == 0)
		return "draining";
	return "up";
}

/* Seconds, rounded up, from now until the model-clock time t. */
static json_int_t secs_until(const struct cp_model *m, __u64 t)
{
	__u64 now = cp_model_now_ms(m);

	return t > now ? (json_int_t)((t - now + 999) / 1000) : 0;
}

/* What decides the state: the operator's override, healthd's check, or
 * the initial (or restored) state while healthd has said nothing. */
static const char *health_source(const struct cp_backend *b)
{
	if (b->override != CP_HEALTH_UNKNOWN)
		return "override";
	return b->health != CP_HEALTH_UNKNOWN ? "check" : "initial";
}

/* healthd's view (health, check_age_ms since it last confirmed it) and
 * the operator's override (override, override_expires_s: 0 never,
 * override_reason) side by side; state is what they make of it. */
static void health_json(const struct cp_model *m, const struct cp_backend *b, json_t *o)
{
	const char *health = cp_health_name(b->health);

	json_object_set_new(o, "health", json_string(health ? health : "unknown"));
	json_object_set_new(o, "health_source", json_string(health_source(b)));
	if (b->check_ms)
		json_object_set_new(o, "check_age_ms",
				    json_integer((json_int_t)(cp_model_now_ms(m) - b->check_ms)));
	if (b->override == CP_HEALTH_UNKNOWN)
		return;
	json_object_set_new(o, "override", json_string(cp_health_name(b->override)));
	json_object_set_new(o, "override_expires_s",
			    json_integer(b->override_until_ms ? secs_until(m, b->override_until_ms) :
								0));
	json_object_set_new(o, "override_reason", json_string(b->override_reason));
}

static json_t *backend_json(const struct cp_model *m, const struct cp_vip *v,
			    const struct cp_backend *b)
{
	struct cp_request r;
	json_t *o;

	cp_model_backend_request(v, b, &r);
	o = json_pack("{s:i, s:s, s:i, s:s}", "id", (json_int_t)b->id,
		      "state", backend_state_name(b),
		      "latency_us", (json_int_t)b->latency_us, "last_check", b->last_check);
	if (o)
		health_json(m, b, o);
	if (o && cp_request_fields_to_json(&r, CP_F_VIP | CP_F_BACKEND | CP_F_WEIGHT |
						   CP_F_DRAIN, o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* VIPs the request names (one) or all of them. */
static int vip_selected(const struct cp_request *r, const struct cp_vip *v)
{
	return !(r->fields & CP_F_VIP) || !memcmp(&r->vip, &v->key, sizeof(v->key));
}

static json_t *do_vip_list(struct sluiced *d, const struct cp_request *r)
{
	json_t *reply = cp_reply_ok(), *arr = json_array();

	for (size_t i = 0; i < d->model.n_vips; i++) {
		const struct cp_vip *v = &d->model.vips[i];
		json_t *o;
		char digest[24];

		if (!vip_selected(r, v))
			continue;
		o = vip_json(v);
		snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)v->digest);
		json_object_set_new(o, "digest", json_string(digest));
		json_array_append_new(arr, o);
	}
	json_object_set_new(reply, "vips", arr);
	return reply;
}

static json_t *do_backend_list(struct sluiced *d, const struct cp_request *r)
{
	json_t *reply = cp_reply_ok(), *arr = json_array();

	for (size_t i = 0; i < d->model.n_vips; i++) {
		const struct cp_vip *v = &d->model.vips[i];

		if (!vip_selected(r, v))
			continue;
		for (size_t j = 0; j < v->n_backends; j++)
			json_array_append_new(arr, backend_json(&d->model, v, &v->backends[j]));
	}
	json_object_set_new(reply, "backends", arr);
	return reply;
}

static json_t *do_health_targets(struct sluiced *d)
{
	json_t *reply = cp_reply_ok(), *arr = json_array();

	for (size_t i = 0; i < d->model.n_vips; i++) {
		const struct cp_vip *v = &d->model.vips[i];

		struct cp_check c = v->spec.check;

		if (c.type == CP_CHECK_NONE)
			continue;
		/* Port 0 means the VIP's own port, which healthd cannot know. */
		if (!c.port)
			c.port = ntohs(v->key.port);
		for (size_t j = 0; j < v->n_backends; j++) {
			json_t *t = backend_json(&d->model, v, &v->backends[j]);

			if (!t || cp_check_to_json(&c, t)) {
				json_decref(t);
				continue;
			}
			json_array_append_new(arr, t);
		}
	}
	json_object_set_new(reply, "targets", arr);
	return reply;
}

/* healthd's heartbeat: it is alive, its view stands confirmed, and the
 * answer is the targets with sluiced's view of each, so that healthd
 * corrects at once whatever differs from its own (a report by hand). */
static json_t *do_heartbeat(struct sluiced *d)
{
	if (!cp_model_healthd_up(&d->model) && d->model.healthd.heartbeats)
		pr_info("sluice-healthd is back (heartbeat after %llu ms)\n",
			(unsigned long long)cp_model_healthd_age_ms(&d->model));
	cp_model_healthd_heartbeat(&d->model);
	d->healthd_silent = 0;
	return do_health_targets(d);
}

static json_t *stats_pair(__u64 packets, __u64 bytes)
{
	return json_pack("{s:I, s:I}", "packets", (json_int_t)packets, "bytes", (json_int_t)bytes);
}

/* {"drop_fib": n, ...}: the drops after this backend was picked, by
 * reason (fwd.h LB_BACKEND_DROP_FIRST). */
static json_t *backend_drops_json(const struct lb_backend_stats *bs)
{
	static const char *const names[LB_R_MAX] = LB_REASON_NAMES;
	json_t *o = json_object();

	for (int i = 0; i < LB_BACKEND_DROPS; i++)
		json_object_set_new(o, names[LB_BACKEND_DROP_FIRST + i],
				    json_integer((json_int_t)bs->dropped[i]));
	return o;
}

static json_t *do_stats(struct sluiced *d, const struct cp_request *r)
{
	const struct cp_driver_ops *ops = d->driver.ops;
	static const char *const names[LB_R_MAX] = LB_REASON_NAMES;
	struct lb_reason_stats rs[LB_R_MAX];
	json_t *reply = cp_reply_ok(), *vips = json_array(), *reasons = json_object();

	for (size_t i = 0; i < d->model.n_vips; i++) {
		const struct cp_vip *v = &d->model.vips[i];
		struct lb_vip_stats vs = { 0 };
		json_t *o, *bes = json_array();
		char buf[96];

		if (!vip_selected(r, v))
			continue;
		if (ops)
			ops->vip_stats(d->driver.ctx, v->id, &vs);
		o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "vip",
			      cp_format_vip(&v->key, buf, sizeof(buf)),
			      "packets", (json_int_t)vs.packets, "bytes", (json_int_t)vs.bytes,
			      "new_flows", (json_int_t)vs.new_flows,
			      "ring_picks", (json_int_t)vs.ring_picks,
			      "flow_misses", (json_int_t)vs.flow_misses,
			      "flow_evictions", (json_int_t)vs.flow_evictions);
		for (size_t j = 0; j < v->n_backends; j++) {
			struct lb_backend_stats bs = { 0 };
			json_t *b = backend_json(&d->model, v, &v->backends[j]);

			if (ops)
				ops->backend_stats(d->driver.ctx, v->backends[j].id, &bs);
			json_object_update_new(b, json_pack("{s:I, s:I}", "packets",
							(json_int_t)bs.packets, "bytes",
							(json_int_t)bs.bytes));
			json_object_set_new(b, "dropped", backend_drops_json(&bs));
			json_array_append_new(bes, b);
		}
		json_object_set_new(o, "backends", bes);
		json_array_append_new(vips, o);
	}
	memset(rs, 0, sizeof(rs));
	if (ops)
		ops->reason_stats(d->driver.ctx, rs);
	for (int i = 0; i < LB_R_MAX; i++)
		json_object_set_new(reasons, names[i], stats_pair(rs[i].packets, rs[i].bytes));
	json_object_set_new(reply, "vips", vips);
	json_object_set_new(reply, "reasons", reasons);
	return reply;
}

struct flows_walk {
	const struct cp_vip *vip;
	json_t *arr;
	size_t n;
};

#define CP_FLOWS_MAX 100000	/* a reply stays bounded */

static int flow_cb(const struct lb_flow_key *k, __u32 backend_id, __u32 idle_ms, void *arg)
{
	struct flows_walk *w = arg;
	const struct cp_vip *v = w->vip;
	char src[64], be[64] = "?";

	if (k->family != v->key.family || k->proto != v->key.proto ||
	    memcmp(&k->dst, &v->key.addr, sizeof(k->dst)) ||
	    (v->key.port && k->dport != v->key.port))
		return 0;
	for (size_t j = 0; j < v->n_backends; j++)
		if (v->backends[j].id == backend_id)
			cp_format_addr(&v->backends[j].addr, v->backends[j].family, be, sizeof(be));
	json_array_append_new(w->arr, json_pack("{s:s, s:i, s:i, s:s, s:i}",
		"client", cp_format_addr(&k->src, k->family, src, sizeof(src)),
		"sport", (json_int_t)ntohs(k->sport), "dport", (json_int_t)ntohs(k->dport),
		"backend", be, "idle_ms", (json_int_t)idle_ms));
	return ++w->n >= CP_FLOWS_MAX;
}

static json_t *do_flows(struct sluiced *d, const struct cp_request *r, struct cp_error *e)
{
	struct flows_walk w = { .vip = cp_model_vip_named(&d->model, &r->vip, -ENOENT, e) };
	json_t *reply;

	if (!w.vip)
		return NULL;
	w.arr = json_array();
	if (d->driver.ops)
		d->driver.ops->flow_foreach(d->driver.ctx, flow_cb, &w);
	reply = cp_reply_ok();
	json_object_set_new(reply, "flows", w.arr);
	json_object_set_new(reply, "truncated", json_boolean(w.n >= CP_FLOWS_MAX));
	return reply;
}

static json_t *do_ring_digest(struct sluiced *d, const struct cp_request *r, struct cp_error *e)
{
	const struct cp_vip *v = cp_model_vip_named(&d->model, &r->vip, -ENOENT, e);
	json_t *reply;
	char digest[24], buf[96];
	size_t usable = 0;

	if (!v)
		return NULL;
	for (size_t j = 0; j < v->n_backends; j++)
		usable += !strcmp(backend_state_name(&v->backends[j]), "up");
	snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)v->digest);
	reply = cp_reply_ok();
	json_object_update_new(reply, json_pack("{s:s, s:s, s:i, s:i, s:b}",
		"vip", cp_format_vip(&v->key, buf, sizeof(buf)), "digest", digest,
		"ring", (json_int_t)v->spec.ring_size, "usable_backends", (json_int_t)usable,
		"ring_too_small", lb_maglev_ring_too_small(v->spec.ring_size, usable)));
	return reply;
}

static json_t *do_save(struct sluiced *d, struct cp_error *e)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *reply;

	if (!f || cp_model_save(&d->model, f)) {
		if (f)
			fclose(f);
		free(text);
		cp_error_set(e, -ENOMEM, "save", "cannot format the state");
		return NULL;
	}
	fclose(f);
	reply = cp_reply_ok();
	json_object_set_new(reply, "config", json_string(text));
	free(text);
	return reply;
}

/* The API's clients now, its limits, and why it closed clients. */
static json_t *api_json(const struct cp_api *api)
{
	struct cp_api_limits lim;
	struct cp_api_stats st;
	json_t *o;

	cp_api_get_limits(api, &lim);
	cp_api_stats(api, &st);
	o = json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "clients", (json_int_t)st.clients, "max_clients", (json_int_t)st.max_clients,
		      "idle_timeout_ms", (json_int_t)lim.idle_ms,
		      "stall_timeout_ms", (json_int_t)lim.stall_ms,
		      "accepted", (json_int_t)st.accepted, "closed_idle", (json_int_t)st.idle,
		      "closed_stalled", (json_int_t)st.stalled, "evicted", (json_int_t)st.evicted,
		      "refused", (json_int_t)st.refused, "denied", (json_int_t)st.denied,
		      "read_only_refused", (json_int_t)st.read_only);
	if (o && lim.read_group)
		json_object_set_new(o, "read_group", json_string(lim.read_group_name));
	return o;
}

/* healthd as status shows it: "up"; "silent" (no heartbeat within the
 * bound: health stays as last known); "waiting" (none yet, and sluiced
 * started within the bound); "none" (never heard, and no VIP has a
 * check that would need it). */
static const char *healthd_state(const struct cp_model *m)
{
	if (cp_model_healthd_up(m))
		return "up";
	if (m->healthd.heartbeats)
		return "silent";
	if (!cp_model_has_checks(m))
		return "none";
	return cp_model_healthd_age_ms(m) <= m->healthd.timeout_ms ? "waiting" : "silent";
}

static json_t *healthd_json(const struct cp_model *m)
{
	const char *st = healthd_state(m);

	return json_pack("{s:s, s:I, s:I}", "healthd", st, "healthd_heartbeat_age_ms",
			 (json_int_t)cp_model_healthd_age_ms(m), "healthd_timeout_ms",
			 (json_int_t)m->healthd.timeout_ms);
}

/* The addresses whose routes are in the announce table now. */
static json_t *announced_json(const struct sluiced *d)
{
	json_t *a = json_array();
	char buf[64];

	for (size_t i = 0; a && i < d->announce.n_have; i++)
		json_array_append_new(a, json_string(cp_ann_addr_format(&d->announce.have[i], buf,
									 sizeof(buf))));
	return a;
}

/* The node's settings as `node set` spells them; interfaces always (an
 * empty list when there are none), TTLs always. */
static json_t *do_status(struct sluiced *d)
{
	const struct cp_model_stats *s = &d->model.stats;
	json_t *reply = cp_reply_ok();
	struct cp_request node;

	cp_model_node_request(&d->model.node, &node);
	json_object_update_new(reply, healthd_json(&d->model));
	json_object_update_new(reply, json_pack(
		"{s:s, s:s, s:b, s:i, s:I, s:I, s:I, s:I, s:s, s:s, s:[]}",
		"version", SLUICE_VERSION,
		"driver", d->driver.ops ? d->driver.ops->name : "none",
		"adopted", d->adopted, "vips", (json_int_t)d->model.n_vips,
		"changes_applied", (json_int_t)s->changes_applied,
		"changes_rejected", (json_int_t)s->changes_rejected,
		"ring_rebuilds", (json_int_t)s->ring_rebuilds,
		"last_rebuild_ns", (json_int_t)s->last_rebuild_ns,
		"state_file", d->state_path, "socket", d->socket_path,
		cp_field_of(CP_F_INTERFACES)->api));
	json_object_update_new(reply, json_pack("{s:s, s:s, s:b}", "config_file", d->config_path,
						"last_apply", d->last_apply[0] ? d->last_apply : "none",
						"loading", d->loading));
	cp_request_fields_to_json(&node, CP_F_FLOW_TTL_TCP | CP_F_FLOW_TTL_UDP |
					 CP_F_ANNOUNCE_TABLE | CP_F_DRAINED |
					 (node.fields & CP_F_INTERFACES), reply);
	json_object_set_new(reply, "announced", announced_json(d));
	sluiced_persist_status(d, reply);
	if (d->api)
		json_object_set_new(reply, "api", api_json(d->api));
	return reply;
}

/* An operator's override is logged: it outweighs healthd, and the log
 * is where one looks for why a healthy backend takes no traffic. */
static void log_override(const struct cp_request *r)
{
	char k[96], a[64], dur[32] = "until cleared";

	if (r->op != CP_OP_HEALTH_SET && r->op != CP_OP_HEALTH_CLEAR)
		return;
	cp_format_vip(&r->vip, k, sizeof(k));
	cp_format_addr(&r->backend, r->backend_family, a, sizeof(a));
	if (r->op == CP_OP_HEALTH_CLEAR) {
		pr_info("%s %s: override cleared\n", k, a);
		return;
	}
	if (r->for_s)
		snprintf(dur, sizeof(dur), "for %u s", r->for_s);
	pr_info("%s %s: override %s %s%s%s\n", k, a, cp_health_name(r->health), dur,
		r->reason[0] ? ": " : "", r->reason);
}

/* validate -> model -> rings -> fast path (cp_model_apply), then persist,
 * then answer. A change that is live but could not be persisted is
 * reported as such: the operator must know the file is behind. */
/* Interfaces a node set removed are detached by it; one added again is
 * attached anew: neither is `sluicectl detach`'s any more. */
static void forget_detached(struct sluiced *d)
{
	int k = 0;

	for (int i = 0; i < d->n_detached; i++) {
		int listed = 0;

		for (int j = 0; j < d->model.node.n_interfaces; j++)
			listed |= !strcmp(d->model.node.interfaces[j], d->detached[i]);
		if (listed)
			memmove(d->detached[k++], d->detached[i], IF_NAMESIZE);
	}
	d->n_detached = k;
}

static json_t *do_change(struct sluiced *d, const struct cp_request *r, struct cp_error *e)
{
	if (cp_model_apply(&d->model, r, e))
		return NULL;
	if (r->op == CP_OP_NODE_SET && (r->fields & CP_F_INTERFACES))
		forget_detached(d);
	log_override(r);
	/* Health is not desired state: the health file keeps it. */
	if (!cp_op_def(r->op)->change)
		return cp_reply_ok();
	return sluiced_reply_applied(d, sluiced_persist(d, e), e);
}

static int detached_has(const struct sluiced *d, const char *ifn)
{
	for (int i = 0; i < d->n_detached; i++)
		if (!strcmp(d->detached[i], ifn))
			return 1;
	return 0;
}

static json_t *do_detach(struct sluiced *d, const struct cp_request *r, struct cp_error *e)
{
	int err = 0;

	if (!d->driver.ops) {
		cp_error_set(e, -ENODEV, "driver", "no fast path attached");
		return NULL;
	}
	for (int i = 0; i < d->model.node.n_interfaces && !err; i++) {
		const char *ifn = d->model.node.interfaces[i];
		int named = 0;

		for (int j = 0; j < r->n_interfaces; j++)
			named |= !strcmp(r->interfaces[j], ifn);
		if (r->n_interfaces && !named)
			continue;
		err = d->driver.ops->detach(d->driver.ctx, ifn);
		if (err)
			cp_error_set(e, err, "interface", "%s: cannot detach: %s", ifn,
				     strerror(-err));
		else if (!detached_has(d, ifn) && d->n_detached < CP_MAX_INTERFACES)
			snprintf(d->detached[d->n_detached++], IF_NAMESIZE, "%s", ifn);
	}
	/* With the last interface the fast path stops forwarding: every
	 * route of the announce table goes (sluiced_announce). */
	d->announce_pokes++;
	return err ? NULL : cp_reply_ok();
}

/* node drain / undrain: node set --drained, which the state file keeps. */
static json_t *do_drain(struct sluiced *d, const struct cp_request *r, struct cp_error *e)
{
	int drain = r->op == CP_OP_NODE_DRAIN;
	struct cp_request set;

	cp_request_init(&set, CP_OP_NODE_SET);
	set.drained = (__u8)drain;
	set.fields = CP_F_DRAINED;
	if (d->model.node.drained == drain)
		return cp_reply_ok();
	if (cp_model_apply(&d->model, &set, e))
		return NULL;
	d->announce_pokes++;
	pr_info("node %s: %s\n", drain ? "drained" : "undrained",
		drain ? "every VIP route withdrawn, forwarding goes on"
		      : "VIPs in service announced again");
	return sluiced_reply_applied(d, sluiced_persist(d, e), e);
}

/* apply FILE, diff FILE, reload: a whole configuration (apply.c). diff
 * is a dry run that shows every change, the guard's refusal included. */
static json_t *do_apply(struct sluiced *d, const struct cp_request *r, struct cp_error *e)
{
	unsigned int flags = (r->dry_run ? SLUICED_APPLY_DRY_RUN : 0) |
			     (r->force ? SLUICED_APPLY_FORCE : 0);

	if (r->op == CP_OP_DIFF)
		return sluiced_apply(d, r->path, SLUICED_APPLY_DRY_RUN | SLUICED_APPLY_FORCE,
				     "diff");
	if (r->op == CP_OP_APPLY)
		return sluiced_apply(d, r->path, flags, r->dry_run ? "apply --dry-run" : "apply");
	if (!d->config_path[0]) {
		cp_error_set(e, -ENOENT, "config", "sluiced runs without a config file");
		return NULL;
	}
	return sluiced_apply(d, d->config_path, flags, r->dry_run ? "reload --dry-run" : "reload");
}

static json_t *dispatch(struct sluiced *d, const struct cp_request *r, struct cp_error *e)
{
	if (cp_op_def(r->op)->change || r->op == CP_OP_HEALTH_REPORT || r->op == CP_OP_HEALTH_SET ||
	    r->op == CP_OP_HEALTH_CLEAR)
		return do_change(d, r, e);
	if (r->op == CP_OP_APPLY || r->op == CP_OP_DIFF || r->op == CP_OP_RELOAD)
		return do_apply(d, r, e);
	/* Naming a VIP that does not exist is an error, not an empty list:
	 * scripts test for a VIP with `vip list VIP`. */
	if ((r->op == CP_OP_VIP_LIST || r->op == CP_OP_BACKEND_LIST || r->op == CP_OP_STATS) &&
	    (r->fields & CP_F_VIP) && !cp_model_vip_named(&d->model, &r->vip, -ENOENT, e))
		return NULL;
	switch (r->op) {
	case CP_OP_VIP_LIST:
		return do_vip_list(d, r);
	case CP_OP_BACKEND_LIST:
		return do_backend_list(d, r);
	case CP_OP_HEALTH_TARGETS:
		return do_health_targets(d);
	case CP_OP_HEALTH_HEARTBEAT:
		return do_heartbeat(d);
	case CP_OP_STATS:
		return do_stats(d, r);
	case CP_OP_FLOWS:
		return do_flows(d, r, e);
	case CP_OP_RING_DIGEST:
		return do_ring_digest(d, r, e);
	case CP_OP_SAVE:
		return do_save(d, e);
	case CP_OP_STATUS:
		return do_status(d);
	case CP_OP_DETACH:
		return do_detach(d, r, e);
	case CP_OP_NODE_DRAIN:
	case CP_OP_NODE_UNDRAIN:
		return do_drain(d, r, e);
	default:
		cp_error_set(e, -EINVAL, "op", "not a request sluiced serves");
		return NULL;
	}
}

/* e's message prefixed with which request of a batch it is about. */
static void batch_error(struct cp_error *e, size_t i, size_t n)
{
	char msg[sizeof(e->msg) + 48];

	if (i >= n)
		return;
	snprintf(msg, sizeof(msg), "request %zu of %zu: %s", i + 1, n, e->msg);
	snprintf(e->msg, sizeof(e->msg), "%.*s", (int)sizeof(e->msg) - 1, msg);
}

/* batch: {"requests": [change, ...]}: VIP and backend changes validated
 * whole and applied as one batch (cp_model_apply_many), persisted once. */
static json_t *do_batch(struct sluiced *d, const json_t *items, struct cp_error *e)
{
	size_t n = json_array_size(items), i, bad = 0;
	struct cp_request *rs;
	json_t *reply = NULL;
	int err = 0;

	if (!json_is_array(items) || !n || n > SLUICED_BATCH_MAX) {
		cp_error_set(e, -EINVAL, "requests", "a batch is an array of 1 to %d changes",
			     SLUICED_BATCH_MAX);
		return NULL;
	}
	rs = calloc(n, sizeof(*rs));
	if (!rs) {
		cp_error_set(e, -ENOMEM, "requests", "out of memory");
		return NULL;
	}
	for (i = 0; i < n && !err; i++) {
		err = cp_request_from_json(json_array_get(items, i), &rs[i], e);
		bad = i;
	}
	if (!err)
		err = cp_model_apply_many(&d->model, rs, n, &bad, e);
	if (err) {
		batch_error(e, bad, n);
	} else {
		struct cp_error pe = { "", "" };

		reply = sluiced_reply_applied(d, sluiced_persist(d, &pe), &pe);
		json_object_set_new(reply, "changes", json_integer((json_int_t)n));
	}
	free(rs);
	return reply;
}

json_t *sluiced_handle(void *arg, json_t *req, const struct ucred *peer)
{
	struct sluiced *d = arg;
	struct cp_request r;
	struct cp_error e = { "", "" };
	json_t *reply, *items;

	(void)peer;
	/* A batch carries its requests in an array no field row describes:
	 * the rest of it is decoded as any request. */
	items = json_incref(json_object_get(req, "requests"));
	json_object_del(req, "requests");
	if (cp_request_from_json(req, &r, &e)) {
		json_decref(items);
		return cp_reply_error(&e);
	}
	if (items && r.op != CP_OP_BATCH) {
		json_decref(items);
		cp_error_set(&e, -EINVAL, "requests", "only a batch carries requests");
		return cp_reply_error(&e);
	}
	reply = r.op == CP_OP_BATCH ? do_batch(d, items, &e) : dispatch(d, &r, &e);
	json_decref(items);
	/* Before the answer: once sluicectl returns, the routes are as the
	 * change wants them (a write that fails is retried, never refused). */
	sluiced_announce(d, 0);
	if (!reply) {
		pr_info("%s rejected: %s: %s\n", cp_op_name(r.op), e.field, e.msg);
		return cp_reply_error(&e);
	}
	return reply;
}
