// SPDX-License-Identifier: Apache-2.0
/*
 * persist.c - the running state against the disk (daemon_int.h): every
 * change path persists through sluiced_persist, which never lies about
 * the outcome, keeps a copy where it can when the state file cannot be
 * written, and retries until it is; and the choice, at start, of what to
 * start from, which never silently takes a file that is behind or damaged.
 */
#define LB_LOG_PREFIX "sluiced: "

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon_int.h"
#include "log.h"
#include "request_json.h"
#include "state.h"

#define PERSIST_BACKOFF_MAX_S 30

int sluiced_persist_fd(struct sluiced *d)
{
	struct sluiced_persist *p = &d->persist;

	if (!p->have_timer) {
		p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		p->have_timer = p->timer_fd >= 0;
	}
	return p->have_timer ? p->timer_fd : -1;
}

/* The state file being parsed ahead (sluiced_persist_preload). */
struct sluiced_preload {
	struct cp_crew crew;
	char path[PATH_MAX];
	struct lb_params params;
	struct cp_model model;
	struct cp_state_info info;
	struct cp_error e;
	int err;
};

static int preload_job(void *arg, size_t i)
{
	struct sluiced_preload *pl = arg;

	(void)i;
	pl->err = cp_state_load(pl->path, &pl->params, &pl->model, &pl->info, &pl->e);
	return 0;
}

void sluiced_persist_preload(struct sluiced *d, const struct lb_params *params)
{
	struct sluiced_preload *pl;

	if (!d->state_path[0] || d->persist.preload)
		return;
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return;		/* parsed when needed instead */
	snprintf(pl->path, sizeof(pl->path), "%s", d->state_path);
	pl->params = *params;
	cp_crew_start(&pl->crew, 1, preload_job, pl, 1);
	d->persist.preload = pl;
}

/* Waits for the preload (serving readers when serve) and detaches it
 * from d. */
static struct sluiced_preload *preload_finish(struct sluiced *d, int serve)
{
	struct sluiced_preload *pl = d->persist.preload;

	if (pl && serve)
		cp_model_crew_join(&d->model, &pl->crew, 0);
	else if (pl)
		cp_crew_wait(&pl->crew);
	d->persist.preload = NULL;
	return pl;
}

/* The preloaded state file, if it is path's and was parsed with d's
 * limits: 0 or its -errno (e, info filled as cp_state_load would), or
 * -EAGAIN: parse it now. */
static int preload_take(struct sluiced *d, const char *path, struct cp_model *out,
			struct cp_state_info *info, struct cp_error *e)
{
	struct sluiced_preload *pl = preload_finish(d, 1);
	int err = -EAGAIN;

	if (!pl)
		return err;
	if (!strcmp(path, pl->path)) {
		if (pl->err == -ENOENT) {
			err = pl->err;
		} else if (!pl->err && cp_model_limits_same(&pl->model.limits, &d->model.limits)) {
			*out = pl->model;
			if (info)
				*info = pl->info;
			err = 0;
		}
	}
	if (err && !pl->err) {
		pr_info("%s: parsed ahead with other limits than the fast path's: parsing again\n",
			path);
		cp_model_free(&pl->model);
	}
	if (!err || err == -ENOENT)
		*e = pl->e;
	free(pl);
	return err;
}

void sluiced_persist_close(struct sluiced *d)
{
	/* At exit: the model and the API may be gone. */
	struct sluiced_preload *pl = preload_finish(d, 0);

	if (pl && !pl->err)
		cp_model_free(&pl->model);
	free(pl);
	if (d->persist.have_timer)
		close(d->persist.timer_fd);
	d->persist.have_timer = 0;
}

static void arm(struct sluiced *d, int seconds)
{
	struct itimerspec its = { .it_value = { .tv_sec = seconds } };
	int fd = sluiced_persist_fd(d);

	if (fd >= 0)
		timerfd_settime(fd, 0, &its, NULL);
}

static void recovered(struct sluiced *d)
{
	struct sluiced_persist *p = &d->persist;

	p->last_ok = time(NULL);
	if (!p->unsaved)
		return;
	pr_info("state file %s written (generation %llu): the running state is on disk again\n",
		d->state_path, p->gen);
	if (d->pending_path[0] && unlink(d->pending_path) == 0)
		pr_info("removed the fallback %s\n", d->pending_path);
	p->unsaved = 0;
	p->in_fallback = 0;
	p->error[0] = '\0';
	p->backoff_s = 0;
	arm(d, 0);
}

/* The state file could not be written (why in e): keep the running
 * state where a restart will find it, or at least mark the state file
 * behind so a restart refuses rather than reverting. */
