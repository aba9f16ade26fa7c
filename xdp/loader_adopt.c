/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loader_adopt.c - hitless restart: lb_xdp_adopt takes over the program,
 * maps and links an earlier process pinned, and lb_xdp_attach's generic
 * mode takes over the program a generic attachment still runs.
 *
 * The protocol (what makes pins compatible, when the running program is
 * kept, how links are swapped and pins replaced without a gap, what a
 * crash or a failure leaves) is described in docs/architecture.md,
 * "Hitless restart"; this file follows it step by step.
 *
 * Threads: one handle is used by one thread at a time, and one process at
 * a time adopts a pin dir (loader.h).
 */
#define LB_LOG_PREFIX "loader: "

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd.h"
#include "log.h"
#include "bpffs.h"
#include "loader_int.h"
#include "sluice.skel.h"

#define LB_XDP_ABI_MAP_NAME "lb_abi"
#define LB_XDP_MAX_PROG_MAPS 32
#define LB_XDP_STAGED_SUFFIX "_new"	/* bpffs names cannot hold a dot */

/* What lb_xdp_adopt found pinned. */
struct pinned {
	int prog_fd;			/* "prog", or -1 */
	int map_fd[LB_XDP_NR_MAPS];	/* by loader_map_names[], or -1 */
	int abi_fd;			/* "abi", or -1 */
	int any;			/* any of the above was there */
};

/* One object to pin anew. */
struct pin_obj {
	const char *name;
	int fd;
};

/* ---- what is pinned ------------------------------------------------ */

static void pinned_init(struct pinned *pin)
{
	size_t i;

	memset(pin, 0, sizeof(*pin));
	pin->prog_fd = pin->abi_fd = -1;
	for (i = 0; i < LB_XDP_NR_MAPS; i++)
		pin->map_fd[i] = -1;
}

static void pinned_close(struct pinned *pin)
{
	size_t i;

	if (pin->prog_fd >= 0)
		close(pin->prog_fd);
	for (i = 0; i < LB_XDP_NR_MAPS; i++)
		if (pin->map_fd[i] >= 0)
			close(pin->map_fd[i]);
	if (pin->abi_fd >= 0)
		close(pin->abi_fd);
}

/* fd of the object pinned at dir/name; -ENOENT if none, other errors
 * logged. */
static int pin_get(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	fd = loader_pin_path(path, sizeof(path), dir, name);
	if (fd)
		return fd;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = -errno;
		if (fd != -ENOENT)
			pr_warn("opening pin %s: %s\n", path, strerror(-fd));
	}
	return fd;
}

/* pin_get, with "nothing there" as -1 in *fd. */
static int pin_open(const char *dir, const char *name, int *fd)
{
	int ret = pin_get(dir, name);

	if (ret < 0 && ret != -ENOENT)
		return ret;
	*fd = ret < 0 ? -1 : ret;
	return 0;
}

static int pinned_open(struct pinned *pin, const char *dir)
{
	size_t i;
	int err;

	err = pin_open(dir, LB_XDP_PROG_PIN, &pin->prog_fd);
	for (i = 0; i < LB_XDP_NR_MAPS && !err; i++) {
		err = pin_open(dir, loader_map_names[i], &pin->map_fd[i]);
		pin->any |= pin->map_fd[i] >= 0;
	}
	if (!err)
		err = pin_open(dir, LB_XDP_ABI_PIN, &pin->abi_fd);
	pin->any |= pin->prog_fd >= 0 || pin->abi_fd >= 0;
	return err;
}

/* ---- compatibility ------------------------------------------------- */

static int map_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* Program info; with ids, also the ids of the maps it uses (*nr: in the
 * capacity of ids, out how many it uses, possibly more than fit). */
static int prog_info(int fd, struct bpf_prog_info *info, __u32 *ids, __u32 *nr)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (ids) {
		info->nr_map_ids = *nr;
		info->map_ids = (__u64)(unsigned long)ids;
	}
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return -errno;
	if (ids)
		*nr = info->nr_map_ids;
	return 0;
}

static __u32 prog_id_of(int fd)
{
	struct bpf_prog_info info;

	return prog_info(fd, &info, NULL, NULL) ? 0 : info.id;
}

