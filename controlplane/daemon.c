// SPDX-License-Identifier: Apache-2.0
/*
 * daemon.c - the Sluice control plane's daemon core (sluiced, sluice-dpdk).
 *
 * Owns the desired state (VIPs, backends, node settings), turns it into
 * the fast path's tables, persists it, and serves sluicectl and
 * sluice-healthd on its API socket. One thread, one epoll loop: the API
 * socket, signals (SIGHUP reloads the config file as a diff, SIGTERM and
 * SIGINT exit leaving forwarding in place), netlink changes and a timer
 * that re-resolves backends' next hops.
 */
#define LB_LOG_PREFIX "sluiced: "

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <syslog.h>
#include <unistd.h>

#include "api.h"
#include "cmd.h"
#include "daemon.h"
#include "daemon_int.h"
#include "health_file.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "nl.h"
#include "numparse.h"
#include "state.h"

#define SLUICED_NH_REFRESH_S 5
#define SLUICED_NH_SLICE 32	/* backends re-resolved between two looks at the API */
#define SLUICED_METRICS_PERIOD_S 1	/* a fresh /metrics snapshot this often */
#define SLUICED_HEALTH_PERIOD_S 1	/* overrides expire, the health file is written */

static const char usage_common[] =
"  -c, --config FILE      config script loaded at the first start; `sluicectl\n"
"                         reload` and SIGHUP apply it as one transaction\n"
"                         (default " CP_DEFAULT_CONFIG ")\n"
"  -s, --state FILE       persisted state, written after every change and loaded\n"
"                         at start when present, the one it replaces kept as\n"
"                         FILE.prev (default " CP_DEFAULT_STATE "); FILE.applied\n"
"                         beside it keeps the config last applied\n"
"      --state-fallback FILE\n"
"                         where the running state goes while the state file\n"
"                         cannot be written, on another file system; preferred\n"
"                         at start when newer, loudly (default\n"
"                         " CP_DEFAULT_PENDING "; \"none\": no fallback)\n"
"      --start-from FILE  start from FILE (e.g. FILE.prev of a damaged state file)\n"
"                         instead of the state file, which it then replaces\n"
"      --check-config FILE  validate FILE as a config script and exit: 0 valid,\n"
"                         1 not (FILE:LINE and why); touches nothing\n"
"      --socket PATH      API socket (default " CP_API_DEFAULT_SOCKET ")\n"
"      --api-max-clients N\n"
"                         API connections at once (default 256); at the cap\n"
"                         the client idle longest is closed for a newcomer\n"
"      --api-idle-timeout DUR\n"
"                         close an API client that sends no request for DUR\n"
"                         (90s, 10m; 0 never; default 60s)\n"
"      --api-stall-timeout DUR\n"
"                         close one that leaves a request line unfinished or\n"
"                         its replies unread for DUR (0 never; default 10s)\n"
"      --api-read-group GROUP\n"
"                         members of GROUP may connect too (the socket is then\n"
"                         root:GROUP 0660) and may only read: lists, status,\n"
"                         stats, flows, ring digest, health targets, save\n"
"      --metrics A:P      serve Prometheus /metrics and /healthz on A:P\n"
"                         (\"[V6]:P\" for IPv6; \"none\" to disable; default:\n"
"                         the config's `node set --metrics`, else " CP_METRICS_DEFAULT_LISTEN ")\n"
"      --health-file FILE the last known health of every backend, kept across\n"
"                         restarts (default: health beside the API socket,\n"
"                         " CP_DEFAULT_HEALTH_FILE "; \"none\": not kept)\n"
"      --healthd-timeout DUR  sluice-healthd silent longer than this is reported\n"
"                         (status, metrics, log); health stays as last known\n"
"                         (default 10s)\n"
"      --no-fastpath      keep state and serve the API without a fast path\n"
"                         (for trying configurations)\n"
"      --max-vips N       VIPs the fast path can hold (default 256)\n"
"      --max-backends N   VIP-backend pairs (default 4096)\n"
"      --max-ring M       largest Maglev ring of any VIP (default 65537)\n"
"      --flow-buckets N   connection-table buckets per CPU, 4 flows each\n"
"                         (power of two, default 65536)\n";

static const char usage_tail[] =
"  -f, --foreground       stay in the foreground and log to stderr\n"
"  -v, --verbose          log more (repeat for debug output)\n"
"  -h, --help             this text\n"
"      --version          print the version and exit\n"
"\n"
"Signals: SIGHUP does what `sluicectl reload` does (its outcome is logged and\n"
"counted in /metrics; `sluicectl reload` also answers it); SIGTERM and SIGINT\n";

