/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - the one logger of Sluice's userspace (loader, control plane,
 * health daemon, DPDK fast path's control thread). Never used per packet.
 *
 * Messages are printf formats and carry their own trailing newline, like
 * libbpf's, so libbpf output can pass through unchanged.
 *
 * Levels, most to least severe. A message is emitted when its level is <=
 * the current level (default LB_LOG_INFO).
 *
 * libbpf: lib/ does not link libbpf, so this file only provides
 * lb_log_libbpf_print(), which takes libbpf's level as a plain int
 * (LIBBPF_WARN 0, LIBBPF_INFO 1, LIBBPF_DEBUG 2) and demotes it one level
 * (warn -> info, info -> debug, debug -> trace). The adapter with libbpf's
 * exact libbpf_print_fn_t signature (enum first argument) lives with the
 * code that links libbpf (xdp/loader.c), which registers it with
 * libbpf_set_print().
 *
 * Threads: lb_log() may be called from any thread; the level is read
 * atomically. Set the sink once at start-up, before other threads log.
 */
#ifndef SLUICE_LIB_LOG_H
#define SLUICE_LIB_LOG_H

#include <stdarg.h>

#define LB_LOG_WARN 0	/* something failed or was refused */
#define LB_LOG_INFO 1	/* state changes an operator wants to see */
#define LB_LOG_DEBUG 2	/* details for a developer */
#define LB_LOG_TRACE 3	/* very chatty: libbpf's debug output */

/* Where messages go: called with the message's level, format and
 * arguments. The default sink writes to stderr. */
void lb_log_set_sink(void (*sink)(int level, const char *fmt, va_list ap, void *arg),
		     void *arg);
/* Restores the stderr sink. */
void lb_log_reset_sink(void);

/* Sets the most verbose level emitted (values outside WARN..TRACE are
 * clamped); returns the previous one. */
int lb_log_set_level(int level);
int lb_log_get_level(void);

void lb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lb_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* libbpf's print callback with the level passed as an int; see above.
 * Returns what vfprintf-like sinks return (0 here). */
int lb_log_libbpf_print(int libbpf_level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Every message names the file it comes from with one prefix, defined
 * once at the top of that file, before any #include:
 *
 *	#define LB_LOG_PREFIX "model: "
 *
 * so nothing passes a "who" string down through calls to say where a
 * message came from. A file that logs without defining it does not
 * compile. fmt must be a string literal. */
#define pr_warn(fmt, ...) lb_log(LB_LOG_WARN, LB_LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) lb_log(LB_LOG_INFO, LB_LOG_PREFIX fmt, ##__VA_ARGS__)
/* Debug lines often format their arguments (addresses, VIP keys): those
 * are evaluated only when the line would be emitted, so that a line per
 * backend costs nothing at the default level (100,000 of them took 60 ms
 * of a restart). */
#define pr_debug(fmt, ...)                                                     \
	do {                                                                   \
		if (lb_log_get_level() >= LB_LOG_DEBUG)                        \
			lb_log(LB_LOG_DEBUG, LB_LOG_PREFIX fmt, ##__VA_ARGS__); \
	} while (0)

#endif /* SLUICE_LIB_LOG_H */