static int name_ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* 1 if the pinned ABI stamp holds this build's LB_ABI_VERSION; 0 with a
 * line saying why not. */
static int abi_matches(const struct pinned *pin, const char *dir)
{
	struct bpf_map_info mi;
	__u32 key = 0, abi = 0;

	if (pin->abi_fd < 0) {
		pr_info("not adopting %s: no ABI stamp (\"%s\")\n", dir, LB_XDP_ABI_PIN);
		return 0;
	}
	if (map_info(pin->abi_fd, &mi) || mi.type != BPF_MAP_TYPE_ARRAY ||
	    mi.key_size != sizeof(key) || mi.value_size != sizeof(abi) ||
	    bpf_map_lookup_elem(pin->abi_fd, &key, &abi)) {
		pr_info("not adopting %s: unreadable ABI stamp\n", dir);
		return 0;
	}
	if (abi != LB_ABI_VERSION) {
		pr_info("not adopting %s: the pinned maps have ABI %u, this build %u\n",
			dir, abi, LB_ABI_VERSION);
		return 0;
	}
	return 1;
}

/* 1 if every map is pinned with the name, type, sizes and flags this
 * object would create (equal sizes mean equal lb_params), their ids in
 * ids[]; 0 with a line saying why not. */
static int maps_match(struct lb_xdp *x, const struct pinned *pin, const char *dir,
		      __u32 ids[LB_XDP_NR_MAPS])
{
	const char *name;
	struct bpf_map_info mi;
	struct bpf_map *map;
	size_t i;

	for (i = 0; i < LB_XDP_NR_MAPS; i++) {
		name = loader_map_names[i];
		map = loader_map(x, i);
		if (!map)
			return 0;
		if (pin->map_fd[i] < 0) {
			pr_info("not adopting %s: map %s is not pinned\n", dir, name);
			return 0;
		}
		if (map_info(pin->map_fd[i], &mi)) {
			pr_info("not adopting %s: the pinned %s is not a map\n", dir, name);
			return 0;
		}
		if (strcmp(mi.name, name) || mi.type != bpf_map__type(map) ||
		    mi.key_size != bpf_map__key_size(map) ||
		    mi.value_size != bpf_map__value_size(map) ||
		    mi.max_entries != bpf_map__max_entries(map) ||
		    mi.map_flags != bpf_map__map_flags(map)) {
			pr_info("not adopting %s: the pinned map %s (%s, type %u, key %u, value %u, %u entries, flags %#x) differs from this build's (type %u, key %u, value %u, %u entries, flags %#x)\n",
				dir, name, mi.name, mi.type, mi.key_size, mi.value_size,
				mi.max_entries, mi.map_flags, bpf_map__type(map),
				bpf_map__key_size(map), bpf_map__value_size(map),
				bpf_map__max_entries(map), bpf_map__map_flags(map));
			return 0;
		}
		ids[i] = mi.id;
	}
	return 1;
}

/* 1 if map id is one of the pinned maps or the program's own .rodata or
 * .kconfig (CONFIG_HZ, read-only, from this kernel's config). */
static int map_is_pinned_or_own(__u32 id, const __u32 ids[LB_XDP_NR_MAPS])
{
	struct bpf_map_info mi;
	size_t i;
	int fd, ok;

	for (i = 0; i < LB_XDP_NR_MAPS; i++)
		if (id == ids[i])
			return 1;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return 0;
	ok = !map_info(fd, &mi) &&
	     (name_ends_with(mi.name, ".rodata") || name_ends_with(mi.name, ".kconfig"));
	close(fd);
	return ok;
}

/* 1 if the pinned program, if any, is an XDP program that forwards from
 * the pinned maps: otherwise the state we would adopt is not the state
 * that forwards. 0 with a line saying why not. */
