/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_bpffs.c - pin directories: bpffs mounted where it is missing,
 * any other file system refused before anything is created (root).
 *
 * The missing-mount case runs in a child with a private mount namespace
 * whose /sys/fs/bpf is unmounted, so the host's pins are never touched.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>
#include <cmocka.h>

#include "bpffs.h"

static int fs_magic(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) ? -1 : (int)sfs.f_type;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* A directory on tmpfs or ext4 is refused, and none of it is created. */
static void test_refuses_other_fs(void **state)
{
	char top[64], dir[96];

	(void)state;
	snprintf(top, sizeof(top), "/tmp/sluice-notbpf-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "%s/a/b", top);
	assert_int_equal(lb_bpffs_mkdir(dir), -ENOTSUP);
	assert_false(exists(top));
}

static void test_bad_names(void **state)
{
	char long_dir[PATH_MAX + 8];

	(void)state;
	assert_int_equal(lb_bpffs_mkdir(""), -ENAMETOOLONG);
	assert_int_equal(lb_bpffs_mkdir(NULL), -ENAMETOOLONG);
	memset(long_dir, 'a', sizeof(long_dir) - 1);
	long_dir[0] = '/';
	long_dir[sizeof(long_dir) - 1] = '\0';
	assert_int_equal(lb_bpffs_mkdir(long_dir), -ENAMETOOLONG);
}

/* Nested, mode 0700, on bpffs; a second call is fine. */
static void test_nested_on_bpffs(void **state)
{
	char top[64], dir[96];
	struct stat st;

	(void)state;
	snprintf(top, sizeof(top), LB_BPFFS_DEFAULT "/sluice-test-bpffs-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "%s/x/y", top);
	assert_int_equal(lb_bpffs_mkdir(dir), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(fs_magic(dir), (int)BPF_FS_MAGIC);
	assert_int_equal(lb_bpffs_mkdir(dir), 0);
	assert_int_equal(rmdir(dir), 0);
	snprintf(dir, sizeof(dir), "%s/x", top);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(rmdir(top), 0);
}

/* In a private mount namespace without bpffs at /sys/fs/bpf: the first
 * pin directory mounts it. Exit codes: 0 ok, 1 failed, 77 cannot set up. */
static int child_mounts_missing(void)
{
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return 77;
	while (fs_magic(LB_BPFFS_DEFAULT) == (int)BPF_FS_MAGIC)
		if (umount2(LB_BPFFS_DEFAULT, MNT_DETACH))
			return 77;
	if (lb_bpffs_mkdir(LB_BPFFS_DEFAULT "/sluice-test-mount/a"))
		return 1;
	if (fs_magic(LB_BPFFS_DEFAULT) != (int)BPF_FS_MAGIC)
		return 1;
	return exists(LB_BPFFS_DEFAULT "/sluice-test-mount/a") ? 0 : 1;
}

static void test_mounts_when_missing(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_mounts_missing());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		printf("SKIP: cannot make a mount namespace without bpffs here\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the child's mount went with its namespace */
	assert_false(exists(LB_BPFFS_DEFAULT "/sluice-test-mount"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refuses_other_fs),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_mounts_when_missing),
		cmocka_unit_test(test_nested_on_bpffs),
	};

	if (geteuid() != 0) {
		printf("SKIP: needs root (mount, bpffs)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