static void print_usage(const struct cp_fastpath *fp)
{
	printf("Usage: %s [OPTION]...%s\n%s\n", fp->prog, fp->no_daemon ? " [-- EAL OPTION...]" : "",
	       fp->summary);
	fputs(usage_common, stdout);
	fputs(fp->options_help ? fp->options_help : "", stdout);
	fputs(usage_tail, stdout);
	fputs(fp->signals_help, stdout);
}

struct options {
	int foreground;
	int no_fastpath;
	int verbose;
	const char *metrics;	/* --metrics; NULL: config, then the default */
	const char *check_config;	/* --check-config FILE: validate and exit */
	const char *start_from;	/* --start-from; NULL: the state file */
	long long healthd_timeout_ms;	/* 0: the default */
	struct lb_params params;
	struct cp_api_limits api;
};

static int set_path(char *dst, const char *src)
{
	if (strlen(src) >= PATH_MAX)
		return -ENAMETOOLONG;
	strcpy(dst, src);
	return 0;
}

/* A duration option as sluicectl reads one (2s, 500ms), in [min, max] ms. */
static int duration_ms(const char *val, const char *name, long long min, long long max,
		       const char *prog, long long *ms)
{
	struct cp_error e;

	if (cp_cmd_parse_duration(val, name, ms, &e)) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		return -EINVAL;
	}
	return *ms >= min && *ms <= max ? 0 : -EINVAL;
}

/* --api-idle-timeout, --api-stall-timeout: up to a day, 0 for never. */
static int set_api_ms(unsigned int *dst, const char *val, const char *name, const char *prog)
{
	long long ms;
	int err = duration_ms(val, name, 0, 86400000LL, prog, &ms);

	if (!err)
		*dst = (unsigned int)ms;
	return err;
}

/* --api-read-group: a group name or number. */
static int set_read_group(struct cp_api_limits *lim, const char *val)
{
	struct group *g = getgrnam(val);
	__u32 gid;

	if (g) {
		lim->read_gid = g->gr_gid;
	} else if (!lb_numparse_u32(val, &gid) && gid) {
		lim->read_gid = (gid_t)gid;
	} else {
		return -EINVAL;
	}
	lim->read_group = 1;
	snprintf(lim->read_group_name, sizeof(lim->read_group_name), "%s", val);
	return 0;
}

static int set_max_clients(unsigned int *dst, const char *val)
{
	__u32 n;

	if (lb_numparse_u32(val, &n) || !n || n > 65536)
		return -EINVAL;
	*dst = n;
	return 0;
}


#define CP_DAEMON_MAX_OPTIONS 48

/* Two long options with one code would silently share a case: every
 * start checks, so any test that runs the daemon catches it. */
static int options_clash(const struct option *o, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (o[i].val == o[j].val) {
				fprintf(stderr, "internal error: --%s and --%s share option code %d\n",
					o[i].name, o[j].name, o[i].val);
				return 1;
			}
	return 0;
}

