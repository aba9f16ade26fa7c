// SPDX-License-Identifier: Apache-2.0
/*
 * test_state.c - controlplane/state.c: a written state file loads back
 * as the same model with its generation; every truncation of it, at any
 * byte, is refused (never an emptier model); a line of garbage is named
 * by its line; the previous copy is kept; the unsaved mark is read back;
 * legacy files (no frame) still load; temporaries of killed writers are
 * removed; file:line keeps a long path whole; a big state rendered in
 * pieces reads back the same; a pipe reads whole.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "state.h"

static const char script[] =
	"vip add 10.100.0.1:80/tcp\n"
	"backend add 10.100.0.1:80/tcp 10.0.0.11\n"
	"backend add 10.100.0.1:80/tcp 10.0.0.12 --weight 50\n"
	"vip add 10.100.0.2:53/udp\n";

struct fixture {
	char dir[256];
	char path[PATH_MAX];
	struct lb_params lim;
	struct cp_model m;
};

static void put(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *get(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	*len = fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct cp_error e = { "", "" };
	char conf[PATH_MAX + 16];

	lb_log_set_level(LB_LOG_WARN);
	/* A long directory name: file:line must keep it whole. */
	snprintf(fx->dir, sizeof(fx->dir),
		 "/tmp/sluice-test-state-with-a-long-directory-name.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/state.conf", fx->dir);
	snprintf(conf, sizeof(conf), "%s/in.conf", fx->dir);
	put(conf, script, strlen(script));
	fx->lim = (struct lb_params){ .max_vips = 8, .max_backends = 16, .max_ring = 65537 };
	assert_int_equal(cp_state_load(conf, &fx->lim, &fx->m, NULL, &e), 0);
	unlink(conf);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[PATH_MAX + 16];

	cp_model_free(&fx->m);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void test_roundtrip_generation(void **state)
{
	struct fixture *fx = *state;
	struct cp_error e = { "", "" };
	struct cp_state_info info;
	struct cp_model back;

	assert_int_equal(cp_state_write(fx->path, &fx->m, 42, 1, &e), 0);
	assert_int_equal(cp_state_load(fx->path, &fx->lim, &back, &info, &e), 0);
	assert_int_equal(info.framed, 1);
	assert_int_equal(info.gen, 42);
	assert_int_equal(info.unsaved, 0);
	assert_int_equal(back.n_vips, 2);
	cp_model_free(&back);
}

/* Cut at every byte: refused, with the file named; never a smaller model. */
static void test_every_truncation_refused(void **state)
{
	struct fixture *fx = *state;
	struct cp_error e = { "", "" };
	struct cp_state_info info;
	struct cp_model back;
	size_t len;
	char *full;

	assert_int_equal(cp_state_write(fx->path, &fx->m, 7, 0, &e), 0);
	full = get(fx->path, &len);
	for (size_t cut = 0; cut < len; cut++) {
		put(fx->path, full, cut);
		memset(&e, 0, sizeof(e));
		if (cp_state_load(fx->path, &fx->lim, &back, &info, &e) == 0)
			fail_msg("a state file cut at byte %zu of %zu loaded", cut, len);
		assert_non_null(strstr(e.field, fx->path));
		assert_non_null(strstr(e.msg, "truncated"));
	}
	free(full);
}

static void test_garbage_line_named(void **state)
{
	struct fixture *fx = *state;
	struct cp_error e = { "", "" };
	struct cp_state_info info;
	struct cp_model back;
	char want[PATH_MAX + 16], *full, *line5;
	size_t len;

	assert_int_equal(cp_state_write(fx->path, &fx->m, 3, 0, &e), 0);
	full = get(fx->path, &len);
	/* Line 5 is "vip add 10.100.0.1:80/tcp": same length, garbage. */
	line5 = full;
	for (int i = 1; i < 5; i++)
		line5 = strchr(line5, '\n') + 1;
	assert_memory_equal(line5, "vip add", 7);
	memcpy(line5, "zzz zzz", 7);
	put(fx->path, full, len);
	assert_int_not_equal(cp_state_load(fx->path, &fx->lim, &back, &info, &e), 0);
	snprintf(want, sizeof(want), "%s:5", fx->path);
	assert_string_equal(e.field, want);
	assert_non_null(strstr(e.msg, "zzz"));
	free(full);
}

static void test_prev_kept_and_unsaved_mark(void **state)
{
	struct fixture *fx = *state;
	struct cp_error e = { "", "" };
	struct cp_state_info info;
	struct cp_model back;
	char prev[PATH_MAX + 8];

	snprintf(prev, sizeof(prev), "%s.prev", fx->path);
	assert_int_equal(cp_state_write(fx->path, &fx->m, 1, 1, &e), 0);
	assert_int_equal(access(prev, F_OK), -1);
	assert_int_equal(cp_state_write(fx->path, &fx->m, 2, 1, &e), 0);
	assert_int_equal(cp_state_load(prev, &fx->lim, &back, &info, &e), 0);
	assert_int_equal(info.gen, 1);
	cp_model_free(&back);

	assert_int_equal(cp_state_mark_unsaved(fx->path, 9), 0);
	assert_int_equal(cp_state_load(fx->path, &fx->lim, &back, &info, &e), 0);
	assert_int_equal(info.gen, 2);
	assert_int_equal(info.unsaved, 9);
	cp_model_free(&back);
}

