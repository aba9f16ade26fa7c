// SPDX-License-Identifier: Apache-2.0
/*
 * state.c - atomic persistence of the model (see state.h).
 */
#define LB_LOG_PREFIX "state: "

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "state.h"

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

int cp_state_save(const char *path, const struct cp_model *m)
{
	char tmp[PATH_MAX];
	FILE *f = NULL;
	int fd = -1, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	err = mkdir_for(path);
	if (err)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		goto out;
	}
	fd = -1;
	err = cp_model_save(m, f);
	if (!err && (fflush(f) || fsync(fileno(f))))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	f = NULL;
	if (!err && rename(tmp, path))
		err = -errno;
	if (!err)
		err = fsync_dir(path);
out:
	if (fd >= 0)
		close(fd);
	if (f)
		fclose(f);
	if (err) {
		pr_warn("cannot write %s: %s\n", path, strerror(-err));
		unlink(tmp);
	}
	return err;
}

int cp_state_load(const char *path, const struct lb_params *limits, struct cp_model *out,
		  struct cp_error *e)
{
	FILE *f = fopen(path, "re");
	int err;

	if (!f) {
		err = -errno;
		if (err != -ENOENT)
			cp_error_set(e, err, path, "cannot open: %s", strerror(-err));
		return err;
	}
	err = cp_model_init(out, limits, NULL);
	if (!err) {
		err = cp_model_load(out, f, path, e);
		if (err)
			cp_model_free(out);
	}
	fclose(f);
	return err;
}