/* 0: run; 1: done (--help, --version); -EINVAL: bad command line. */
static int parse_options(int argc, char **argv, struct sluiced *d, struct options *o,
			 const struct cp_fastpath *fp)
{
	static const struct option common[] = {
		{ "config", required_argument, 0, 'c' },
		{ "state", required_argument, 0, 's' },
		{ "state-fallback", required_argument, 0, 'P' },
		{ "start-from", required_argument, 0, 'W' },
		{ "socket", required_argument, 0, 'S' },
		{ "api-max-clients", required_argument, 0, 'A' },
		{ "api-idle-timeout", required_argument, 0, 'I' },
		{ "api-stall-timeout", required_argument, 0, 'T' },
		{ "api-read-group", required_argument, 0, 'G' },
		{ "metrics", required_argument, 0, 'M' },
		{ "no-fastpath", no_argument, 0, 'N' },
		{ "health-file", required_argument, 0, 'H' },
		{ "healthd-timeout", required_argument, 0, 'D' },
		{ "max-vips", required_argument, 0, 'V' },
		{ "max-backends", required_argument, 0, 'B' },
		{ "max-ring", required_argument, 0, 'R' },
		{ "flow-buckets", required_argument, 0, 'F' },
		{ "foreground", no_argument, 0, 'f' },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'Z' },
		{ "check-config", required_argument, 0, 'K' },
	};
	struct option longopts[CP_DAEMON_MAX_OPTIONS] = { 0 };
	size_t n = sizeof(common) / sizeof(common[0]);
	int c, idx, err = 0;

	memcpy(longopts, common, sizeof(common));
	for (size_t i = 0; fp->options && fp->options[i].name && n < CP_DAEMON_MAX_OPTIONS - 1; i++)
		longopts[n++] = fp->options[i];
	if (options_clash(longopts, n))
		return -EINVAL;

	while (!err && (idx = -1, c = getopt_long(argc, argv, "c:s:fvh", longopts, &idx)) != -1) {
		switch (c) {
		case 'c': err = set_path(d->config_path, optarg); break;
		case 's': err = set_path(d->state_path, optarg); break;
		case 'P': err = set_path(d->pending_path, strcmp(optarg, "none") ? optarg : ""); break;
		case 'W': o->start_from = optarg; break;
		case 'S': err = set_path(d->socket_path, optarg); break;
		case 'A': err = set_max_clients(&o->api.max_clients, optarg); break;
		case 'I': err = set_api_ms(&o->api.idle_ms, optarg, "api-idle-timeout", fp->prog); break;
		case 'T': err = set_api_ms(&o->api.stall_ms, optarg, "api-stall-timeout", fp->prog); break;
		case 'G': err = set_read_group(&o->api, optarg); break;
		case 'M': o->metrics = optarg; break;
		case 'N': o->no_fastpath = 1; break;
		case 'H':
			d->health_none = !strcmp(optarg, "none");
			err = set_path(d->health_path, d->health_none ? "" : optarg);
			break;
		/* At least a second: healthd heartbeats every --refresh (2 s). */
		case 'D':
			err = duration_ms(optarg, "healthd-timeout", 1000, 86400000LL, fp->prog,
					  &o->healthd_timeout_ms);
			break;
		case 'V': err = lb_numparse_u32(optarg, &o->params.max_vips); break;
		case 'B': err = lb_numparse_u32(optarg, &o->params.max_backends); break;
		case 'R': err = lb_numparse_u32(optarg, &o->params.max_ring); break;
		case 'F': err = lb_numparse_u32(optarg, &o->params.flow_buckets); break;
		case 'f': o->foreground = 1; break;
		case 'v': o->verbose++; break;
		case 'h': print_usage(fp); return 1;
		case 'Z': printf("%s %s\n", fp->prog, SLUICE_VERSION); return 1;
		case 'K': o->check_config = optarg; break;
		default:
			err = c >= 256 && fp->option ? fp->option(fp->arg, c, optarg) : -EINVAL;
			break;
		}
		if (err && c != '?' && optarg)
			fprintf(stderr, "%s: bad value '%s' for %s%s\n", fp->prog, optarg,
				idx >= 0 ? "--" : "-", idx >= 0 ? longopts[idx].name : "?");
	}
	if (!err && optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", fp->prog, argv[optind]);
		err = -EINVAL;
	}
	if (err)
		fprintf(stderr, "Try '%s --help'.\n", fp->prog);
	return err;
}

static void syslog_sink(int level, const char *fmt, va_list ap, void *arg)
{
	static const int prio[] = { LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };

	(void)arg;
	vsyslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], fmt, ap);
}

/* Applies a loaded model to the (empty) live model as a diff: that
 * pushes it all. as_base: a config file, which then is also the base
 * of runtime changes (apply.c), without being read a second time. */
static int apply_loaded(struct sluiced *d, struct cp_model *loaded, const char *what,
			int as_base)
{
	struct cp_error e = { "", "" };
	int err = cp_model_apply_diff(&d->model, loaded, &e);

	/* The diff keeps the live node's drained (an apply must not undo a
	 * drain); at start the loaded state is what the node was. */
	if (err >= 0)
		d->model.node.drained = loaded->node.drained;
	if (err >= 0 && as_base)
		d->applied = *loaded;
	else
		cp_model_free(loaded);
	if (err < 0) {
		pr_warn("applying %s: %s: %s\n", what, e.field, e.msg);
		return err;
	}
	pr_info("loaded %s (%zu VIPs)\n", what, d->model.n_vips);
	return 0;
}

/* What persist.c picks (the state file, a newer fallback, --start-from),
 * else the config file, else nothing, applied to the (empty) live model
 * as a diff: that pushes it all. A state file that is damaged or behind
 * refuses the start (persist.c says why and the way out): never an empty
 * or old state over a live fast path. Then the base of runtime changes
 * (apply.c). */