static void failed(struct sluiced *d, struct cp_error *e)
{
	struct sluiced_persist *p = &d->persist;
	struct cp_error fe = { "", "" };
	char where[sizeof(fe.msg) + 160];
	int ferr = -ENOENT, mark;

	p->failures++;
	if (d->pending_path[0])
		ferr = cp_state_write(d->pending_path, &d->model, p->gen, 0, &fe);
	mark = cp_state_mark_unsaved(d->state_path, p->gen);
	p->in_fallback = !ferr;
	if (!ferr)
		snprintf(where, sizeof(where), "the running state is kept in %s until then",
			 d->pending_path);
	else if (!mark)
		snprintf(where, sizeof(where),
			 "%.*s; the state file is marked behind: a restart will refuse to start",
			 PATH_MAX * 2,
			 d->pending_path[0] ? fe.msg : "no fallback file");
	else
		snprintf(where, sizeof(where),
			 "%.*s; the state file cannot even be marked behind: a restart would "
			 "start from an older state", PATH_MAX * 2,
			 d->pending_path[0] ? fe.msg : "no fallback file");
	snprintf(p->error, sizeof(p->error), "%.*s; retrying; %.*s", PATH_MAX + 128, e->msg,
		 PATH_MAX * 2 + 256, where);
	cp_error_set(e, -EIO, "state", "%s", p->error);
	/* Logged when retries start, not at each one. */
	if (!p->backoff_s) {
		pr_warn("%s\n", p->error);
		p->backoff_s = 1;
	} else {
		p->backoff_s = p->backoff_s * 2 > PERSIST_BACKOFF_MAX_S ? PERSIST_BACKOFF_MAX_S
								      : p->backoff_s * 2;
	}
	p->unsaved = 1;
	arm(d, p->backoff_s);
}

static int persist_now(struct sluiced *d, struct cp_error *e)
{
	int err = cp_state_write(d->state_path, &d->model, d->persist.gen, 1, e);

	if (!err)
		recovered(d);
	else
		failed(d, e);
	return err;
}

int sluiced_persist(struct sluiced *d, struct cp_error *e)
{
	if (!d->state_path[0])
		return 0;
	d->persist.gen++;
	return persist_now(d, e);
}

