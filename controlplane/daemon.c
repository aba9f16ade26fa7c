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
#include "daemon.h"
#include "daemon_int.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "nl.h"
#include "numparse.h"
#include "state.h"

#define SLUICED_NH_REFRESH_S 5
#define SLUICED_NH_SLICE 32	/* backends re-resolved between two looks at the API */
#define SLUICED_METRICS_PERIOD_S 1	/* a fresh /metrics snapshot this often */

static const char usage_common[] =
"  -c, --config FILE      config script loaded at the first start and re-applied\n"
"                         as a diff on SIGHUP (default " CP_DEFAULT_CONFIG ")\n"
"  -s, --state FILE       persisted state, written after every change and loaded\n"
"                         at start when present (default " CP_DEFAULT_STATE ")\n"
"      --socket PATH      API socket (default " CP_API_DEFAULT_SOCKET ")\n"
"      --metrics A:P      serve Prometheus /metrics and /healthz on A:P\n"
"                         (\"[V6]:P\" for IPv6; \"none\" to disable; default:\n"
"                         the config's `node set --metrics`, else " CP_METRICS_DEFAULT_LISTEN ")\n"
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
"Signals: SIGHUP re-applies the config file as a diff; SIGTERM and SIGINT\n";

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
	struct lb_params params;
};

static int set_path(char *dst, const char *src)
{
	if (strlen(src) >= PATH_MAX)
		return -ENAMETOOLONG;
	strcpy(dst, src);
	return 0;
}

#define CP_DAEMON_MAX_OPTIONS 32