static int load_files(struct sluiced *d, const struct options *o)
{
	struct cp_error e = { "", "" };
	struct cp_model loaded;
	int got, err;

	got = sluiced_persist_load(d, o->start_from, &loaded);
	if (got < 0)
		return got;
	if (got > 0) {
		err = apply_loaded(d, &loaded, d->persist.loaded_from, 0);
		/* Taken from elsewhere than the state file: make it the state
		 * file (a failure is logged and retried there). */
		if (!err && got == 2)
			sluiced_persist(d, &e);
		d->started_from_state = !err;
		return err;
	}
	if (d->config_path[0]) {
		err = cp_state_load(d->config_path, &d->model.limits, &loaded, NULL, &e);
		if (err && err != -ENOENT) {
			pr_warn("%s: %s (nothing of it applied)\n", e.field, e.msg);
			return err;
		}
		if (!err)
			return apply_loaded(d, &loaded, d->config_path, 1);
	}
	pr_info("no state or config file: starting empty\n");
	return cp_model_init(&d->applied, &d->model.limits, NULL);
}

/* The files, with every backend getting its last known health as it is
 * added (the health file here, the adopted fast path's entries in the
 * model). */
static int health_load(void *arg)
{
	struct sluiced *d = arg;

	return cp_health_load(d->health_path, &d->model, &d->model.saved, &d->model.n_saved);
}

static int load_initial(struct sluiced *d, const struct options *o)
{
	int err;

	/* An unreadable file is logged and costs only what it knew. 100,000
	 * lines take ~40 ms: beside the control thread, which answers status
	 * meanwhile (nothing reads model.saved until the state loads). */
	if (d->health_path[0] && !cp_model_beside(&d->model, health_load, d))
		pr_info("%s: last known health of %zu backends\n", d->health_path,
			d->model.n_saved);
	err = load_files(d, o);
	free(d->model.saved);
	d->model.saved = NULL;
	d->model.n_saved = 0;
	return err;
}

/* SIGHUP: `sluicectl reload` without its answer; the log and the
 * metrics tell the outcome. */
static void reload(struct sluiced *d)
{
	json_decref(sluiced_apply(d, d->config_path, 0, "SIGHUP reload"));
}

/* --health-file, else "health" in the API socket's directory: runtime
 * state beside runtime state (/run/sluice), and a test's own. */
static int health_path_default(struct sluiced *d)
{
	const char *slash = strrchr(d->socket_path, '/');
	int n;

	if (d->health_path[0] || d->health_none)
		return 0;
	n = slash ? snprintf(d->health_path, sizeof(d->health_path), "%.*s/health",
			     (int)(slash - d->socket_path), d->socket_path)
		  : snprintf(d->health_path, sizeof(d->health_path), "health");
	return n < (int)sizeof(d->health_path) ? 0 : -ENAMETOOLONG;
}

static int health_save(void *arg)
{
	struct sluiced *d = arg;

	return cp_health_save(d->health_path, &d->model);
}

/* Written when some backend's health changed since the last write, at
 * most once a tick: healthd's flaps cost one write a second at most.
 * 100,000 backends take tens of milliseconds to write: on a helper
 * thread, while readers are served. */
static void health_flush(struct sluiced *d)
{
	if (!d->health_path[0] || d->model.health_changes == d->health_saved)
		return;
	cp_model_beside(&d->model, health_save, d);
	d->health_saved = d->model.health_changes;	/* a failure is logged; next change retries */
}

/* Said once when healthd falls silent (fail static: health stays as it
 * was last known), and once when it is back (do_heartbeat). Only when
 * some VIP has a check: without one nobody needs healthd. */
static void healthd_watch(struct sluiced *d)
{
	const struct cp_model *m = &d->model;

	if (d->healthd_silent || cp_model_healthd_up(m) || !cp_model_has_checks(m) ||
	    cp_model_healthd_age_ms(m) <= m->healthd.timeout_ms)
		return;
	d->healthd_silent = 1;
	pr_warn("no heartbeat from sluice-healthd for %llu s%s: backends keep their last known "
		"health until it is back\n",
		(unsigned long long)(cp_model_healthd_age_ms(m) / 1000),
		m->healthd.heartbeats ? "" : " since start");
}

static void health_tick(struct sluiced *d)
{
	cp_model_health_expire(&d->model);
	healthd_watch(d);
	health_flush(d);
	/* A write that failed is retried here too, with no change to wait for. */
	sluiced_announce(d, 1);
}

/* --- The announce table ------------------------------------------------ */

/* Where announced routes go: the netlink handle, and the interface they
 * point out of (0: blackhole; cp_fastpath.announce_ifindex). */
struct ann_out {
	struct cp_nl *nl;
	int oif;
};

static int ann_add(void *ctx, __u32 table, const struct cp_ann_addr *a)
{
	const struct ann_out *o = ctx;

	return cp_nl_vip_route(o->nl, 1, table, a->family, &a->addr, o->oif);
}

