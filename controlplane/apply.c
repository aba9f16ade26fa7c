// SPDX-License-Identifier: Apache-2.0
/*
 * apply.c - a whole configuration as one transaction: `sluicectl apply
 * FILE`, `sluicectl reload` and SIGHUP (sluiced's config file), `diff`,
 * and `sluiced --check-config`.
 *
 * The running state is the truth (it is what forwards, and the state
 * file keeps it across restarts); a config file is a desired state that
 * apply makes the running state equal to. sluiced remembers the last
 * configuration it applied (the "base", kept beside the state file), so
 * it can tell an object an operator changed at runtime from one the file
 * changed: an apply that would undo a runtime change, or empty the
 * running state, is refused with the list unless forced. Nothing an
 * operator did is undone without them being told.
 */
#define LB_LOG_PREFIX "apply: "

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_int.h"
#include "log.h"
#include "nl.h"
#include "request_json.h"
#include "state.h"

/* At most SLUICED_APPLY_LIST changes are listed, those that undo
 * runtime changes first: an apply of 100,000 backends answers with a
 * count, not a 10 MB list that takes the control thread a third of a
 * second to encode. */
#define SLUICED_APPLY_LIST 1000

static json_t *plan_json(const struct cp_plan *p)
{
	json_t *arr = json_array();

	for (int runtime = 1; runtime >= 0; runtime--) {
		for (size_t i = 0; arr && i < p->n; i++) {
			const struct cp_plan_change *c = &p->changes[i];

			if (!c->lines || !c->runtime != !runtime ||
			    json_array_size(arr) >= SLUICED_APPLY_LIST)
				continue;
			json_array_append_new(arr, json_pack("{s:s?, s:s?, s:b}", "from", c->from,
							     "to", c->to, "runtime", c->runtime));
		}
	}
	return arr;
}

/* Changes that add (no from), remove (no to), or change an object. */
static size_t count(const struct cp_plan *p, int added, int removed)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->changes[i].added == added && p->changes[i].removed == removed;
	return n;
}

static json_t *plan_reply(json_t *reply, const struct cp_plan *p, const char *path, int applied)
{
	json_t *listed = plan_json(p);

	json_object_update_new(reply, json_pack("{s:s, s:b, s:i, s:i, s:i}", "path", path,
						"applied", applied, "runtime_changes",
						(json_int_t)p->n_runtime, "total_changes",
						(json_int_t)p->n, "changes_not_listed",
						(json_int_t)(p->n - json_array_size(listed))));
	json_object_set_new(reply, "changes", listed);
	return reply;
}

/* The outcome as the metrics and `status` tell it. */
static void note_outcome(struct sluiced *d, const char *path, const char *why, int ok,
			 const char *what)
{
	struct cp_model_stats *s = &d->model.stats;

	if (ok) {
		s->applies_applied++;
	} else {
		s->applies_rejected++;
		s->changes_rejected++;
	}
	s->last_apply_failed = !ok;
	if (snprintf(d->last_apply, sizeof(d->last_apply), "%s of %s: %s", why, path, what) >=
	    (int)sizeof(d->last_apply))
		strcpy(d->last_apply + sizeof(d->last_apply) - 4, "...");
	if (ok)
		pr_info("%s\n", d->last_apply);
	else
		pr_warn("%s\n", d->last_apply);
}

static json_t *refuse(struct sluiced *d, const char *path, const char *why,
		      const struct cp_error *e, const struct cp_plan *p)
{
	json_t *reply = cp_reply_error(e);
	char what[sizeof(e->field) + sizeof(e->msg) + 16];

	snprintf(what, sizeof(what), "refused: %s: %s", e->field, e->msg);
	note_outcome(d, path, why, 0, what);
	return p ? plan_reply(reply, p, path, 0) : reply;
}

/* The guard: a change nobody asked the file for, or an empty file, is
 * the classic way a reload takes a site down. */
static int guard(const struct cp_plan *p, const char *path, struct cp_error *e)
{
	if (p->n_runtime)
		return cp_error_set(e, -EEXIST, "force",
				    "%s would undo %zu change(s) made at runtime since the last "
				    "apply (marked 'changed at runtime')%s%s; put them in the file "
				    "(`sluicectl save` prints the running state) or give --force",
				    path, p->n_runtime, p->empties[0] ? ", and " : "", p->empties);
	if (p->empties[0])
		return cp_error_set(e, -EEXIST, "force", "%s: %s; give --force if that is meant",
				    path, p->empties);
	return 0;
}

/* The base as a second name of the state file just written, when they
 * hold the same (the apply kept no encap source the file lacks): a link
 * and a rename instead of formatting and syncing 100,000 lines again.
 * The state file is later replaced by rename, never rewritten in place,
 * so the base keeps its content. 0, or -errno: write it instead. */