static int prog_uses_pins(const struct pinned *pin, const char *dir,
			  const __u32 ids[LB_XDP_NR_MAPS])
{
	__u32 used[LB_XDP_MAX_PROG_MAPS], nr = LB_XDP_MAX_PROG_MAPS, u;
	struct bpf_prog_info pi;

	if (pin->prog_fd < 0)
		return 1;	/* maps without a program: still ours to reuse */
	if (prog_info(pin->prog_fd, &pi, used, &nr) || pi.type != BPF_PROG_TYPE_XDP ||
	    nr > LB_XDP_MAX_PROG_MAPS) {
		pr_info("not adopting %s: the pinned \"%s\" is not an XDP program of ours\n",
			dir, LB_XDP_PROG_PIN);
		return 0;
	}
	for (u = 0; u < nr; u++) {
		if (!map_is_pinned_or_own(used[u], ids)) {
			pr_info("not adopting %s: the pinned program uses map id %u, which is not pinned there\n",
				dir, used[u]);
			return 0;
		}
	}
	return 1;
}

/* 1 if the pinned maps can serve this object; 0 if not (logged). */
static int pinned_compatible(struct lb_xdp *x, const struct pinned *pin, const char *dir)
{
	__u32 ids[LB_XDP_NR_MAPS];

	return pin->any && abi_matches(pin, dir) && maps_match(x, pin, dir, ids) &&
	       prog_uses_pins(pin, dir, ids);
}

/* Reads element 0 of the ARRAY fd into a new buffer of size bytes. */
static void *array_read(int fd, __u32 size)
{
	__u32 key = 0;
	void *v = malloc(size ? size : 1);

	if (v && bpf_map_lookup_elem(fd, &key, v)) {
		free(v);
		return NULL;
	}
	return v;
}

/* 1 if old_fd runs the very program x just loaded: same type and tag,
 * same .rodata bytes. */
static int same_build(struct lb_xdp *x, int old_fd)
{
	__u32 used[LB_XDP_MAX_PROG_MAPS], nr = LB_XDP_MAX_PROG_MAPS, u;
	struct bpf_prog_info a, b;
	struct bpf_map_info ro, mi;
	void *mine = NULL, *theirs = NULL;
	int ro_fd = bpf_map__fd(x->skel->maps.rodata), fd, same = 0;

	if (prog_info(bpf_program__fd(x->prog), &a, NULL, NULL) ||
	    prog_info(old_fd, &b, used, &nr) || nr > LB_XDP_MAX_PROG_MAPS)
		return 0;
	if (a.type != b.type || memcmp(a.tag, b.tag, sizeof(a.tag)))
		return 0;
	if (ro_fd < 0 || map_info(ro_fd, &ro))
		return 0;
	mine = array_read(ro_fd, ro.value_size);
	for (u = 0; u < nr && mine && !theirs; u++) {
		fd = bpf_map_get_fd_by_id(used[u]);
		if (fd < 0)
			continue;
		if (!map_info(fd, &mi) && !strcmp(mi.name, ro.name) &&
		    mi.value_size == ro.value_size) {
			theirs = array_read(fd, mi.value_size);
			same = theirs && !memcmp(mine, theirs, ro.value_size);
		}
		close(fd);
	}
	free(mine);
	free(theirs);
	return same;
}

/* ---- loading on the pinned maps or fresh ones ---------------------- */