static int ann_del(void *ctx, __u32 table, const struct cp_ann_addr *a)
{
	const struct ann_out *o = ctx;

	return cp_nl_vip_route(o->nl, 0, table, a->family, &a->addr, 0);
}

struct ann_walk {
	cp_ann_list_fn fn;
	void *arg;
};

static int ann_one(void *arg, __u8 family, const struct lb_addr *addr)
{
	const struct ann_walk *w = arg;
	struct cp_ann_addr a;

	memset(&a, 0, sizeof(a));
	a.addr = *addr;
	a.family = family;
	return w->fn(w->arg, &a);
}

static int ann_list(void *ctx, __u32 table, cp_ann_list_fn fn, void *arg)
{
	struct ann_walk w = { fn, arg };

	return cp_nl_vip_routes(((const struct ann_out *)ctx)->nl, table, ann_one, &w);
}

static int detached(const struct sluiced *d, const char *ifname)
{
	for (int i = 0; i < d->n_detached; i++)
		if (!strcmp(d->detached[i], ifname))
			return 1;
	return 0;
}

int sluiced_attached(const struct sluiced *d)
{
	if (!d->driver.ops)
		return 0;
	for (int i = 0; i < d->model.node.n_interfaces; i++)
		if (!detached(d, d->model.node.interfaces[i]))
			return 1;
	return 0;
}

/* Cheap when nothing it depends on moved: the counts of changes (a node
 * set is one), of health changes (reports, overrides, expiries), of
 * drains and detaches, and whether the fast path forwards; compared one
 * by one, so no two moves cancel. */
void sluiced_announce(struct sluiced *d, int force)
{
	struct cp_ann_input in = { sluiced_attached(d) };
	__u64 now[4] = { d->model.stats.changes_applied, d->model.health_changes,
			 d->announce_pokes, (__u64)in.attached };

	if (!d->announce_on)
		return;
	if (!memcmp(now, d->announce_seen, sizeof(now)) && !(force && d->announce.pending))
		return;
	memcpy(d->announce_seen, now, sizeof(now));
	cp_announce_sync(&d->announce, &d->model, &in);
}

static int open_fastpath(struct sluiced *d, const struct options *o,
			 const struct cp_fastpath *fp)
{
	if (o->no_fastpath)
		return 0;
	return fp->open(fp->arg, &d->driver, &o->params, &d->adopted);
}

static int add_fd(int epfd, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int make_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int make_timerfd(time_t period_s)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = period_s },
		.it_value = { .tv_sec = period_s },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd >= 0 && timerfd_settime(fd, 0, &its, NULL)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Returns 1 to go on, 0 to exit. */
static int on_signal(struct sluiced *d, int sfd, const struct cp_fastpath *fp)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(d);
			continue;
		}
		pr_info("%s: exiting, %s\n", strsignal(si.ssi_signo),
			d->driver.ops ? fp->exit_log : "no fast path was running");
		return 0;
	}
	return 1;
}

struct loop {
	int epfd;
	int sfd;
	int tfd;
	struct cp_api *api;
	struct cp_nl *nl;
	int mfd;			/* metrics timer, or -1 */
	int hfd;			/* health timer */
	struct cp_metrics_http *metrics;	/* or NULL */
	struct cp_nl *ann_nl;		/* the announce table's writer: nl or its own */
	struct ann_out ann_out;
	char metrics_addr[64];		/* where l->metrics listens */
	char metrics_failed[64];	/* last address that would not listen */
	char metrics_ask;		/* epoll tag of a scrape's request (its fd) */
};

/* The listen address: --metrics, else the config's node setting, else
 * the default; NULL when disabled. */
static const char *metrics_listen(const struct sluiced *d, const struct options *o)
{
	if (o->metrics)
		return strcmp(o->metrics, "none") ? o->metrics : NULL;
	return d->model.node.metrics[0] ? d->model.node.metrics : CP_METRICS_DEFAULT_LISTEN;
}

/* Listens where the configuration says: at start, and within a metrics
 * tick of `node set --metrics`. The new listener opens before the old one
 * closes; an address that will not listen is logged once and the old
 * listener stays, so a typo never loses the endpoint. */
