// SPDX-License-Identifier: Apache-2.0
/*
 * healthd.c - sluice-healthd's main(): options, logging, signals. The
 * loop itself is daemon.c over check.c.
 */
#define LB_LOG_PREFIX "sluice-healthd: "

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "api.h"
#include "daemon.h"
#include "log.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sluice-healthd [OPTIONS]\n"
"\n"
"Runs the active health checks of every backend of every VIP that has a\n"
"check, and tells sluiced when a backend goes down or comes back up.\n"
"\n"
"The targets and their checks come from sluiced: every --refresh milliseconds\n"
"sluice-healthd sends a heartbeat (`health.heartbeat` on its API socket),\n"
"answered with the targets and sluiced's view of each: new backends start\n"
"being checked, removed ones stop, a backend whose check changed starts\n"
"over, and one whose known health sluiced sees otherwise (a report sent by\n"
"hand) is reported again at once. sluiced reports a healthd silent past its\n"
"--healthd-timeout (status, metrics, log).\n"
"All checks run from one epoll loop on one core.\n"
"\n"
"Checks (set per VIP with `sluicectl vip set VIP --check ...`):\n"
"  tcp    the TCP connect completes\n"
"  http   HTTP/1.1 GET check-path with Host check-host (default: the backend\n"
"         address) and Connection: close; the status code must equal\n"
"         check-status (only the status line is read)\n"
"  udp    check-payload is sent; any datagram back before the timeout is a\n"
"         success, an ICMP port unreachable a failure\n"
"Each runs every check-interval (+/-10%% jitter) and fails after\n"
"check-timeout. Like HAProxy's `check inter 2s rise 2 fall 3`, a backend\n"
"is reported down after check-fall consecutive failures and up after\n"
"check-rise consecutive successes; until then its health is unknown.\n"
"\n"
"Reports are `health.report` calls (up/down, latency in microseconds and a\n"
"reason such as \"connect: Connection refused\" or \"HTTP 503\"). While sluiced\n"
"is unreachable the checks go on and the daemon retries after 100 ms,\n"
"200 ms, ... up to 5 s; once it answers again (and at start) every backend\n"
"whose health is known is reported again. If sluice-healthd stops, sluiced\n"
"keeps the last health it was told. An operator's `sluicectl health set`\n"
"overrides what this daemon reports until it expires or is cleared.\n"
"\n"
"Options:\n"
"  -s, --socket PATH   sluiced's API socket (default %s)\n"
"  -r, --refresh MS    heartbeat and re-read the targets every MS milliseconds\n"
"                      (default 2000, at least 100)\n"
"  -f, --foreground    stay in the foreground and log to stderr (default:\n"
"                      detach like sluiced and log to syslog, facility daemon)\n"
"  -v, --verbose       more detail: once each check's result, twice trace\n"
"  -V, --version       print the version and exit\n"
"  -h, --help          print this help and exit\n"
"\n"
"Signals: SIGTERM and SIGINT stop it cleanly.\n"
"Exit status: 0 after a signal, 1 on a start-up failure, 2 on bad usage.\n",
		CP_API_DEFAULT_SOCKET);
}

static void syslog_sink(int level, const char *fmt, va_list ap, void *arg)
{
	static const int prio[] = { LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };

	(void)arg;
	vsyslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], fmt, ap);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "refresh", required_argument, NULL, 'r' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hd_config cfg = { .socket = CP_API_DEFAULT_SOCKET, .refresh_ms = 2000 };
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, old;
	int foreground = 0, verbose = 0, c;
	struct healthd *d;
	char *end;
	long v;

	while ((c = getopt_long(argc, argv, "s:r:fvVh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cfg.socket = optarg;
			break;
		case 'r':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 100 || v > 3600000) {
				fprintf(stderr, "sluice-healthd: --refresh: '%s' is not a number of "
					"milliseconds in 100..3600000\n", optarg);
				return 2;
			}
			cfg.refresh_ms = (int)v;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("sluice-healthd %s\n", SLUICE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluice-healthd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	lb_log_set_level(LB_LOG_INFO + verbose);
	if (!foreground) {
		openlog("sluice-healthd", LOG_PID, LOG_DAEMON);
		lb_log_set_sink(syslog_sink, NULL);
		if (daemon(0, 0)) {
			pr_warn("daemon: %s\n", strerror(errno));
			return 1;
		}
	}

	/* SIGTERM/SIGINT are blocked except inside epoll_pwait: no lost wake. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigdelset(&old, SIGTERM);
	sigdelset(&old, SIGINT);

	d = hd_new(&cfg);
	if (!d) {
		pr_warn("cannot start: %s\n", strerror(errno));
		return 1;
	}
	pr_info("sluice-healthd %s: sluiced on %s, refresh every %d ms\n", SLUICE_VERSION,
		cfg.socket, cfg.refresh_ms);
	while (!stop)
		hd_poll(d, -1, &old);
	pr_info("stopping (%zu targets)\n", hd_target_count(d));
	hd_free(d);
	if (!foreground)
		closelog();
	return 0;
}
