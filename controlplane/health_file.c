// SPDX-License-Identifier: Apache-2.0
/*
 * health_file.c - the last known health of every backend across a restart
 * (health_file.h). Lines are split by cp_cmd_split, so text is written
 * with a backslash before every byte that is not a letter or a digit.
 */
#define LB_LOG_PREFIX "health: "

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "health_file.h"
#include "log.h"

#define HF_MAX_LINE 1024
#define HF_MAX_WORDS 16

/* Model clock -> wall clock and back: the file outlives the process,
 * whose monotonic clock it cannot name. */
static long long wall_offset_ms(const struct cp_model *m)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000 - (long long)cp_model_now_ms(m);
}

static const char *word_of(enum cp_health h)
{
	return h == CP_HEALTH_UP ? "up" : h == CP_HEALTH_DOWN ? "down" : "unknown";
}

static void put_text(FILE *f, const char *key, const char *s)
{
	if (!s[0])
		return;
	fprintf(f, " %s=", key);
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			fputc('\\', f);
		fputc(*s, f);
	}
}

static void put_backend(FILE *f, const struct cp_vip *v, const struct cp_backend *b,
			long long off)
{
	char k[96], a[64];

	fprintf(f, "%s %s init=%s health=%s", cp_format_vip(&v->key, k, sizeof(k)),
		cp_format_addr(&b->addr, b->family, a, sizeof(a)), word_of(b->init),
		word_of(b->health));
	if (b->latency_us)
		fprintf(f, " latency_us=%u", b->latency_us);
	put_text(f, "reason", b->last_check);
	if (b->override != CP_HEALTH_UNKNOWN) {
		fprintf(f, " override=%s until=%lld", word_of(b->override),
			b->override_until_ms ? (long long)b->override_until_ms + off : 0);
		put_text(f, "override_reason", b->override_reason);
	}
	fputc('\n', f);
}

static int write_all(FILE *f, const struct cp_model *m)
{
	long long off = wall_offset_ms(m);

	fputs("# sluice health: the last known health of each backend; sluiced rewrites it\n", f);
	for (size_t i = 0; i < m->n_vips; i++)
		for (size_t j = 0; j < m->vips[i].n_backends; j++)
			put_backend(f, &m->vips[i], &m->vips[i].backends[j], off);
	return fflush(f) || ferror(f) ? -EIO : 0;
}

int cp_health_save(const char *path, const struct cp_model *m)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	FILE *f;
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0700) && errno != EEXIST) {
		err = -errno;
		goto fail;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto fail;
	}
	err = write_all(f, m);
	if (!err && fsync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (!err)
		return 0;
fail:
	pr_warn("cannot write %s: %s\n", path, strerror(-err));
	unlink(tmp);
	return err;
}

static int health_word(const char *s, enum cp_health *h, int unknown_ok)
{
	if (!strcmp(s, "up"))
		*h = CP_HEALTH_UP;
	else if (!strcmp(s, "down"))
		*h = CP_HEALTH_DOWN;
	else if (unknown_ok && !strcmp(s, "unknown"))
		*h = CP_HEALTH_UNKNOWN;
	else
		return -EINVAL;
	return 0;
}

/* A text value, held to what `health report --reason` takes. */
static int text_word(const char *s, char *dst, size_t len)
{
	struct cp_request r;

	cp_request_init(&r, CP_OP_HEALTH_REPORT);
	if (cp_request_set_text(&r, CP_F_REASON, s, NULL, NULL) || strlen(s) >= len)
		return -EINVAL;
	snprintf(dst, len, "%s", s);
	return 0;
}

static int parse_num(const char *s, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno || end == s || *end || *v < 0 ? -EINVAL : 0;
}

static int parse_kv(const char *w, struct cp_health_saved *s, long long off)
{
	const char *val = strchr(w, '=');
	enum cp_health h;
	size_t klen;
	long long v;

	if (!val)
		return -EINVAL;
	klen = (size_t)(val++ - w);
#define KEY(name) (klen == strlen(name) && !strncmp(w, name, klen))
	if (KEY("init")) {
		if (health_word(val, &h, 0))
			return -EINVAL;
		s->init = (__u8)h;
		return 0;
	}
	if (KEY("health"))
		return health_word(val, &s->health, 1);
	if (KEY("override"))
		return health_word(val, &s->override, 0);
	if (KEY("reason"))
		return text_word(val, s->last_check, sizeof(s->last_check));
	if (KEY("override_reason"))
		return text_word(val, s->override_reason, sizeof(s->override_reason));
	if (parse_num(val, &v))
		return -EINVAL;
	if (KEY("latency_us") && v <= 0xffffffffLL) {
		s->latency_us = (__u32)v;
		return 0;
	}
	if (KEY("until")) {
		/* Already past, or before the model clock began: expired. */
		s->override_until_ms = v == 0 ? 0 : v - off > 0 ? (__u64)(v - off) : 1;
		return 0;
	}
#undef KEY
	return -EINVAL;
}

static int parse_line(char *line, struct cp_health_saved *s, long long off)
{
	char *w[HF_MAX_WORDS];
	int n = cp_cmd_split(line, w, HF_MAX_WORDS);

	memset(s, 0, sizeof(*s));
	if (n <= 0)
		return n;
	if (n < 3 || cp_parse_vip(w[0], &s->vip, NULL) || cp_parse_addr(w[1], &s->addr, &s->family))
		return -EINVAL;
	s->init = CP_HEALTH_UP;
	for (int i = 2; i < n; i++)
		if (parse_kv(w[i], s, off))
			return -EINVAL;
	return 1;
}

static int grow(struct cp_health_saved **a, size_t n, size_t *cap)
{
	struct cp_health_saved *p;

	if (n < *cap)
		return 0;
	*cap = *cap ? 2 * *cap : 64;
	p = realloc(*a, *cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*a = p;
	return 0;
}

int cp_health_load(const char *path, const struct cp_model *m, struct cp_health_saved **out,
		   size_t *n)
{
	long long off = wall_offset_ms(m);
	FILE *f = fopen(path, "re");
	char line[HF_MAX_LINE];
	unsigned long no = 0;
	size_t cap = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!f) {
		err = -errno;
		if (err != -ENOENT)
			pr_warn("cannot read %s: %s\n", path, strerror(-err));
		return err;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		struct cp_health_saved s;
		int rc;

		no++;
		line[strcspn(line, "\n")] = '\0';
		rc = parse_line(line, &s, off);
		if (rc < 0) {
			pr_warn("%s:%lu: not a health line; skipped\n", path, no);
			continue;
		}
		if (rc == 0)
			continue;
		err = grow(out, *n, &cap);
		if (!err)
			(*out)[(*n)++] = s;
	}
	fclose(f);
	if (err) {
		free(*out);
		*out = NULL;
		*n = 0;
	} else if (*n > 1) {
		qsort(*out, *n, sizeof(**out), cp_health_saved_cmp);
	}
	return err;
}