/* Returns 1 when it moved (the new listener has nothing published yet). */
static int metrics_follow(const struct sluiced *d, struct loop *l, const struct options *o)
{
	const char *want = metrics_listen(d, o);
	struct cp_metrics_http *h;

	if (!want || (l->metrics && !strcmp(want, l->metrics_addr)) ||
	    !strcmp(want, l->metrics_failed))
		return 0;
	h = cp_metrics_http_start(want);
	if (!h) {
		if (l->metrics)
			pr_warn("metrics stay on %s\n", l->metrics_addr);
		snprintf(l->metrics_failed, sizeof(l->metrics_failed), "%s", want);
		return 0;
	}
	/* Rendered when scraped, not every second: 100,000 backends take
	 * most of a second to render (metrics_http.h). Closing the old
	 * listener's fd takes it out of the epoll set. */
	if (add_fd(l->epfd, cp_metrics_http_on_demand(h), &l->metrics_ask))
		pr_warn("metrics: rendered every second, not on demand\n");
	cp_metrics_http_stop(l->metrics);
	l->metrics = h;
	snprintf(l->metrics_addr, sizeof(l->metrics_addr), "%s", want);
	l->metrics_failed[0] = 0;
	pr_info("metrics on %s\n", want);
	return 1;
}

/* Renders on this (the control) thread and hands the text over; the HTTP
 * thread never sees the model or the driver. */
static void metrics_publish(struct sluiced *d, struct loop *l)
{
	const struct sluiced_persist *p = &d->persist;
	const struct cp_metrics_daemon dm = {
		.state_write_failures = p->failures,
		.state_unsaved = p->unsaved,
		.state_last_write = (long long)p->last_ok,
		.state_generation = p->gen,
		.announced_addresses = d->announce.n_have,
		.node_drained = d->model.node.drained,
	};
	struct cp_api_stats api;
	char *text = NULL;
	size_t len;

	if (!l->metrics)
		return;
	cp_api_stats(l->api, &api);
	if (cp_metrics_render_daemon(&d->model, d->driver.ops ? &d->driver : NULL, SLUICE_VERSION,
				     &dm, &text, &len) ||
	    cp_metrics_append_api(&text, &len, &api)) {
		free(text);
		/* Keep serving the last one; /healthz still sees us alive. */
		cp_metrics_http_publish(l->metrics, NULL, 0);
		return;
	}
	cp_metrics_http_publish(l->metrics, text, len);
}

/* The metrics timer: a sign of life for /healthz, and a rendering only
 * where scrapes do not ask for one (on demand could not be set up). */
static void metrics_tick(struct sluiced *d, struct loop *l)
{
	if (l->metrics && cp_metrics_http_demand_fd(l->metrics) < 0)
		metrics_publish(d, l);
	else
		cp_metrics_http_alive(l->metrics);
}

/* What may be answered in the middle of a batch: the requests the op
 * table marks as reads (what the read group may send), which never
 * change the model. Unknown or malformed ones are answered (with their
 * error) too. */
static int defer_change(void *arg, const char *line, size_t len)
{
	const struct sluiced *d = arg;
	json_t *req = json_loadb(line, len, 0, NULL);
	enum cp_op op = cp_op_from_name(json_string_value(json_object_get(req, "op")));

	json_decref(req);
	/* While the state loads at start, only status (which says so): a
	 * listing of half the state would look like a complete one. */
	if (d->loading)
		return op != CP_OP_STATUS;
	return op != CP_OP_NONE && !cp_op_def(op)->read;
}

/* The model's yield hook (model.h): during a long batch the API keeps
 * answering reads; changes wait for the batch and are answered by the
 * next cp_api_dispatch. fd >= 0: the batch's grace period, on a helper
 * thread, ends when fd is readable. */
