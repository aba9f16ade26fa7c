// SPDX-License-Identifier: Apache-2.0
/*
 * state.c - atomic, framed persistence of the model (see state.h).
 */
#define LB_LOG_PREFIX "state: "

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "state.h"

#define HEADER_FMT "# sluice state v%d generation %llu\n"
#define UNSAVED_TAG "# unsaved generation "
#define UNSAVED_DIGITS 20
#define TRAILER_FMT "# end: %lu lines\n"
#define HEADER_PREFIX "# sluice state v"

const char *cp_errno_name(int err)
{
	const char *n = strerrorname_np(err < 0 ? -err : err);

	return n ? n : "E?";
}

/* "state file PATH: No space left on device (ENOSPC)" */
static int io_error(struct cp_error *e, int err, const char *path)
{
	return cp_error_set(e, err, "state", "state file %s: %s (%s)", path, strerror(-err),
			    cp_errno_name(err));
}

static int fsync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd, err = 0;

	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static int mkdir_for(const char *path)
{
	char copy[PATH_MAX];
	char *dir;

	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, path);
	dir = dirname(copy);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* write(2), not stdio: the errno is the file system's (ENOSPC, EDQUOT),
 * not stdio's generic EIO. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The file: header, the model's script, trailer. */
struct state_text {
	char head[128];
	struct cp_script script;
	char tail[64];
};

static int render(const struct cp_model *m, unsigned long long gen, struct state_text *t)
{
	int err = cp_model_script(m, &t->script);

	if (err)
		return err;
	snprintf(t->head, sizeof(t->head), HEADER_FMT UNSAVED_TAG "%0*llu\n", CP_STATE_FORMAT,
		 gen, UNSAVED_DIGITS, 0ull);
	/* The trailer counts the lines before it, the header's two too. */
	snprintf(t->tail, sizeof(t->tail), TRAILER_FMT, t->script.lines + 2);
	return 0;
}

static int write_text(int fd, const struct state_text *t)
{
	int err = write_all(fd, t->head, strlen(t->head));

	for (size_t i = 0; !err && i < t->script.n; i++)
		err = write_all(fd, t->script.piece[i], t->script.len[i]);
	return err ? err : write_all(fd, t->tail, strlen(t->tail));
}

static int write_tmp(const char *tmp, const struct state_text *t)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err;

	if (fd < 0)
		return -errno;
	err = write_text(fd, t);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

/* path stays where it is while "path.prev" becomes a second name of it:
 * there is never a moment without a state file. */
static int keep_previous(const char *path, const char *tmp)
{
	char prev[PATH_MAX], link_tmp[PATH_MAX];

	if (snprintf(prev, sizeof(prev), "%s.prev", path) >= (int)sizeof(prev) ||
	    snprintf(link_tmp, sizeof(link_tmp), "%s.prev", tmp) >= (int)sizeof(link_tmp))
		return -ENAMETOOLONG;
	unlink(link_tmp);
	if (link(path, link_tmp))
		return errno == ENOENT ? 0 : -errno;
	if (rename(link_tmp, prev)) {
		int err = -errno;

		unlink(link_tmp);
		return err;
	}
	return 0;
}

/* The text of the state, made durable under path. */
struct state_put {
	const char *path;
	const char *tmp;
	const struct state_text *text;
	int keep_prev;
};

static int put(void *arg)
{
	const struct state_put *p = arg;
	int err = mkdir_for(p->path);

	if (!err)
		err = write_tmp(p->tmp, p->text);
	if (!err && p->keep_prev)
		err = keep_previous(p->path, p->tmp);
	if (!err && rename(p->tmp, p->path))
		err = -errno;
	if (!err)
		err = fsync_dir(p->path);
	if (err)
		unlink(p->tmp);
	return err;
}

int cp_state_write(const char *path, const struct cp_model *m, unsigned long long gen,
		   int keep_prev, struct cp_error *e)
{
	char tmp[PATH_MAX];
	struct state_text text;
	struct state_put p = { path, tmp, &text, keep_prev };
	int err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return io_error(e, -ENAMETOOLONG, path);
	err = render(m, gen, &text);
	if (err)
		return cp_error_set(e, err, "state", "cannot format the state: %s", strerror(-err));
	/* 5 MB and two fsyncs for a big state: on a helper thread, readers
	 * served meanwhile. */
	err = cp_model_beside(m, put, &p);
	cp_script_free(&text.script);
	return err ? io_error(e, err, path) : 0;
}

int cp_state_mark_unsaved(const char *path, unsigned long long gen)
{
	char head[128], digits[UNSAVED_DIGITS + 1];
	int fd = open(path, O_RDWR | O_CLOEXEC), err = 0;
	ssize_t n;
	char *tag;

	if (fd < 0)
		return -errno;
	n = pread(fd, head, sizeof(head) - 1, 0);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	head[n] = '\0';
	tag = strstr(head, "\n" UNSAVED_TAG);
	if (strncmp(head, HEADER_PREFIX, strlen(HEADER_PREFIX)) || !tag) {
		err = -EPROTO;
		goto out;
	}
	snprintf(digits, sizeof(digits), "%0*llu", UNSAVED_DIGITS, gen);
	n = pwrite(fd, digits, UNSAVED_DIGITS, tag + 1 + strlen(UNSAVED_TAG) - head);
	if (n != UNSAVED_DIGITS)
		err = n < 0 ? -errno : -EIO;
	else if (fsync(fd))
		err = -errno;
out:
	close(fd);
	return err;
}

/* The whole file in one buffer sized from fstat (a 5 MB state read
 * through a growing stream cost ~10 ms of copies and page faults before
 * the first line was parsed); a file that grows meanwhile, or one that
 * is not regular, grows the buffer. read(2)'s errno is kept. */