void sluiced_persist_retry(struct sluiced *d)
{
	struct cp_error e = { "", "" };
	__u64 ticks;

	if (read(sluiced_persist_fd(d), &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	if (d->persist.unsaved && d->state_path[0])
		persist_now(d, &e);
}

json_t *sluiced_reply_applied(const struct sluiced *d, int persist_err, const struct cp_error *e)
{
	json_t *reply = cp_reply_ok();

	if (!reply || !d->state_path[0])
		return reply;
	json_object_set_new(reply, "persisted", json_boolean(!persist_err));
	if (persist_err)
		json_object_set_new(reply, "error", json_pack("{s:s, s:s}", "field", e->field,
							       "message", e->msg));
	return reply;
}

void sluiced_persist_status(const struct sluiced *d, json_t *reply)
{
	const struct sluiced_persist *p = &d->persist;
	char when[32] = "never";
	struct tm tm;

	if (p->last_ok && gmtime_r(&p->last_ok, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_update_new(reply, json_pack("{s:b, s:I, s:I, s:s}",
		"state_persisted", !p->unsaved, "state_generation", (json_int_t)p->gen,
		"state_failures", (json_int_t)p->failures, "state_last_write", when));
	if (p->unsaved)
		json_object_set_new(reply, "state_error", json_string(p->error));
}

/* --- At start ----------------------------------------------------------- */

/* Later writes must outnumber every generation seen on disk. */
static void outnumber(struct sluiced *d, const struct cp_state_info *i)
{
	if (i->gen > d->persist.gen)
		d->persist.gen = i->gen;
	if (i->unsaved > d->persist.gen)
		d->persist.gen = i->unsaved;
}

/* The way out of a refusal: the previous good copy if there is one. */
static void refuse_hint(const struct sluiced *d)
{
	char prev[PATH_MAX + 8];

	snprintf(prev, sizeof(prev), "%s.prev", d->state_path);
	if (access(prev, R_OK) == 0)
		pr_warn("the previous good copy is %s: to start from it, run sluiced with "
			"--start-from %s (it is then written to %s)\n", prev, prev, d->state_path);
	else
		pr_warn("there is no previous copy (%s): fix %s, or start from a file you trust "
			"with --start-from FILE\n", prev, d->state_path);
}

static int load_named(struct sluiced *d, const char *path, struct cp_model *out,
		      struct cp_state_info *info)
{
	struct cp_error e = { "", "" };
	int err = preload_take(d, path, out, info, &e);

	if (err == -EAGAIN)
		err = cp_state_load(path, &d->model.limits, out, info, &e);

	if (err && err != -ENOENT)
		pr_warn("cannot start from %s: %s: %s\n", path, e.field, e.msg);
	return err;
}

static int start_from_file(struct sluiced *d, const char *from, struct cp_model *out)
{
	struct cp_state_info fi, si = { 0 }, pi = { 0 };
	struct cp_model scratch;
	int err = load_named(d, from, out, &fi);

	if (err) {
		if (err == -ENOENT)
			pr_warn("--start-from %s: no such file\n", from);
		return err;
	}
	if (!cp_state_load(d->state_path, &d->model.limits, &scratch, &si, NULL))
		cp_model_free(&scratch);
	if (d->pending_path[0] &&
	    !cp_state_load(d->pending_path, &d->model.limits, &scratch, &pi, NULL))
		cp_model_free(&scratch);
	outnumber(d, &fi);
	outnumber(d, &si);
	outnumber(d, &pi);
	if (strcmp(from, d->state_path))
		pr_warn("starting from %s (--start-from), not from %s: it replaces it now\n", from,
			d->state_path);
	else
		pr_warn("starting from %s (--start-from): accepted as it is\n", from);
	d->persist.loaded_from = from;
	d->persist.unsaved = 1;
	snprintf(d->persist.error, sizeof(d->persist.error), "started from %s", from);
	return 2;
}

/* The state file and the fallback are both loaded; the newer wins, loudly
 * when it is the fallback; a state file marked behind without a newer
 * fallback is refused. */
static int choose(struct sluiced *d, struct cp_model *out, struct cp_model *pend,
		  const struct cp_state_info *si, int have_s, const struct cp_state_info *pi,
		  int have_p)
{
	outnumber(d, si);
	outnumber(d, pi);
	if (have_p && pi->gen > si->gen) {
		if (si->unsaved > pi->gen) {
			pr_warn("cannot start: %s is generation %llu and %s generation %llu, but "
				"sluiced ran generation %llu, written nowhere\n", d->state_path,
				si->gen, d->pending_path, pi->gen, si->unsaved);
			pr_warn("to start from one of them anyway: --start-from FILE\n");
			return -ESTALE;
		}
		if (have_s)
			cp_model_free(out);
		*out = *pend;
		d->persist.loaded_from = d->pending_path;
		pr_warn("STARTING FROM THE FALLBACK %s (generation %llu): it is newer than %s "
			"(generation %llu), which could not be written; writing it now\n",
			d->pending_path, pi->gen, d->state_path, si->gen);
		d->persist.unsaved = 1;
		d->persist.in_fallback = 1;
		snprintf(d->persist.error, sizeof(d->persist.error),
			 "started from the fallback %s", d->pending_path);
		return 2;
	}
	if (have_p) {
		cp_model_free(pend);
		if (unlink(d->pending_path) == 0)
			pr_info("removed %s: generation %llu, not newer than %s (generation %llu)\n",
				d->pending_path, pi->gen, d->state_path, si->gen);
	}
	if (have_s && si->unsaved > si->gen) {
		cp_model_free(out);
		pr_warn("cannot start: %s (generation %llu) is behind: sluiced ran generation %llu "
			"but could not write it, and %s holds no newer copy (lost in a reboot?)\n",
			d->state_path, si->gen, si->unsaved,
			d->pending_path[0] ? d->pending_path : "no fallback file");
		pr_warn("to start from %s anyway, losing what came after generation %llu: "
			"--start-from %s\n", d->state_path, si->gen, d->state_path);
		return -ESTALE;
	}
	d->persist.loaded_from = d->state_path;
	return have_s;
}

int sluiced_persist_load(struct sluiced *d, const char *start_from, struct cp_model *out)
{
	struct cp_state_info si = { 0 }, pi = { 0 };
	struct cp_model pend;
	int es, ep;

	if (d->state_path[0])
		cp_state_clean_tmp(d->state_path);
	if (d->pending_path[0])
		cp_state_clean_tmp(d->pending_path);
	if (start_from && start_from[0])
		return start_from_file(d, start_from, out);
	if (!d->state_path[0])
		return 0;
	es = load_named(d, d->state_path, out, &si);
	if (es && es != -ENOENT) {
		refuse_hint(d);
		return es;
	}
	ep = d->pending_path[0] ? load_named(d, d->pending_path, &pend, &pi) : -ENOENT;
	if (ep && ep != -ENOENT) {
		if (!es)
			cp_model_free(out);
		pr_warn("move %s away to start from %s, or start from a file you trust with "
			"--start-from FILE\n", d->pending_path, d->state_path);
		return ep;
	}
	return choose(d, out, &pend, &si, !es, &pi, !ep);
}