static void serve_during_batch(void *arg, int fd)
{
	struct loop *l = arg;
	struct pollfd p[2] = {
		{ .fd = cp_api_fd(l->api), .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};

	if (fd < 0 || (poll(p, 2, 1000) > 0 && (p[0].revents & POLLIN)))
		cp_api_dispatch_readonly(l->api, defer_change);
}

static void run(struct sluiced *d, struct loop *l, const struct options *o,
		const struct cp_fastpath *fp)
{
	char sfd_tag, tfd_tag, api_tag, nl_tag, mfd_tag, pfd_tag, hfd_tag;
	int running = 1;

	add_fd(l->epfd, l->sfd, &sfd_tag);
	add_fd(l->epfd, cp_api_fd(l->api), &api_tag);
	if (l->tfd >= 0)
		add_fd(l->epfd, l->tfd, &tfd_tag);
	if (l->nl)
		add_fd(l->epfd, cp_nl_monitor_fd(l->nl), &nl_tag);
	if (l->mfd >= 0)
		add_fd(l->epfd, l->mfd, &mfd_tag);
	if (sluiced_persist_fd(d) >= 0)
		add_fd(l->epfd, sluiced_persist_fd(d), &pfd_tag);
	if (l->hfd >= 0)
		add_fd(l->epfd, l->hfd, &hfd_tag);
	metrics_publish(d, l);

	/* Next hops are re-resolved in slices between events, so that the
	 * API keeps answering with thousands of backends; a change noticed
	 * during a round asks for one more round. After adopting a pinned
	 * fast path the first round starts at once: the load kept the next
	 * hops the pins held (model_push.c). */
	size_t cursor = 0;
	int refreshing = d->adopted && d->driver.ops, again = 0;

	while (running) {
		struct epoll_event evs[8];
		int n = epoll_wait(l->epfd, evs, 8, refreshing ? 0 : -1);
		int want_refresh = 0;

		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			int changed = 0;
			__u64 ticks;

			if (tag == &sfd_tag) {
				running = on_signal(d, l->sfd, fp);
				/* Answers what a reload's batch held back. */
				cp_api_dispatch(l->api);
			} else if (tag == &api_tag) {
				cp_api_dispatch(l->api);
			} else if (tag == &tfd_tag) {
				want_refresh |= read(l->tfd, &ticks, sizeof(ticks)) > 0;
			} else if (tag == &nl_tag) {
				cp_nl_monitor_read(l->nl, &changed);
				want_refresh |= changed != 0;
			} else if (tag == &pfd_tag) {
				sluiced_persist_retry(d);
			} else if (tag == &hfd_tag) {
				if (read(l->hfd, &ticks, sizeof(ticks)) > 0)
					health_tick(d);
			} else if (tag == &l->metrics_ask) {
				if (cp_metrics_http_asked(l->metrics))
					metrics_publish(d, l);
			} else if (tag == &mfd_tag) {
				if (read(l->mfd, &ticks, sizeof(ticks)) > 0) {
					if (metrics_follow(d, l, o))
						metrics_publish(d, l);
					metrics_tick(d, l);
				}
			}
		}
		/* A big batch left its new backends' next hops to a round. */
		want_refresh |= d->model.nexthops_deferred;
		d->model.nexthops_deferred = 0;
		if (want_refresh && d->driver.ops) {
			again = refreshing;
			refreshing = 1;
		}
		/* Whatever the events changed: the batch, a health report,
		 * an expiry, a node set, a drain, a detach. */
		sluiced_announce(d, 0);
		if (refreshing &&
		    !cp_model_refresh_nexthops_step(&d->model, &cursor, SLUICED_NH_SLICE)) {
			cursor = 0;
			refreshing = again;
			again = 0;
		}
	}
}

