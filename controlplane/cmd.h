/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd.h - the sluicectl command language, in one place: sluicectl parses
 * its argv with it, sluiced parses config-script lines with it, and
 * `save` formats the state back into it. A config script is a sequence of
 * these commands, one per line, '#' starting a comment.
 */
#ifndef SLUICE_CP_CMD_H
#define SLUICE_CP_CMD_H

#include <stddef.h>
#include <stdio.h>
#include "request.h"

/* Parses argv (without the program name, e.g. {"vip", "add",
 * "10.100.0.1:80/tcp", "--ring", "65537"}) into r. Returns 0, or -EINVAL
 * with e naming the offending word and why; r is untouched on error.
 * e->field: the unknown command/option/extra word as typed ("--wieght"),
 * the option name for a bad value ("weight", "check-interval"), the
 * positional's name for a bad or missing one ("vip", "backend",
 * "health"), the command ("backend set") when a SET changes nothing.
 * Options may come before, between or after the positionals, as
 * "--opt value" or "--opt=value"; a value starting with "--" must use
 * the '=' form. "--help" is the caller's business. Never prints. */
int cp_cmd_parse(int argc, char **argv, struct cp_request *r, struct cp_error *e);

/* For "sluicectl WORDS... --help": the words before the first option
 * must name a command ("vip add"), a group ("vip") or a command without
 * a verb and its arguments ("flows VIP"). *group: the group whose usage
 * to print (NULL: no word, all of them). 0, or -EINVAL with e as
 * cp_cmd_parse sets it ("unknown command 'explain'; commands: ..."). */
int cp_cmd_help_topic(int argc, char **argv, const char **group, struct cp_error *e);

/* Splits one config line into words (whitespace separated, "double" and
 * 'single' quotes, backslash escapes, '#' comment to end of line) in
 * place. Returns the word count (0: blank or comment), or -EINVAL for an
 * unterminated quote; more than max words: -E2BIG. POSIX shell rules:
 * nothing is special inside '...'; elsewhere a backslash takes the next
 * byte literally (a trailing one is -EINVAL: no line continuation); '#'
 * starts a comment only at the start of a word. words[n] = NULL if n <
 * max. The words point into line. */
int cp_cmd_split(char *line, char **words, int max);

/* Longest config line accepted (and so the longest line `save` may
 * write), and words per line: a node set with every interface is ~25. */
#define CP_CMD_MAX_LINE 4096
#define CP_CMD_MAX_WORDS 64

/* One line of a config script or of a `sluicectl batch` (len bytes,
 * without its newline; split in place) into r: 1, 0 for a blank or
 * comment line, or -EINVAL with why set (a line too long, a NUL byte,
 * too many words, an unterminated quote, or cp_cmd_parse's reason).
 * Every op is taken: which ones a script may hold is the caller's. */
int cp_cmd_parse_line(char *line, size_t len, struct cp_request *r, struct cp_error *why);

/* Formats a change request (VIP_ADD, BACKEND_ADD, NODE_SET, ...) as one
 * command line that cp_cmd_parse reads back into an equal request;
 * options equal to their defaults are left out. Returns the length, or
 * -ENOSPC if buf is too small, -EINVAL for an op with no command form.
 *
 * Which options are written: for VIP_ADD and BACKEND_ADD, those whose
 * value differs from cp_request_init()'s (r->fields is not consulted:
 * an ADD means the same either way); for every other op, exactly those
 * in r->fields. So a SET/NODE_SET with no field bit set gives a line
 * cp_cmd_parse refuses ("changes nothing"). Every op has a command form;
 * a value the parser would refuse (an unknown affinity, a path with a
 * control character, health UNKNOWN in a report) is -EINVAL. No newline
 * is added. Words are quoted for cp_cmd_split (and a POSIX shell). */
int cp_cmd_format(const struct cp_request *r, char *buf, size_t len);

/* The fields op takes as long options: those it accepts that have one
 * and are not its positionals. */
__u64 cp_cmd_options(enum cp_op op);

/* A duration as a command line writes it: "2s", "500ms", "1.5s", "15m",
 * "1h", or a bare "0" (a number always carries its unit). *ms:
 * milliseconds. 0, or -EINVAL with e naming name and why. Also for the
 * daemons' own duration options, so that every program reads them alike. */
int cp_cmd_parse_duration(const char *s, const char *name, long long *ms, struct cp_error *e);

/* A duration of v in unit u as a command line writes it: in the largest
 * unit that states it exactly (2s, 1500ms, 15m, 1h); 0 as "0" plus u. */
void cp_cmd_format_duration(__u64 v, enum cp_unit u, char *buf, size_t len);

/* Writes the usage text of a command group ("vip", "backend", ...; NULL
 * or an unknown group: all of them) to out, for --help and error
 * messages. Option lines come from the field table (request.h). 0 or
 * -EIO. */
int cp_cmd_usage(FILE *out, const char *group);

#endif /* SLUICE_CP_CMD_H */