/* 0: run; 1: done (--help, --version); -EINVAL: bad command line. */
static int parse_options(int argc, char **argv, struct sluiced *d, struct options *o,
			 const struct cp_fastpath *fp)
{
	static const struct option common[] = {
		{ "config", required_argument, 0, 'c' },
		{ "state", required_argument, 0, 's' },
		{ "socket", required_argument, 0, 'S' },
		{ "metrics", required_argument, 0, 'M' },
		{ "no-fastpath", no_argument, 0, 'N' },
		{ "max-vips", required_argument, 0, 'V' },
		{ "max-backends", required_argument, 0, 'B' },
		{ "max-ring", required_argument, 0, 'R' },
		{ "flow-buckets", required_argument, 0, 'F' },
		{ "foreground", no_argument, 0, 'f' },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'Z' },
	};
	struct option longopts[CP_DAEMON_MAX_OPTIONS] = { 0 };
	size_t n = sizeof(common) / sizeof(common[0]);
	int c, idx, err = 0;

	memcpy(longopts, common, sizeof(common));
	for (size_t i = 0; fp->options && fp->options[i].name && n < CP_DAEMON_MAX_OPTIONS - 1; i++)
		longopts[n++] = fp->options[i];

	while (!err && (idx = -1, c = getopt_long(argc, argv, "c:s:fvh", longopts, &idx)) != -1) {
		switch (c) {
		case 'c': err = set_path(d->config_path, optarg); break;
		case 's': err = set_path(d->state_path, optarg); break;
		case 'S': err = set_path(d->socket_path, optarg); break;
		case 'M': o->metrics = optarg; break;
		case 'N': o->no_fastpath = 1; break;
		case 'V': err = lb_numparse_u32(optarg, &o->params.max_vips); break;
		case 'B': err = lb_numparse_u32(optarg, &o->params.max_backends); break;
		case 'R': err = lb_numparse_u32(optarg, &o->params.max_ring); break;
		case 'F': err = lb_numparse_u32(optarg, &o->params.flow_buckets); break;
		case 'f': o->foreground = 1; break;
		case 'v': o->verbose++; break;
		case 'h': print_usage(fp); return 1;
		case 'Z': printf("%s %s\n", fp->prog, SLUICE_VERSION); return 1;
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

/* Loads the state file, else the config file, else nothing, and applies
 * it to the (empty) live model as a diff: that pushes it all. */
static int load_initial(struct sluiced *d)
{
	const char *paths[] = { d->state_path, d->config_path };
	struct cp_error e = { "", "" };
	struct cp_model loaded;

	for (size_t i = 0; i < 2; i++) {
		int err;

		if (!paths[i][0])
			continue;
		err = cp_state_load(paths[i], &d->model.limits, &loaded, &e);
		if (err == -ENOENT)
			continue;
		if (err) {
			pr_warn("%s: %s (nothing of it applied)\n", e.field, e.msg);
			return err;
		}
		err = cp_model_apply_diff(&d->model, &loaded, &e);
		cp_model_free(&loaded);
		if (err < 0) {
			pr_warn("applying %s: %s: %s\n", paths[i], e.field, e.msg);
			return err;
		}
		pr_info("loaded %s (%zu VIPs)\n", paths[i], d->model.n_vips);
		return 0;
	}
	pr_info("no state or config file: starting empty\n");
	return 0;
}

/* SIGHUP: the config file as a diff; a bad file changes nothing. */
static void reload(struct sluiced *d)
{
	struct cp_error e = { "", "" };
	struct cp_model target;
	int n;

	if (cp_state_load(d->config_path, &d->model.limits, &target, &e)) {
		pr_warn("reload: %s: %s (nothing applied)\n",
			e.field[0] ? e.field : d->config_path, e.msg[0] ? e.msg : "cannot read");
		return;
	}
	n = cp_model_apply_diff(&d->model, &target, &e);
	cp_model_free(&target);
	if (n < 0) {
		pr_warn("reload: %s: %s\n", e.field, e.msg);
		return;
	}
	pr_info("reload: %d change(s) from %s\n", n, d->config_path);
	if (n > 0 && d->state_path[0])
		cp_state_save(d->state_path, &d->model);
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
	struct cp_metrics_http *metrics;	/* or NULL */
	char metrics_addr[64];		/* where l->metrics listens */
	char metrics_failed[64];	/* last address that would not listen */
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
static void metrics_follow(const struct sluiced *d, struct loop *l, const struct options *o)
{
	const char *want = metrics_listen(d, o);
	struct cp_metrics_http *h;

	if (!want || (l->metrics && !strcmp(want, l->metrics_addr)) ||
	    !strcmp(want, l->metrics_failed))
		return;
	h = cp_metrics_http_start(want);
	if (!h) {
		if (l->metrics)
			pr_warn("metrics stay on %s\n", l->metrics_addr);
		snprintf(l->metrics_failed, sizeof(l->metrics_failed), "%s", want);
		return;
	}
	cp_metrics_http_stop(l->metrics);
	l->metrics = h;
	snprintf(l->metrics_addr, sizeof(l->metrics_addr), "%s", want);
	l->metrics_failed[0] = 0;
	pr_info("metrics on %s\n", want);
}

/* Renders on this (the control) thread and hands the text over; the HTTP
 * thread never sees the model or the driver. */
static void metrics_publish(struct sluiced *d, struct loop *l)
{
	char *text;
	size_t len;

	if (!l->metrics)
		return;
	if (cp_metrics_render(&d->model, d->driver.ops ? &d->driver : NULL, SLUICE_VERSION,
			      &text, &len)) {
		/* Keep serving the last one; /healthz still sees us alive. */
		cp_metrics_http_publish(l->metrics, NULL, 0);
		return;
	}
	cp_metrics_http_publish(l->metrics, text, len);
}

/* What may be answered in the middle of a batch: requests that only
 * read. Unknown or malformed ones are answered (with their error) too. */
static int defer_change(void *arg, const char *line, size_t len)
{
	json_t *req = json_loadb(line, len, 0, NULL);
	enum cp_op op = cp_op_from_name(json_string_value(json_object_get(req, "op")));

	(void)arg;
	json_decref(req);
	switch (op) {
	case CP_OP_NONE:
	case CP_OP_VIP_LIST:
	case CP_OP_BACKEND_LIST:
	case CP_OP_HEALTH_TARGETS:
	case CP_OP_STATS:
	case CP_OP_FLOWS:
	case CP_OP_RING_DIGEST:
	case CP_OP_SAVE:
	case CP_OP_STATUS:
		return 0;
	default:
		return 1;
	}
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
	char sfd_tag, tfd_tag, api_tag, nl_tag, mfd_tag;
	int running = 1;

	add_fd(l->epfd, l->sfd, &sfd_tag);
	add_fd(l->epfd, cp_api_fd(l->api), &api_tag);
	if (l->tfd >= 0)
		add_fd(l->epfd, l->tfd, &tfd_tag);
	if (l->nl)
		add_fd(l->epfd, cp_nl_monitor_fd(l->nl), &nl_tag);
	if (l->mfd >= 0)
		add_fd(l->epfd, l->mfd, &mfd_tag);
	metrics_publish(d, l);

	/* Next hops are re-resolved in slices between events, so that the
	 * API keeps answering with thousands of backends; a change noticed
	 * during a round asks for one more round. */
	size_t cursor = 0;
	int refreshing = 0, again = 0;

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
			} else if (tag == &mfd_tag) {
				if (read(l->mfd, &ticks, sizeof(ticks)) > 0) {
					metrics_follow(d, l, o);
					metrics_publish(d, l);
				}
			}
		}
		if (want_refresh && d->driver.ops) {
			again = refreshing;
			refreshing = 1;
		}
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
	struct options o = { 0 };
	struct loop l = { .epfd = -1, .sfd = -1, .tfd = -1, .mfd = -1 };
	struct sluiced *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return 1;
	strcpy(d->config_path, CP_DEFAULT_CONFIG);
	strcpy(d->state_path, CP_DEFAULT_STATE);
	strcpy(d->socket_path, CP_API_DEFAULT_SOCKET);
	err = parse_options(argc, argv, d, &o, fp);
	if (err) {
		free(d);
		return err > 0 ? 0 : 2;
	}
	lb_log_set_level(LB_LOG_INFO + o.verbose);
	if (!o.foreground && !fp->no_daemon) {
		openlog(fp->prog, LOG_PID, LOG_DAEMON);
		lb_log_set_sink(syslog_sink, NULL);
		if (daemon(0, 0)) {
			pr_warn("daemon: %s\n", strerror(errno));
			return 1;
		}
	}

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
	/* After a restart the model takes the ids and gens the pinned
	 * program already uses: flows pinned to them keep their backend. */
	if (!err && d->adopted)
		err = cp_model_adopt_begin(&d->model);
	if (!err)
		err = load_initial(d);
	cp_model_adopt_end(&d->model);
	if (!err) {
		l.api = cp_api_open(d->socket_path, sluiced_handle, d);
		err = l.api ? 0 : -errno;
	}
	if (!err) {
		l.sfd = make_signalfd();
		l.epfd = epoll_create1(EPOLL_CLOEXEC);
		l.tfd = make_timerfd(SLUICED_NH_REFRESH_S);
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
		d->model.yield = serve_during_batch;
		d->model.yield_arg = &l;
		cp_model_yield_default(serve_during_batch, &l);
		run(d, &l, &o, fp);
		cp_model_yield_default(NULL, NULL);
		d->model.yield = NULL;
	}

	cp_metrics_http_stop(l.metrics);
	if (l.mfd >= 0)
		close(l.mfd);
	cp_api_close(l.api);
	if (l.nl)
		cp_nl_close(l.nl);
	if (d->driver.ops)
		d->driver.ops->close(d->driver.ctx);
	cp_model_free(&d->model);
	if (l.sfd >= 0)
		close(l.sfd);
	if (l.tfd >= 0)
		close(l.tfd);
	if (l.epfd >= 0)
		close(l.epfd);
	free(d);
	return err ? 1 : 0;
}