static void test_legacy_loads(void **state)
{
	struct fixture *fx = *state;
	struct cp_error e = { "", "" };
	struct cp_state_info info;
	struct cp_model back;
	char legacy[sizeof(script) + 32];

	snprintf(legacy, sizeof(legacy), "# sluice state\n%s", script);
	put(fx->path, legacy, strlen(legacy));
	assert_int_equal(cp_state_load(fx->path, &fx->lim, &back, &info, &e), 0);
	assert_int_equal(info.framed, 0);
	assert_int_equal(info.gen, 0);
	assert_int_equal(back.n_vips, 2);
	cp_model_free(&back);
	assert_int_equal(cp_state_mark_unsaved(fx->path, 5), -EPROTO);
}

static void test_write_error_named(void **state)
{
	struct fixture *fx = *state;
	struct cp_error e = { "", "" };
	char path[PATH_MAX + 16];

	/* A directory where the state file should be: rename fails. */
	snprintf(path, sizeof(path), "%s/dir", fx->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	{
		char inner[PATH_MAX + 32];

		snprintf(inner, sizeof(inner), "%s/x", path);
		put(inner, "x", 1);
	}
	assert_int_not_equal(cp_state_write(path, &fx->m, 1, 0, &e), 0);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "(EISDIR)"));
}

static void test_clean_tmp(void **state)
{
	struct fixture *fx = *state;
	char a[PATH_MAX + 32], b[PATH_MAX + 32], other[PATH_MAX + 32];

	snprintf(a, sizeof(a), "%s.tmp.12345", fx->path);
	snprintf(b, sizeof(b), "%s.tmp.12345.prev", fx->path);
	snprintf(other, sizeof(other), "%s/other.conf.tmp.1", fx->dir);
	put(a, "x", 1);
	put(b, "x", 1);
	put(other, "x", 1);
	assert_int_equal(cp_state_clean_tmp(fx->path), 2);
	assert_int_equal(access(a, F_OK), -1);
	assert_int_equal(access(b, F_OK), -1);
	assert_int_equal(access(other, F_OK), 0);
}

/* A big script: 300 VIPs x 20 backends, 6,300 lines, ~300 KB. */
static char *big_script(size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	assert_non_null(f);
	for (int x = 0; x < 300; x++) {
		fprintf(f, "vip add 10.100.%d.%d:80/tcp\n", x / 250, x % 250 + 1);
		for (int b = 0; b < 20; b++)
			fprintf(f, "backend add 10.100.%d.%d:80/tcp 10.%d.%d.%d%s\n", x / 250,
				x % 250 + 1, x / 250 + 10, x % 250, b + 1,
				b % 3 ? "" : " --weight 7");
	}
	assert_int_equal(fclose(f), 0);
	return text;
}

static char *saved(const struct cp_model *m, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	assert_non_null(f);
	assert_int_equal(cp_model_save(m, f), 0);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* Rendered in pieces by helper threads, read back in one buffer sized
 * from fstat: the same model, the trailer's count right. */
static void test_big_roundtrip(void **state)
{
	struct fixture *fx = *state;
	struct lb_params lim = { .max_vips = 512, .max_backends = 8192, .max_ring = 65537 };
	struct cp_error e = { "", "" };
	struct cp_state_info info;
	struct cp_model a, b;
	size_t len, la, lb;
	char conf[PATH_MAX + 16], *text = big_script(&len), *sa, *sb;

	snprintf(conf, sizeof(conf), "%s/big.conf", fx->dir);
	put(conf, text, len);
	assert_int_equal(cp_state_load(conf, &lim, &a, NULL, &e), 0);
	assert_int_equal(a.n_vips, 300);
	assert_int_equal(cp_state_write(fx->path, &a, 7, 0, &e), 0);
	assert_int_equal(cp_state_load(fx->path, &lim, &b, &info, &e), 0);
	assert_int_equal(info.framed, 1);
	assert_int_equal(info.gen, 7);
	sa = saved(&a, &la);
	sb = saved(&b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(sa, sb, la);
	free(sa);
	free(sb);
	free(text);
	cp_model_free(&a);
	cp_model_free(&b);
}

struct fifo_writer {
	char path[PATH_MAX + 16];
	const char *text;
	size_t len;
};

static void *write_fifo(void *arg)
{
	struct fifo_writer *w = arg;
	FILE *f = fopen(w->path, "w");

	if (f) {
		fwrite(w->text, 1, w->len, f);
		fclose(f);
	}
	return NULL;
}

/* A file that is not regular (a pipe, /dev/stdin) has no size to read
 * at once: the buffer grows, and all of it is read. */
static void test_fifo_loads(void **state)
{
	struct fixture *fx = *state;
	struct lb_params lim = { .max_vips = 512, .max_backends = 8192, .max_ring = 65537 };
	struct cp_error e = { "", "" };
	struct fifo_writer w;
	struct cp_model m;
	pthread_t th;

	w.text = big_script(&w.len);
	snprintf(w.path, sizeof(w.path), "%s/fifo", fx->dir);
	assert_int_equal(mkfifo(w.path, 0600), 0);
	assert_int_equal(pthread_create(&th, NULL, write_fifo, &w), 0);
	assert_int_equal(cp_state_load(w.path, &lim, &m, NULL, &e), 0);
	pthread_join(th, NULL);
	assert_int_equal(m.n_vips, 300);
	assert_int_equal(m.n_backends_all, 6000);
	cp_model_free(&m);
	free((char *)w.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_big_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_line_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prev_kept_and_unsaved_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