/* The ABI stamp of a fresh set of maps, frozen (read-only from then on). */
static int abi_create(struct lb_xdp *x)
{
	__u32 key = 0, v = LB_ABI_VERSION;
	int err;

	x->abi_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, LB_XDP_ABI_MAP_NAME, sizeof(key),
				   sizeof(v), 1, NULL);
	if (x->abi_fd < 0) {
		err = -errno;
		pr_warn("creating the ABI map: %s\n", strerror(-err));
		return err;
	}
	if (bpf_map_update_elem(x->abi_fd, &key, &v, BPF_ANY) || bpf_map_freeze(x->abi_fd)) {
		err = -errno;
		pr_warn("writing the ABI map: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

/* Loads x on the pinned maps (compat: their fds are taken over, stamp
 * included) or on fresh ones with a fresh ABI stamp. */
static int load_on_pins(struct lb_xdp *x, struct pinned *pin, int compat)
{
	struct bpf_map *map;
	size_t i;
	int err;

	for (i = 0; compat && i < LB_XDP_NR_MAPS; i++) {
		map = loader_map(x, i);
		err = map ? bpf_map__reuse_fd(map, pin->map_fd[i]) : -ENOENT;
		if (err) {
			pr_warn("reusing the pinned map %s: %s\n", loader_map_names[i],
				strerror(-err));
			return err;
		}
	}
	/* Not fresh: the rings keep their contents, and since the process
	 * before us may have flipped a half and died before its grace
	 * period, lb_tables_init makes the first write into an idle copy
	 * wait for one. */
	err = loader_handle_load(x, !compat);
	if (err)
		return err;
	if (!compat)
		return abi_create(x);
	x->abi_fd = pin->abi_fd;
	pin->abi_fd = -1;
	return 0;
}

/* Keeps the running program: its fd takes the place of the one just
 * loaded, which dup2() frees; libbpf closes ours with the skeleton. */
static int keep_pinned_prog(struct lb_xdp *x, int prog_fd)
{
	int err;

	if (dup2(prog_fd, bpf_program__fd(x->prog)) < 0) {
		err = -errno;
		pr_warn("keeping the pinned program: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

/* ---- links --------------------------------------------------------- */

/* Takes the pin dir/name of a link into x->ifaces (pinned, its current
 * program id in prev[]). A pin whose interface is gone (the kernel
 * released the link's device) is removed; a pin that is not an XDP link
 * is left alone. */
static int link_take(struct lb_xdp *x, const char *dir, const char *name,
		     __u32 prev[LB_XDP_MAX_IFACES])
{
	const char *ifname = name + strlen(LB_XDP_LINK_PIN_PREFIX);
	struct bpf_link_info li;
	struct loader_iface *f;
	char path[PATH_MAX];
	__u32 len = sizeof(li);
	int fd, err;

	if (!*ifname || strlen(ifname) >= IF_NAMESIZE)
		return 0;	/* not an interface name: not ours */
	fd = pin_get(dir, name);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	memset(&li, 0, sizeof(li));
	if (bpf_obj_get_info_by_fd(fd, &li, &len) || li.type != BPF_LINK_TYPE_XDP) {
		pr_warn("%s/%s is not an XDP link; left alone\n", dir, name);
		close(fd);
		return 0;
	}
	if (!li.xdp.ifindex) {
		pr_info("interface %s is gone; removing its link pin\n", ifname);
		if (!loader_pin_path(path, sizeof(path), dir, name) && unlink(path))
			pr_warn("removing %s: %s\n", path, strerror(errno));
		close(fd);
		return 0;
	}
	f = loader_iface_find(x, 0);
	if (!f || loader_iface_find(x, (int)li.xdp.ifindex)) {
		err = f ? -EEXIST : -ENOSPC;
		pr_warn("%s/%s: %s\n", dir, name,
			f ? "a second link pin for one interface" : "too many link pins");
		close(fd);
		return err;
	}
	f->ifindex = (int)li.xdp.ifindex;
	f->link_fd = fd;
	f->pinned = 1;
	memcpy(f->ifname, ifname, strlen(ifname) + 1);
	prev[f - x->ifaces] = li.prog_id;
	return 0;
}

/* Takes every "link_<ifname>" pin of dir (link_take). */
static int links_collect(struct lb_xdp *x, const char *dir, __u32 prev[LB_XDP_MAX_IFACES])
{
	const size_t plen = strlen(LB_XDP_LINK_PIN_PREFIX);
	struct dirent *e;
	int err = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
		pr_warn("reading %s: %s\n", dir, strerror(-err));
		return err;
	}
	while (!err && (e = readdir(d)))
		if (!strncmp(e->d_name, LB_XDP_LINK_PIN_PREFIX, plen))
			err = link_take(x, dir, e->d_name, prev);
	closedir(d);
	return err;
}

/* Points every collected link at prog_fd: one bpf_link_update each, so
 * an interface runs the old program up to some packet and the new one
 * from the next, never none. On failure the links already switched go
 * back to the programs they ran. */
static int links_switch(struct lb_xdp *x, int prog_fd, __u32 prog_id,
			const __u32 prev[LB_XDP_MAX_IFACES])
{
	int done[LB_XDP_MAX_IFACES] = {0};
	int err, fd;
	size_t i, j;

	for (i = 0; i < LB_XDP_MAX_IFACES; i++) {
		struct loader_iface *f = &x->ifaces[i];

		if (f->link_fd < 0 || prev[i] == prog_id)
			continue;
		if (bpf_link_update(f->link_fd, prog_fd, NULL)) {
			err = -errno;
			pr_warn("replacing the program on %s: %s\n", f->ifname, strerror(-err));
			goto undo;
		}
		done[i] = 1;
		pr_info("%s: program %u replaced by %u\n", f->ifname, prev[i], prog_id);
	}
	return 0;

undo:
	for (j = 0; j < i; j++) {
		if (!done[j])
			continue;
		fd = bpf_prog_get_fd_by_id(prev[j]);
		if (fd < 0 || bpf_link_update(x->ifaces[j].link_fd, fd, NULL))
			pr_warn("%s: cannot put program %u back\n", x->ifaces[j].ifname, prev[j]);
		if (fd >= 0)
			close(fd);
	}
	return err;
}

/* ---- replacing pins without a gap ---------------------------------- */

/* dir/<name>_new */
static int staged_path(char *path, size_t cap, const char *dir, const char *name)
{
	char staged[NAME_MAX + 1];

	if (snprintf(staged, sizeof(staged), "%s" LB_XDP_STAGED_SUFFIX, name) >=
	    (int)sizeof(staged)) {
		pr_warn("pin name %s" LB_XDP_STAGED_SUFFIX " is too long\n", name);
		return -ENAMETOOLONG;
	}
	return loader_pin_path(path, cap, dir, staged);
}

/* Pins fd as dir/<name>_new, replacing a leftover of a crashed run. */
static int pin_stage(const struct pin_obj *o, const char *dir)
{
	char path[PATH_MAX];
	int err;

	err = staged_path(path, sizeof(path), dir, o->name);
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		pr_warn("removing %s: %s\n", path, strerror(-err));
		return err;
	}
	if (bpf_obj_pin(o->fd, path)) {
		err = -errno;
		pr_warn("pinning %s: %s\n", path, strerror(-err));
		return err;
	}
	return 0;
}

static void pin_unstage(const struct pin_obj *o, const char *dir)
{
	char path[PATH_MAX];

	if (!staged_path(path, sizeof(path), dir, o->name))
		unlink(path);
}

/* Renames dir/<name>_new over dir/<name>: the name never goes missing. */
static int pin_commit(const struct pin_obj *o, const char *dir)
{
	char from[PATH_MAX], to[PATH_MAX];
	int err;

	if ((err = staged_path(from, sizeof(from), dir, o->name)) ||
	    (err = loader_pin_path(to, sizeof(to), dir, o->name)))
		return err;
	if (rename(from, to)) {
		err = -errno;
		pr_warn("renaming %s to %s: %s\n", from, to, strerror(-err));
		return err;
	}
	return 0;
}

/* What to pin anew into objs[]: the program unless kept; the maps and
 * the ABI stamp unless reused. Returns how many. */
static size_t objs_to_pin(struct lb_xdp *x, int keep, int compat,
			  struct pin_obj objs[2 + LB_XDP_NR_MAPS])
{
	struct bpf_map *map;
	size_t i, n = 0;

	if (!keep)
		objs[n++] = (struct pin_obj){ LB_XDP_PROG_PIN, bpf_program__fd(x->prog) };
	if (compat)
		return n;
	for (i = 0; i < LB_XDP_NR_MAPS; i++) {
		map = loader_map(x, i);
		objs[n++] = (struct pin_obj){ loader_map_names[i], map ? bpf_map__fd(map) : -1 };
	}
	objs[n++] = (struct pin_obj){ LB_XDP_ABI_PIN, x->abi_fd };
	return n;
}

/* Stages the n new pins, switches the links to x's program, then renames
 * the staged pins into place. Until the switch a failure takes the
 * staged pins away again; after it the interfaces run what we hold, and a
 * rename that fails (it should not, within one bpffs directory) is
 * reported and left for the next adoption to sort out. */
static int pins_replace(struct lb_xdp *x, const char *dir, const struct pin_obj *objs,
			size_t n, __u32 prog_id, const __u32 prev[LB_XDP_MAX_IFACES])
{
	size_t i, staged;
	int err = 0;

	for (staged = 0; staged < n; staged++) {
		err = pin_stage(&objs[staged], dir);
		if (err)
			break;
	}
	if (!err)
		err = links_switch(x, bpf_program__fd(x->prog), prog_id, prev);
	if (err) {
		while (staged > 0)
			pin_unstage(&objs[--staged], dir);
		return err;
	}
	for (i = 0; i < n; i++) {
		err = pin_commit(&objs[i], dir);
		if (err)
			return err;
	}
	return 0;
}

/* ---- adoption ------------------------------------------------------ */

/* Takes dir over with the loaded x: keeps the pinned program if it is
 * this build, switches the pinned links to x's program otherwise, pins
 * what is new and records dir as x's pin dir. */
static int take_over(struct lb_xdp *x, const char *dir, const struct pinned *pin, int compat)
{
	struct pin_obj objs[2 + LB_XDP_NR_MAPS];
	__u32 prev[LB_XDP_MAX_IFACES] = {0};
	__u32 prog_id, old_id = 0;
	char *dir_copy;
	int err, keep = 0;
	size_t n;

	dir_copy = strdup(dir);
	if (!dir_copy)
		return -ENOMEM;
	if (pin->prog_fd >= 0)
		old_id = prog_id_of(pin->prog_fd);
	if (compat && pin->prog_fd >= 0 && same_build(x, pin->prog_fd)) {
		err = keep_pinned_prog(x, pin->prog_fd);
		if (err)
			goto out;
		keep = 1;
	}
	prog_id = prog_id_of(bpf_program__fd(x->prog));
	if (old_id && old_id != prog_id)
		x->replaced_prog_id = old_id;

	err = links_collect(x, dir, prev);
	if (!err)
		err = lb_bpffs_mkdir(dir);
	if (!err) {
		n = objs_to_pin(x, keep, compat, objs);
		err = pins_replace(x, dir, objs, n, prog_id, prev);
	}
	if (err)
		goto out;
	x->pin_dir = dir_copy;
	dir_copy = NULL;
	pr_info("pin dir %s: %s\n", dir,
		keep ? "kept the running program and its maps" :
		compat ? "new program on the pinned maps" :
		pin->any ? "pinned program and maps replaced" :
		"nothing pinned: pinned a fresh program");
out:
	free(dir_copy);
	return err;
}

struct lb_xdp *lb_xdp_adopt(const char *pin_dir, const struct lb_params *params, int *adopted)
{
	struct pinned pin;
	struct lb_xdp *x;
	int err = 0, compat = 0;

	if (!adopted || (pin_dir && !*pin_dir)) {
		errno = EINVAL;
		return NULL;
	}
	*adopted = 0;
	pinned_init(&pin);
	x = loader_handle_new(params);
	if (!x)
		return NULL;
	if (pin_dir) {
		err = pinned_open(&pin, pin_dir);
		if (!err)
			compat = pinned_compatible(x, &pin, pin_dir);
	}
	if (!err)
		err = load_on_pins(x, &pin, compat);
	if (!err && pin_dir)
		err = take_over(x, pin_dir, &pin, compat);
	pinned_close(&pin);
	if (err) {
		lb_xdp_close(x);
		errno = -err;
		return NULL;
	}
	*adopted = compat;
	return x;
}

int loader_adopt_generic(struct lb_xdp *x, int ifindex, __u32 cur)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, xopts);
	int prog_fd = bpf_program__fd(x->prog);
	struct bpf_prog_info info;
	int old_fd, err;

	/* Ours: adoption kept the pinned program, which a generic
	 * attachment of the earlier process runs. */
	err = prog_info(prog_fd, &info, NULL, NULL);
	if (err)
		return err;
	if (cur == info.id)
		return 0;
	if (!x->replaced_prog_id || cur != x->replaced_prog_id)
		return -EBUSY;	/* someone else's: left alone */
	/* The pinned program adoption replaced: swapped for ours in one
	 * netlink call, so the interface is never without a program. */
	old_fd = bpf_prog_get_fd_by_id(cur);
	if (old_fd < 0)
		return -errno;
	xopts.old_prog_fd = old_fd;
	err = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_SKB_MODE | XDP_FLAGS_REPLACE, &xopts) ?
		      -errno : 0;
	close(old_fd);
	return err;
}