static int base_link(const struct sluiced *d)
{
	char tmp[sizeof(d->applied_path) + 8];
	int err = 0;

	if (cp_model_node_diff(&d->model.node, &d->applied.node))
		return -EINVAL;
	snprintf(tmp, sizeof(tmp), "%s.lnk", d->applied_path);
	unlink(tmp);
	if (link(d->state_path, tmp) || rename(tmp, d->applied_path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* The running state as any change path persists it, then the base. A
 * base that cannot be written is only logged: an older base makes more
 * objects look changed at runtime, so the guard asks more, never less. */
static json_t *persist(struct sluiced *d)
{
	struct cp_error e = { "", "" }, be = { "", "" };
	int err = sluiced_persist(d, &e);

	if (d->applied_path[0] && (err || base_link(d)) &&
	    cp_state_write(d->applied_path, &d->applied, d->persist.gen, 0, &be))
		pr_warn("%s: %s (the next apply may ask about more changes)\n", be.field, be.msg);
	return sluiced_reply_applied(d, err, &e);
}

json_t *sluiced_apply(struct sluiced *d, const char *path, unsigned int flags, const char *why)
{
	struct cp_error e = { "", "" };
	struct cp_model target;
	struct cp_plan plan;
	char what[256];
	json_t *reply;
	int n;

	n = cp_state_load_checked(path, &d->model.limits, d->model.is_local,
				  d->model.is_local_arg, &target, NULL, &e);
	if (n == -ENOENT)
		cp_error_set(&e, n, "path", "%s: no such file", path);
	if (n)
		return refuse(d, path, why, &e, NULL);
	if (cp_model_plan(&d->model, &d->applied, &target, SLUICED_APPLY_LIST, &plan)) {
		cp_model_free(&target);
		cp_error_set(&e, -ENOMEM, "model", "out of memory");
		return refuse(d, path, why, &e, NULL);
	}
	if (!(flags & SLUICED_APPLY_FORCE) && guard(&plan, path, &e)) {
		reply = refuse(d, path, why, &e, &plan);
		goto out;
	}
	if (flags & SLUICED_APPLY_DRY_RUN) {
		reply = plan_reply(cp_reply_ok(), &plan, path, 0);
		goto out;
	}
	n = cp_model_apply_diff(&d->model, &target, &e);
	if (n < 0) {
		reply = refuse(d, path, why, &e, &plan);
		goto out;
	}
	/* The file is now the base: what differs from it later was done at
	 * runtime. */
	cp_model_free(&d->applied);
	d->applied = target;
	memset(&target, 0, sizeof(target));
	snprintf(what, sizeof(what), "%zu change(s) applied: %zu added, %zu removed, %zu changed%s",
		 plan.n, count(&plan, 1, 0), count(&plan, 0, 1), count(&plan, 0, 0),
		 plan.n_runtime ? " (runtime changes undone: forced)" : "");
	note_outcome(d, path, why, 1, what);
	reply = plan_reply(persist(d), &plan, path, 1);
out:
	cp_plan_free(&plan);
	cp_model_free(&target);
	return reply;
}

/* The base after a start from the state file: the one kept beside it,
 * else (a state file from before bases were kept) the config file,
 * which is what the last reload applied. Never fatal: without a base
 * every running object counts as changed at runtime, which errs on the
 * side of asking. */
void sluiced_load_base(struct sluiced *d)
{
	const char *paths[] = { d->applied_path, d->config_path };
	struct cp_state_info info;
	struct cp_error e = { "", "" };

	for (size_t i = 0; i < 2; i++) {
		int err;

		if (!paths[i][0])
			continue;
		/* The base is framed as a state file; a config file is not. */
		err = cp_state_load(paths[i], &d->model.limits, &d->applied, i ? NULL : &info, &e);
		if (!err)
			return;
		if (err != -ENOENT)
			pr_warn("base %s: %s: %s (ignored)\n", paths[i], e.field, e.msg);
	}
	cp_model_init(&d->applied, &d->model.limits, NULL);
}

/* Says at start when the running state is not what the config file
 * would give, so a later reload's refusal is no surprise. */
void sluiced_tell_drift(struct sluiced *d)
{
	struct cp_error e = { "", "" };
	struct cp_model target;
	struct cp_plan plan;

	if (!d->config_path[0] ||
	    cp_state_load(d->config_path, &d->model.limits, &target, NULL, &e))
		return;
	if (!cp_model_plan(&d->model, &d->applied, &target, 0, &plan)) {
		if (plan.n)
			pr_info("the running state differs from %s in %zu object(s), %zu changed at "
				"runtime: `sluicectl diff %s` shows them\n",
				d->config_path, plan.n, plan.n_runtime, d->config_path);
		cp_plan_free(&plan);
	}
	cp_model_free(&target);
}

int sluiced_check_config(const char *path, const struct lb_params *limits, FILE *out)
{
	struct cp_error e = { "", "" };
	struct cp_model m;
	/* nl.c answers without a netlink handle of its own. */
	int err = cp_state_load_checked(path, limits, cp_nl_is_local, NULL, &m, NULL, &e);

	if (err == -ENOENT)
		cp_error_set(&e, err, path, "no such file");
	if (err) {
		fprintf(out, "%s: %s\n", e.field, e.msg);
		return err;
	}
	fprintf(out, "%s: ok: %zu VIPs, %zu backends\n", path, m.n_vips, m.n_backends_all);
	cp_model_free(&m);
	return 0;
}