static int read_all(const char *path, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	size_t cap = 65536, n = 0;
	struct stat st;
	char *buf = NULL;

	if (fd < 0)
		return -errno;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && (size_t)st.st_size >= cap)
		cap = (size_t)st.st_size + 1;
	for (;;) {
		ssize_t r;

		if (n == cap || !buf) {
			char *p = realloc(buf, n == cap ? cap *= 2 : cap);

			if (!p) {
				err = -ENOMEM;
				break;
			}
			buf = p;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : 0;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';		/* n < cap: the loop reads only with room left */
	*text = buf;
	*len = n;
	return 0;
}

static unsigned long count_lines(const char *text, size_t len)
{
	unsigned long n = 0;

	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	return n + (len && text[len - 1] != '\n');
}

static int frame_error(struct cp_error *e, const char *path, unsigned long line, const char *why)
{
	char field[sizeof(e->field)];

	snprintf(field, sizeof(field), "%s:%lu", path, line);
	return cp_error_set(e, -EINVAL, field, "%s", why);
}

/* The header of a state file. A state file is never empty and a header
 * is never cut short: such a file is truncated, not legacy. A last line
 * without its newline was cut short too (checked first: its words would
 * make a less helpful parse error). */
static int check_header(const char *path, const char *text, size_t len,
			struct cp_state_info *info, struct cp_error *e)
{
	size_t plen = strlen(HEADER_PREFIX);
	const char *unsaved;
	int format;

	memset(info, 0, sizeof(*info));
	if (!len)
		return frame_error(e, path, 1, "truncated: the file is empty");
	if (strncmp(text, HEADER_PREFIX, len < plen ? len : plen))
		return 0;	/* legacy, no frame */
	if (sscanf(text, HEADER_PREFIX "%d generation %llu", &format, &info->gen) != 2 ||
	    !memchr(text, '\n', len))
		return frame_error(e, path, 1, "truncated or damaged header");
	if (format != CP_STATE_FORMAT)
		return frame_error(e, path, 1, "unknown state file format (a newer sluiced?)");
	unsaved = strstr(text, "\n" UNSAVED_TAG);
	if (unsaved)
		info->unsaved = strtoull(unsaved + 1 + strlen(UNSAVED_TAG), NULL, 10);
	info->framed = 1;
	if (text[len - 1] != '\n')
		return frame_error(e, path, count_lines(text, len),
				   "truncated: the last line is cut short");
	return 0;
}

/* After the script parsed: the trailer must close it, with the count. */
static int check_trailer(const char *path, const char *text, size_t len, struct cp_error *e)
{
	unsigned long lines = count_lines(text, len), want;
	const char *last;
	char tail[64];

	for (last = text + len - 1; last > text && last[-1] != '\n'; last--)
		;
	snprintf(tail, sizeof(tail), "%.*s", (int)(text + len - last), last);
	if (sscanf(tail, "# end: %lu lines", &want) != 1)
		return frame_error(e, path, lines,
				   "truncated: no '# end: N lines' trailer after this last line");
	if (want != lines - 1)
		return frame_error(e, path, lines,
				   "truncated or edited: the trailer counts another number of lines");
	return 0;
}

int cp_state_load(const char *path, const struct lb_params *limits, struct cp_model *out,
		  struct cp_state_info *info, struct cp_error *e)
{
	return cp_state_load_checked(path, limits, NULL, NULL, out, info, e);
}

int cp_state_load_checked(const char *path, const struct lb_params *limits,
			  cp_is_local_fn is_local, void *is_local_arg, struct cp_model *out,
			  struct cp_state_info *info, struct cp_error *e)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int err = read_all(path, &text, &len);

	if (err) {
		if (err != -ENOENT)
			cp_error_set(e, err, path, "cannot read: %s (%s)", strerror(-err),
				     cp_errno_name(err));
		return err;
	}
	if (info)
		err = check_header(path, text, len, info, e);
	f = err ? NULL : fmemopen(text, len ? len : 1, "r");
	if (!err && !f)
		err = cp_error_set(e, -ENOMEM, path, "out of memory");
	if (!err)
		err = cp_model_init(out, limits, NULL);
	if (!err) {
		out->is_local = is_local;
		out->is_local_arg = is_local_arg;
		/* A zero-length config is a valid, empty one. */
		err = len ? cp_model_load(out, f, path, e) : 0;
		if (!err && info && info->framed)
			err = check_trailer(path, text, len, e);
		if (err)
			cp_model_free(out);
	}
	if (f)
		fclose(f);
	free(text);
	return err;
}

/* "NAME.tmp." + anything: what cp_state_write makes and removes. */
static int is_tmp_of(const char *entry, const char *base)
{
	size_t n = strlen(base);

	return !strncmp(entry, base, n) && !strncmp(entry + n, ".tmp.", 5);
}

int cp_state_clean_tmp(const char *path)
{
	char dcopy[PATH_MAX], bcopy[PATH_MAX], full[PATH_MAX * 2];
	const char *dir, *base;
	struct dirent *de;
	DIR *dh;
	int n = 0;

	if (strlen(path) >= sizeof(dcopy))
		return 0;
	strcpy(dcopy, path);
	strcpy(bcopy, path);
	dir = dirname(dcopy);
	base = basename(bcopy);
	dh = opendir(dir);
	if (!dh)
		return 0;
	while ((de = readdir(dh))) {
		if (!is_tmp_of(de->d_name, base))
			continue;
		snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
		if (unlink(full)) {
			pr_warn("cannot remove %s, left by a writer that was stopped: %s\n", full,
				strerror(errno));
			continue;
		}
		pr_info("removed %s, left by a writer that was stopped mid-write\n", full);
		n++;
	}
	closedir(dh);
	return n;
}