int cp_daemon_main(int argc, char **argv, const struct cp_fastpath *fp)
{
	struct options o = {
		.api = {
			.max_clients = CP_API_DEFAULT_MAX_CLIENTS,
			.idle_ms = CP_API_DEFAULT_IDLE_MS,
			.stall_ms = CP_API_DEFAULT_STALL_MS,
		},
	};
	struct loop l = { .epfd = -1, .sfd = -1, .tfd = -1, .mfd = -1, .hfd = -1 };
	struct sluiced *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return 1;
	strcpy(d->config_path, CP_DEFAULT_CONFIG);
	strcpy(d->state_path, CP_DEFAULT_STATE);
	strcpy(d->pending_path, CP_DEFAULT_PENDING);
	strcpy(d->socket_path, CP_API_DEFAULT_SOCKET);
	err = parse_options(argc, argv, d, &o, fp);
	if (!err && o.check_config)
		err = sluiced_check_config(o.check_config, &o.params, stdout) ? -EINVAL : 1;
	if (!err)
		err = health_path_default(d);
	if (err) {
		free(d);
		return err > 0 ? 0 : o.check_config ? 1 : 2;
	}
	if (d->state_path[0])
		snprintf(d->applied_path, sizeof(d->applied_path), "%s.applied", d->state_path);
	lb_log_set_level(LB_LOG_INFO + o.verbose);
	if (!o.foreground && !fp->no_daemon) {
		openlog(fp->prog, LOG_PID, LOG_DAEMON);
		lb_log_set_sink(syslog_sink, NULL);
		if (daemon(0, 0)) {
			pr_warn("daemon: %s\n", strerror(errno));
			return 1;
		}
	}

	/* A restart parses its state file while the fast path opens. */
	if (!o.start_from)
		sluiced_persist_preload(d, &o.params);
	err = open_fastpath(d, &o, fp);
	if (!err)
		/* Without a fast path the model still honours the sizes given. */
		err = cp_model_init(&d->model, d->driver.ops ? d->driver.ops->params(d->driver.ctx)
							      : &o.params,
				    d->driver.ops ? &d->driver : NULL);
	if (!err && !o.no_fastpath && !(fp->fixed_nexthop && fp->fixed_nexthop(fp->arg))) {
		l.nl = cp_nl_open();
		if (l.nl) {
			d->model.nexthop = cp_nl_fill_backend;
			d->model.nexthop_arg = l.nl;
		}
	}
	/* A backend at one of this host's addresses is refused, with or
	 * without a fast path; without one (l.nl NULL) each query opens
	 * a socket of its own. */
	d->model.is_local = cp_nl_is_local;
	d->model.is_local_arg = l.nl;
	/* After a restart the model takes the ids and gens the pinned
	 * program already uses: flows pinned to them keep their backend. */
	if (!err && o.healthd_timeout_ms)
		d->model.healthd.timeout_ms = (__u64)o.healthd_timeout_ms;
	/* The API opens before the state is loaded: a restart with 100,000
	 * backends answers reads while it loads (the load yields; changes
	 * wait for the loop), instead of seconds of silence. */
	if (!err) {
		l.api = cp_api_open(d->socket_path, sluiced_handle, d);
		err = l.api ? cp_api_set_limits(l.api, &o.api) : -errno;
		d->api = l.api;
	}
	if (!err) {
		d->model.yield = serve_during_batch;
		d->model.yield_arg = &l;
		cp_model_yield_default(serve_during_batch, &l);
	}
	if (!err && d->adopted)
		err = cp_model_adopt_begin(&d->model);
	d->loading = 1;
	if (!err)
		err = load_initial(d, &o);
	d->loading = 0;
	cp_model_adopt_end(&d->model);
	d->withdraw_on_exit = fp->withdraw_on_exit;
	if (!err && !o.no_fastpath) {
		/* Only now: until the state loaded, the routes a previous
		 * process left stay as they are (a hitless restart). */
		l.ann_nl = l.nl ? l.nl : cp_nl_open_requests();
		l.ann_out.nl = l.ann_nl;
		l.ann_out.oif = fp->announce_ifindex ? fp->announce_ifindex(fp->arg) : 0;
		cp_announce_init(&d->announce, &(struct cp_route_writer){
			ann_add, ann_del, ann_list, &l.ann_out });
		d->announce_on = 1;
		sluiced_announce(d, 1);
	}
	if (!err) {
		l.sfd = make_signalfd();
		l.epfd = epoll_create1(EPOLL_CLOEXEC);
		l.tfd = make_timerfd(SLUICED_NH_REFRESH_S);
		l.hfd = make_timerfd(SLUICED_HEALTH_PERIOD_S);
		err = l.sfd < 0 || l.epfd < 0 ? -errno : 0;
	}
	/* After load_initial: the config may name the address. A metrics
	 * endpoint that cannot listen is logged, not fatal: forwarding
	 * matters more than its counters. */
	if (!err && metrics_listen(d, &o)) {
		metrics_follow(d, &l, &o);
		l.mfd = make_timerfd(SLUICED_METRICS_PERIOD_S);
	}
	if (!err) {
		pr_info("serving %s\n", d->socket_path);
		/* After a start from the state file: parsing the base and the
		 * config file (100,000 lines each for a big site) yields, so
		 * reads are served meanwhile. Otherwise load_files set it. */
		if (d->started_from_state) {
			sluiced_load_base(d);
			sluiced_tell_drift(d);
		}
		run(d, &l, &o, fp);
	}
	cp_model_yield_default(NULL, NULL);
	d->model.yield = NULL;

	cp_metrics_http_stop(l.metrics);
	if (!err)
		health_flush(d);
	/* SIGTERM leaves sluiced's routes with its forwarding; a fast path
	 * whose forwarding ends here takes them along. */
	if (d->announce_on && d->withdraw_on_exit && cp_announce_withdraw(&d->announce))
		pr_warn("could not withdraw every VIP route\n");
	cp_announce_free(&d->announce);
	if (l.ann_nl && l.ann_nl != l.nl)
		cp_nl_close(l.ann_nl);
	if (l.mfd >= 0)
		close(l.mfd);
	if (l.hfd >= 0)
		close(l.hfd);
	cp_api_close(l.api);
	if (l.nl)
		cp_nl_close(l.nl);
	if (d->driver.ops)
		d->driver.ops->close(d->driver.ctx);
	cp_model_free(&d->model);
	cp_model_free(&d->applied);
	sluiced_persist_close(d);
	if (l.sfd >= 0)
		close(l.sfd);
	if (l.tfd >= 0)
		close(l.tfd);
	if (l.epfd >= 0)
		close(l.epfd);
	free(d);
	return err ? 1 : 0;
}
