/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - see log.h. No libbpf dependency: lib/ is linked by programs
 * (DPDK fast path, health daemon) that do not use libbpf.
 */
#include <stdio.h>

#include "log.h"

static void stderr_sink(int level, const char *fmt, va_list ap, void *arg)
{
	(void)level;
	(void)arg;
	vfprintf(stderr, fmt, ap);
}

static int log_level = LB_LOG_INFO;
static void (*log_sink)(int, const char *, va_list, void *) = stderr_sink;
static void *log_sink_arg;

void lb_log_set_sink(void (*sink)(int level, const char *fmt, va_list ap, void *arg),
		     void *arg)
{
	log_sink_arg = arg;
	log_sink = sink ? sink : stderr_sink;
}

void lb_log_reset_sink(void)
{
	lb_log_set_sink(NULL, NULL);
}

int lb_log_set_level(int level)
{
	if (level < LB_LOG_WARN)
		level = LB_LOG_WARN;
	if (level > LB_LOG_TRACE)
		level = LB_LOG_TRACE;
	return __atomic_exchange_n(&log_level, level, __ATOMIC_RELAXED);
}

int lb_log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void lb_vlog(int level, const char *fmt, va_list ap)
{
	if (level > lb_log_get_level())
		return;
	log_sink(level, fmt, ap, log_sink_arg);
}

void lb_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lb_vlog(level, fmt, ap);
	va_end(ap);
}

int lb_log_libbpf_print(int libbpf_level, const char *fmt, va_list ap)
{
	/* libbpf's warnings are often expected (feature probes) and the
	 * caller logs the failure that matters, so they become info. */
	int level = libbpf_level + 1;

	if (level > LB_LOG_TRACE)
		level = LB_LOG_TRACE;
	if (level < LB_LOG_INFO)
		level = LB_LOG_INFO;
	lb_vlog(level, fmt, ap);
	return 0;
}
