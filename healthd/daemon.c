// SPDX-License-Identifier: Apache-2.0
/*
 * daemon.c - following sluiced's targets and reporting to it (daemon.h).
 *
 * Targets are kept in an array sorted by (vip, backend), so a refresh is
 * a merge of two sorted lists: O(n log n) for thousands of targets. A
 * target whose check spec or address changed is restarted (its state is
 * unknown again; sluiced keeps the last health it was told until the next
 * transition).
 *
 * Reports: a transition marks its target dirty; dirty targets are sent
 * after the loop's events. When a call fails, sluiced is considered away:
 * dirty marks are dropped (the full view sent on reconnect carries them)
 * and the next call is retried after 100 ms, 200 ms, ... up to 5 s.
 *
 * Heartbeat: the periodic call is health.heartbeat, which tells sluiced
 * healthd is alive and answers the targets with sluiced's view of each.
 * A target whose known state differs from that view (a report sent by
 * hand, one lost in a restart) is marked dirty and re-reported at once,
 * so each heartbeat re-confirms healthd's full view. A sluiced without
 * the op gets health.targets, as before.
 */
#define LB_LOG_PREFIX "healthd: "

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "daemon.h"
#include "log.h"
#include "request_json.h"

struct hd_target {
	char vip[80];
	char backend[64];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct cp_check check;
	struct hc_target *t;	/* NULL while only parsed */
	int dirty;		/* a transition not yet reported */
};

struct healthd {
	struct hd_config cfg;
	char *socket;
	struct hc_engine *engine;
	struct hd_target **targets;	/* sorted by key */
	size_t n;
	size_t n_dirty;
	int connected;			/* last call succeeded */
	int no_heartbeat;		/* sluiced refused health.heartbeat */
	int ever_connected;
	int backoff_ms;			/* 0 while connected */
	uint64_t next_api_us;		/* next health.targets */
};

static int key_cmp(const struct hd_target *a, const struct hd_target *b)
{
	int c = strcmp(a->vip, b->vip);

	return c ? c : strcmp(a->backend, b->backend);
}

static int key_qsort(const void *a, const void *b)
{
	return key_cmp(*(struct hd_target *const *)a, *(struct hd_target *const *)b);
}

static void mark_dirty(struct healthd *d, struct hd_target *ht)
{
	if (!ht->dirty) {
		ht->dirty = 1;
		d->n_dirty++;
	}
}

static void on_transition(void *arg, struct hc_target *t, enum hc_state state,
			  uint32_t latency_us, const char *reason)
{
	struct healthd *d = arg;
	struct hd_target *ht = hc_target_user(t);

	pr_info("%s %s is %s (%s, %u us)\n", ht->vip, ht->backend,
		hc_state_name(state), reason, latency_us);
	mark_dirty(d, ht);
}

static void on_result(void *arg, struct hc_target *t, int ok, uint32_t latency_us,
		      const char *reason)
{
	struct hd_target *ht = hc_target_user(t);

	(void)arg;
	if (lb_log_get_level() >= LB_LOG_DEBUG)
		pr_debug("%s %s check %s: %s (%u us)\n", ht->vip, ht->backend,
			 ok ? "ok" : "failed", reason, latency_us);
}

struct healthd *hd_new(const struct hd_config *cfg)
{
	struct hc_callbacks cb = { .on_result = on_result, .on_transition = on_transition };
	struct healthd *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->cfg = *cfg;
	d->socket = strdup(cfg->socket ? cfg->socket : CP_API_DEFAULT_SOCKET);
	cb.arg = d;
	d->engine = hc_engine_new(&cb);
	if (!d->socket || !d->engine) {
		int err = errno;

		hd_free(d);
		errno = err;
		return NULL;
	}
	if (d->cfg.refresh_ms <= 0)
		d->cfg.refresh_ms = 2000;
	if (d->cfg.api_timeout_ms <= 0)
		d->cfg.api_timeout_ms = 1000;
	if (d->cfg.backoff_min_ms <= 0)
		d->cfg.backoff_min_ms = 100;
	if (d->cfg.backoff_max_ms <= 0)
		d->cfg.backoff_max_ms = 5000;
	d->next_api_us = hc_now_us();
	return d;
}

static void target_free(struct healthd *d, struct hd_target *ht)
{
	if (ht->t)
		hc_target_del(d->engine, ht->t);
	if (ht->dirty)
		d->n_dirty--;
	free(ht);
}

void hd_free(struct healthd *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		target_free(d, d->targets[i]);
	free(d->targets);
	hc_engine_free(d->engine);
	free(d->socket);
	free(d);
}

int hd_connected(const struct healthd *d)
{
	return d->connected;
}

size_t hd_target_count(const struct healthd *d)
{
	return d->n;
}

static struct hd_target *find(const struct healthd *d, const char *vip, const char *backend)
{
	struct hd_target key, *kp = &key, **hit;

	snprintf(key.vip, sizeof(key.vip), "%s", vip);
	snprintf(key.backend, sizeof(key.backend), "%s", backend);
	if (!d->n)
		return NULL;
	hit = bsearch(&kp, d->targets, d->n, sizeof(*d->targets), key_qsort);
	return hit ? *hit : NULL;
}

enum hc_state hd_target_state(const struct healthd *d, const char *vip, const char *backend)
{
	struct hd_target *ht = find(d, vip, backend);

	return ht && ht->t ? hc_target_state(ht->t) : HC_UNKNOWN;
}

/* ---- talking to sluiced ---------------------------------------------- */

static void went_away(struct healthd *d, const char *what, int err)
{
	uint64_t now = hc_now_us();

	if (d->connected || !d->backoff_ms)
		pr_warn("%s on %s: %s; checking on, retrying\n", what, d->socket,
			strerror(err));
	d->connected = 0;
	d->no_heartbeat = 0;	/* the sluiced that comes back may take it */
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : d->cfg.backoff_min_ms;
	if (d->backoff_ms > d->cfg.backoff_max_ms)
		d->backoff_ms = d->cfg.backoff_max_ms;
	d->next_api_us = now + (uint64_t)d->backoff_ms * 1000u;
	/* The full view re-sent on reconnect carries these. */
	for (size_t i = 0; i < d->n && d->n_dirty; i++)
		if (d->targets[i]->dirty) {
			d->targets[i]->dirty = 0;
			d->n_dirty--;
		}
}

/* Keeps printable ASCII only: the API refuses anything else in reason. */
static void clean_reason(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src && src[i] && i + 1 < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/* health.report as the API's encoder writes it. NULL (errno set) if a
 * value does not read back, which a target from sluiced cannot hold. */
static json_t *report_request(const struct hd_target *ht, enum cp_health h, uint32_t lat,
			      const char *reason)
{
	struct cp_request r;
	struct cp_error e;

	cp_request_init(&r, CP_OP_HEALTH_REPORT);
	if (cp_request_set_text(&r, CP_F_VIP, ht->vip, NULL, &e) ||
	    cp_request_set_text(&r, CP_F_BACKEND, ht->backend, NULL, &e) ||
	    cp_request_set_num(&r, CP_F_LATENCY, lat, NULL, &e) ||
	    cp_request_set_text(&r, CP_F_REASON, reason, NULL, &e)) {
		pr_warn("%s %s: cannot report: %s: %s\n", ht->vip, ht->backend, e.field, e.msg);
		errno = EINVAL;
		return NULL;
	}
	r.health = h;
	r.fields |= CP_F_HEALTH;
	return cp_request_to_json(&r);
}

/* Sends one target's state. 0, -errno when sluiced could not be reached
 * (a refusal of the report itself is logged and is not an error). */
static int report(struct healthd *d, struct hd_target *ht)
{
	enum hc_state s = hc_target_state(ht->t);
	const char *reason = NULL;
	uint32_t lat = 0;
	char rbuf[sizeof(((struct cp_request *)0)->reason)];
	json_t *req, *rep;
	int err = 0;

	hc_target_last(ht->t, &lat, &reason);
	clean_reason(rbuf, sizeof(rbuf), reason ? reason : "");
	req = report_request(ht, s == HC_UP ? CP_HEALTH_UP : CP_HEALTH_DOWN, lat, rbuf);
	if (!req)
		return -errno;
	rep = cp_api_call(d->socket, req, d->cfg.api_timeout_ms);
	if (!rep) {
		err = -errno;
	} else if (!json_is_true(json_object_get(rep, "ok"))) {
		json_t *m = json_object_get(json_object_get(rep, "error"), "message");

		pr_warn("sluiced refused health.report %s %s: %s\n", ht->vip,
			ht->backend, json_is_string(m) ? json_string_value(m) : "?");
	}
	json_decref(rep);
	json_decref(req);
	return err;
}

/* Sends every dirty target, or with all set, every target whose state is
 * known. */
static int send_reports(struct healthd *d, int all)
{
	size_t sent = 0;
	int err;

	for (size_t i = 0; i < d->n; i++) {
		struct hd_target *ht = d->targets[i];

		if (!ht->t || hc_target_state(ht->t) == HC_UNKNOWN || !(all || ht->dirty))
			continue;
		err = report(d, ht);
		if (err) {
			went_away(d, "health.report", -err);
			return err;
		}
		if (ht->dirty) {
			ht->dirty = 0;
			d->n_dirty--;
		}
		sent++;
	}
	if (all)
		pr_info("sent the full view (%zu known targets)\n", sent);
	return 0;
}

/* The socket address of a target: its backend, on its check's port. */
static int target_addr(struct hd_target *ht, const char *be)
{
	struct lb_addr a;
	__u8 fam;

	if (cp_parse_addr(be, &a, &fam))
		return -EINVAL;
	ht->addrlen = cp_sockaddr(&a, fam, ht->check.port, &ht->addr);
	return 0;
}

/* Fills ht from one element of health.targets; 0 or -EINVAL (skipped).
 * The check is read by the API's own decoder (request_json.h), so it
 * takes exactly the values sluiced could have sent. health.targets
 * names the port checked, never 0 ("the VIP's port"). */
static int parse_target(json_t *o, struct hd_target *ht)
{
	const char *vip = json_string_value(json_object_get(o, "vip"));
	const char *be = json_string_value(json_object_get(o, "backend"));
	struct cp_check *c = &ht->check;
	struct cp_error e;

	memset(ht, 0, sizeof(*ht));
	if (!vip || !be || strlen(vip) >= sizeof(ht->vip) || strlen(be) >= sizeof(ht->backend))
		return -EINVAL;
	snprintf(ht->vip, sizeof(ht->vip), "%s", vip);
	snprintf(ht->backend, sizeof(ht->backend), "%s", be);
	if (cp_check_from_json(o, c, &e)) {
		pr_debug("%s %s: %s: %s\n", vip, be, e.field, e.msg);
		return -EINVAL;
	}
	if (c->type == CP_CHECK_NONE || !c->port || (c->type == CP_CHECK_HTTP && !c->path[0]))
		return -EINVAL;
	return target_addr(ht, be);
}

static int same_spec(const struct hd_target *a, const struct hd_target *b)
{
	return a->addrlen == b->addrlen && !memcmp(&a->addr, &b->addr, a->addrlen) &&
	       !memcmp(&a->check, &b->check, sizeof(a->check));
}

static int start_target(struct healthd *d, struct hd_target *ht)
{
	ht->t = hc_target_add(d->engine, (struct sockaddr *)&ht->addr, ht->addrlen,
			      &ht->check, ht);
	if (!ht->t) {
		pr_warn("%s %s: cannot start its check: %s\n", ht->vip, ht->backend,
			strerror(errno));
		return -errno;
	}
	return 0;
}

/* Replaces the target set by the one in a health.targets reply. */
static int sync_targets(struct healthd *d, json_t *arr)
{
	size_t n = json_array_size(arr), m = 0, i = 0, j = 0, k = 0;
	struct hd_target **nw = calloc(n ? n : 1, sizeof(*nw));
	struct hd_target **out = calloc(n + d->n + 1, sizeof(*out));
	size_t added = 0, dropped = 0, restarted = 0;

	if (!nw || !out) {
		free(nw);
		free(out);
		return -ENOMEM;
	}
	for (size_t x = 0; x < n; x++) {
		struct hd_target *ht = malloc(sizeof(*ht));

		if (!ht)
			continue;
		if (parse_target(json_array_get(arr, x), ht)) {
			pr_debug("skipped target #%zu of health.targets\n", x);
			free(ht);
			continue;
		}
		nw[m++] = ht;
	}
	qsort(nw, m, sizeof(*nw), key_qsort);
	/* Duplicate keys in the reply: keep the first. */
	for (size_t x = 0; x < m; x++) {
		if (k && !key_cmp(nw[x], nw[k - 1]))
			free(nw[x]);
		else
			nw[k++] = nw[x];
	}
	m = k;
	k = 0;
	/* Merge the old (d->targets) and new (nw) sorted lists. */
	while (i < d->n || j < m) {
		int c;

		c = i >= d->n ? 1 : j >= m ? -1 : key_cmp(d->targets[i], nw[j]);
		if (c < 0) {
			pr_info("%s %s no longer a target\n", d->targets[i]->vip,
				d->targets[i]->backend);
			target_free(d, d->targets[i++]);
			dropped++;
		} else if (c > 0) {
			start_target(d, nw[j]);
			out[k++] = nw[j++];
			added++;
		} else if (same_spec(d->targets[i], nw[j])) {
			out[k++] = d->targets[i++];
			free(nw[j++]);
		} else {
			pr_info("%s %s check changed: restarted\n", nw[j]->vip,
				nw[j]->backend);
			target_free(d, d->targets[i++]);
			start_target(d, nw[j]);
			out[k++] = nw[j++];
			restarted++;
		}
	}
	free(nw);
	free(d->targets);
	d->targets = out;
	d->n = k;
	if (added || dropped || restarted)
		pr_info("%zu targets (%zu new, %zu dropped, %zu restarted)\n", k, added,
			dropped, restarted);
	return 0;
}

/* Every target whose known state sluiced sees otherwise is reported
 * again: sluiced's view is healthd's, whoever else reported. */
static void reconcile(struct healthd *d, json_t *arr)
{
	size_t i, n = 0;
	json_t *o;

	json_array_foreach(arr, i, o) {
		const char *vip = json_string_value(json_object_get(o, "vip"));
		const char *be = json_string_value(json_object_get(o, "backend"));
		const char *seen = json_string_value(json_object_get(o, "health"));
		struct hd_target *ht;
		enum hc_state st;

		if (!vip || !be || !seen || !(ht = find(d, vip, be)) || !ht->t)
			continue;
		st = hc_target_state(ht->t);
		if (st == HC_UNKNOWN || !strcmp(seen, st == HC_UP ? "up" : "down"))
			continue;
		if (!ht->dirty)
			n++;
		mark_dirty(d, ht);
	}
	if (n)
		pr_info("sluiced's view differs from ours for %zu targets: reporting them again\n", n);
}

/* health.heartbeat, or health.targets from a sluiced without it. */
static json_t *heartbeat_call(struct healthd *d)
{
	const char *op = d->no_heartbeat ? "health.targets" : "health.heartbeat";
	json_t *req = json_pack("{s:i, s:s}", "v", CP_API_VERSION, "op", op);
	json_t *rep = req ? cp_api_call(d->socket, req, d->cfg.api_timeout_ms) : NULL;
	const char *field;

	json_decref(req);
	field = json_string_value(json_object_get(json_object_get(rep, "error"), "field"));
	if (!d->no_heartbeat && rep && !json_is_true(json_object_get(rep, "ok")) && field &&
	    !strcmp(field, "op")) {
		pr_warn("sluiced does not take health.heartbeat: reading health.targets instead\n");
		d->no_heartbeat = 1;
		json_decref(rep);
		return heartbeat_call(d);
	}
	return rep;
}

static void refresh(struct healthd *d)
{
	json_t *rep, *arr;
	int was = d->connected;

	rep = heartbeat_call(d);
	if (!rep) {
		went_away(d, "health.heartbeat", errno);
		return;
	}
	arr = json_object_get(rep, "targets");
	if (!json_is_true(json_object_get(rep, "ok")) || !json_is_array(arr)) {
		pr_warn("health.targets: unexpected reply; retrying\n");
		json_decref(rep);
		went_away(d, "health.targets", EPROTO);
		return;
	}
	sync_targets(d, arr);
	if (was)
		reconcile(d, arr);	/* after a reconnect the full view goes anyway */
	json_decref(rep);
	if (!was)
		pr_info("%s sluiced on %s\n", d->ever_connected ? "reconnected to" :
			"connected to", d->socket);
	d->connected = 1;
	d->ever_connected = 1;
	d->backoff_ms = 0;
	d->next_api_us = hc_now_us() + (uint64_t)d->cfg.refresh_ms * 1000u;
	if (!was)
		send_reports(d, 1);
}

int hd_poll(struct healthd *d, int max_wait_ms, const sigset_t *sigmask)
{
	uint64_t now = hc_now_us();
	int64_t wait;
	int err;

	if (now >= d->next_api_us)
		refresh(d);
	if (d->connected && d->n_dirty)
		send_reports(d, 0);
	now = hc_now_us();
	wait = d->next_api_us > now ? (int64_t)((d->next_api_us - now + 999) / 1000) : 0;
	if (max_wait_ms >= 0 && wait > max_wait_ms)
		wait = max_wait_ms;
	err = hc_engine_poll(d->engine, (int)wait, sigmask);
	if (err < 0 && err != -EINTR)
		pr_warn("epoll: %s\n", strerror(-err));
	if (d->connected && d->n_dirty)
		send_reports(d, 0);
	return err == -EINTR ? err : 0;
}
