/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_driver_xdp.c - the XDP driver (controlplane/driver_xdp.c) and the
 * loader's adoption (lb_xdp_adopt) against the real kernel: pins, restart
 * of the same build, upgrade to another build on the same maps, an
 * incompatible restart, generic mode, detach, and forwarding that never
 * stops while all that happens.
 *
 * Runs in a private network namespace (unshare in this process) with a
 * veth pair sl0/sl1; pins live under /sys/fs/bpf/sluice-test-<pid>/ and
 * are removed at the end, whatever happened. The tests run in order and
 * share the state one leaves for the next, as a daemon's restarts would.
 *
 * "Forwarding never stops": a second thread (at most 2 s) polls the
 * program on the interface (bpf_xdp_query_id) and, where the maps are
 * meant to survive, runs a packet of an established flow through that
 * very program (BPF_PROG_TEST_RUN on the fd of the id it just saw) and
 * counts every answer that is not XDP_TX, while the main thread closes
 * the driver and opens it again. The process is pinned to one CPU: the
 * connection table is per CPU, so the thread's packets meet the flow the
 * main thread created, and the counters can be checked exactly.
 *
 * BPF_PROG_TEST_RUN reports the ingress ifindex of the namespace's lo;
 * backends' nh_ifindex is set to that so the program answers XDP_TX.
 *
 * Needs root (bpf(), bpffs, CLONE_NEWNET); exits 77 with a reason where
 * it cannot run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd.h"
#include "viptable.h"
#include "loader.h"
#include "bpffs.h"
#include "driver_xdp.h"
#include "pktbuild.h"
#include "sluice.skel.h"

#define VIP_SLOTS 64
#define MAX_VIPS 8
#define MAX_RING 13
#define MAX_BACKENDS 16
#define FLOW_BUCKETS 64

#define CLIENT "198.51.100.7"
#define VIP0 "10.100.0.1"
#define VIP1 "10.100.0.2"
#define ENCAP4 "172.16.0.1"
#define WATCH_MAX_NS 2000000000LL	/* the watcher thread stops by itself after 2 s */

/* Two sets of sizes: B differs in max_backends, so its maps do not fit A's
 * program (an incompatible restart). */
static const struct lb_params params_a = {
	.vip_slots = VIP_SLOTS,
	.max_vips = MAX_VIPS,
	.max_ring = MAX_RING,
	.max_backends = MAX_BACKENDS,
	.flow_buckets = FLOW_BUCKETS,
};
static const struct lb_params params_b = {
	.vip_slots = VIP_SLOTS,
	.max_vips = MAX_VIPS,
	.max_ring = MAX_RING,
	.max_backends = 2 * MAX_BACKENDS,
	.flow_buckets = FLOW_BUCKETS,
};

static char pin_root[128], pin_dir[192];
static int sl0, lo;
static struct cp_driver drv;
static int drv_open;

/* Frames: a SYN and an ACK of one flow to VIP0, a SYN to VIP1. */
static uint8_t syn0[128], ack0[128], syn1[128];
static size_t syn0_len, ack0_len, syn1_len;

/* State the first test leaves for the next ones. */
static struct {
	__u32 prog_id;
	__u32 map_id[2];		/* flows, vip_stats */
	__u32 vip_gen;
} first;

/* ---- helpers ------------------------------------------------------- */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static struct lb_xdp *loader(void)
{
	assert_true(drv_open);
	return cp_driver_xdp_loader(&drv);
}

static __u32 obj_id(int fd)
{
	struct { __u32 type, id; } info = { 0, 0 };	/* prog, map and link infos */
	__u32 len = sizeof(info);

	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

/* id of the object pinned at pin_dir/name, 0 if none */
static __u32 pinned_id(const char *name)
{
	char path[256];
	__u32 id;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	id = obj_id(fd);
	close(fd);
	return id;
}

/* Open file descriptors of the process: the driver leaves none behind. */
static int count_fds(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static int pinned(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return file_exists(path);
}

static __u32 xdp_id(int ifindex, int mode)
{
	__u32 id = 0;

	assert_int_equal(bpf_xdp_query_id(ifindex, mode, &id), 0);
	return id;
}

static __u32 prog_id(void)
{
	return obj_id(lb_xdp_prog_fd(loader()));
}

static __u32 map_id(const char *name)
{
	return obj_id(lb_xdp_map_fd(loader(), name));
}

static int test_run(int prog_fd, const uint8_t *pkt, size_t len, __u32 *retval)
{
	uint8_t out[256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	*retval = o.retval;
	return 0;
}

static __u32 run(const uint8_t *pkt, size_t len)
{
	__u32 ret = 0;

	assert_int_equal(test_run(lb_xdp_prog_fd(loader()), pkt, len, &ret), 0);
	return ret;
}

static size_t tcp_frame(uint8_t *buf, size_t cap, const char *dst, uint8_t flags)
{
	struct pb_pkt p;
	size_t n;

	memset(&p, 0, sizeof(p));
	memcpy(p.dmac, (uint8_t[6]){ 0x02, 0x1b, 0, 0, 0, 1 }, 6);
	memcpy(p.smac, (uint8_t[6]){ 0x02, 0xc1, 0, 0, 0, 7 }, 6);
	p.src = CLIENT;
	p.dst = dst;
	p.proto = PB_P_TCP;
	p.sport = 40000;
	p.dport = 80;
	p.seq = 1000;
	p.ack = flags & PB_TCP_ACK ? 2000 : 0;
	p.tcp_flags = flags;
	p.window = 1024;
	p.df = 1;
	n = pb_frame(buf, cap, &p);
	assert_true(n > 0);
	return n;
}

static struct lb_flow_key flow_key(const char *dst)
{
	struct lb_flow_key k;

	memset(&k, 0, sizeof(k));
	k.family = LB_FAMILY_V4;
	k.proto = IPPROTO_TCP;
	assert_int_equal(inet_pton(AF_INET, CLIENT, &k.src.w[0]), 1);
	assert_int_equal(inet_pton(AF_INET, dst, &k.dst.w[0]), 1);
	k.sport = htons(40000);
	k.dport = htons(80);
	return k;
}

static struct lb_vip_entry vip_entry(const char *addr, __u32 id)
{
	struct lb_vip_entry e;

	memset(&e, 0, sizeof(e));
	e.key.family = LB_FAMILY_V4;
	assert_int_equal(inet_pton(AF_INET, addr, &e.key.addr.w[0]), 1);
	e.key.port = htons(80);
	e.key.proto = IPPROTO_TCP;
	e.vip_id = id;
	return e;
}

static void set_backend(__u32 id, const char *addr)
{
	struct lb_backend b;

	memset(&b, 0, sizeof(b));
	b.family = LB_FAMILY_V4;
	assert_int_equal(inet_pton(AF_INET, addr, &b.addr.w[0]), 1);
	b.state = LB_BACKEND_UP;
	b.flags = LB_BACKEND_F_NH_VALID;
	b.gen = 100 + id;
	b.nh_ifindex = (__u32)lo;
	b.nh_mtu = 1500;
	memcpy(b.nh_dmac, (uint8_t[6]){ 0x02, 0xbe, 0, 0, 0, (uint8_t)id }, 6);
	memcpy(b.nh_smac, (uint8_t[6]){ 0x02, 0x1b, 0, 0, 0, 1 }, 6);
	assert_int_equal(drv.ops->set_backend(drv.ctx, id, &b), 0);
}

static void set_ring_of(__u32 vip, __u32 backend)
{
	__u32 ring[MAX_RING], i;

	for (i = 0; i < MAX_RING; i++)
		ring[i] = backend;
	assert_int_equal(drv.ops->set_ring(drv.ctx, vip, ring, MAX_RING), 0);
}

/* What the control plane writes: encap source, backend 0, VIP0 -> 0. */
static void push_model(void)
{
	struct lb_vip_entry e = vip_entry(VIP0, 0);
	struct lb_config c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(inet_pton(AF_INET, ENCAP4, &c.encap_src4), 1);
	assert_int_equal(drv.ops->set_config(drv.ctx, &c), 0);
	set_backend(0, "192.168.10.1");
	set_ring_of(0, 0);
	assert_int_equal(drv.ops->set_vips(drv.ctx, &e, 1), 0);
}

static struct lb_config raw_config(void)
{
	struct lb_config c;
	__u32 key = 0;

	assert_int_equal(bpf_map_lookup_elem(lb_xdp_map_fd(loader(), LB_MAP_CONFIG), &key, &c), 0);
	return c;
}

static void open_driver(const struct lb_params *p, int *adopted)
{
	assert_false(drv_open);
	*adopted = -1;
	assert_int_equal(cp_driver_xdp_open(&drv, pin_root, p, adopted), 0);
	drv_open = 1;
}

static void close_driver(void)
{
	if (!drv_open)
		return;
	drv.ops->close(drv.ctx);
	memset(&drv, 0, sizeof(drv));
	drv_open = 0;
}

/* Removes every pin under dir and the directories themselves. Passes
 * until a pass finds nothing: removing entries while reading the
 * directory may skip some. */
static void remove_tree(const char *dir)
{
	char path[512];
	struct dirent *e;
	struct stat st;
	int removed, pass;
	DIR *d;

	for (pass = 0; pass < 8; pass++) {
		d = opendir(dir);
		if (!d)
			return;
		removed = 0;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (!lstat(path, &st) && S_ISDIR(st.st_mode))
				remove_tree(path);
			else
				unlink(path);
			removed++;
		}
		closedir(d);
		if (!removed)
			break;
	}
	rmdir(dir);
}

/* Names in pin_dir ending in "_new" (staged pins left behind). */
static int staged_leftovers(void)
{
	struct dirent *e;
	DIR *d = opendir(pin_dir);
	size_t len;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		len = strlen(e->d_name);
		n += len > 4 && !strcmp(e->d_name + len - 4, "_new");
	}
	closedir(d);
	return n;
}

/* ---- the watcher thread -------------------------------------------- */

struct watch {
	pthread_t th;
	int ifindex;
	int run_pkt;		/* also run packets through the program seen, expect XDP_TX:
				 * ack0 (the flow table) and syn0 (VIP table, ring and
				 * backends: a SYN always picks from the ring), in turn */
	int phase;		/* set by main: 0 before, 1 restarting, 2 after */
	int stop;
	long iters, phase_iters[3];
	long no_prog;		/* the interface had no program */
	long not_tx;		/* the program answered something else than XDP_TX */
	long gone;		/* the id seen had no program any more */
	long errors;		/* BPF_PROG_TEST_RUN failed */
	long tx;		/* XDP_TX answers */
	long syn_tx;		/* of which to syn0 */
	__u32 first_id, last_id;
	int changes;		/* program id changes seen */
};

/* One watcher at a time, global: a test that fails while it runs leaves
 * it to the per-test teardown, which stops and joins it. */
static struct watch watcher;
static int watcher_running;

static void watch_reap(void)
{
	if (!watcher_running)
		return;
	__atomic_store_n(&watcher.stop, 1, __ATOMIC_RELEASE);
	pthread_join(watcher.th, NULL);
	watcher_running = 0;
}

static void *watch_thread(void *arg)
{
	struct watch *w = arg;
	long long end = now_ns() + WATCH_MAX_NS;
	__u32 id, ret;
	int fd;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) && now_ns() < end) {
		int phase = __atomic_load_n(&w->phase, __ATOMIC_ACQUIRE);

		id = 0;
		if (bpf_xdp_query_id(w->ifindex, 0, &id) || !id) {
			w->no_prog++;
		} else {
			if (!w->first_id)
				w->first_id = id;
			else if (id != w->last_id)
				w->changes++;
			w->last_id = id;
			if (w->run_pkt) {
				fd = bpf_prog_get_fd_by_id(id);
				if (fd < 0) {
					w->gone++;
				} else {
					int syn = w->iters & 1;

					if (test_run(fd, syn ? syn0 : ack0,
						     syn ? syn0_len : ack0_len, &ret))
						w->errors++;
					else if (ret != XDP_TX)
						w->not_tx++;
					else
						w->tx++, w->syn_tx += syn;
					close(fd);
				}
			}
		}
		__atomic_store_n(&w->iters, w->iters + 1, __ATOMIC_RELEASE);
		__atomic_store_n(&w->phase_iters[phase], w->phase_iters[phase] + 1,
				 __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Starts the watcher on ifindex and returns it once it has checked a few
 * times; phase 1 (restarting) from then on. */
static struct watch *watch_start(int ifindex, int run_pkt)
{
	struct watch *w = &watcher;
	long long end = now_ns() + WATCH_MAX_NS / 4;

	watch_reap();
	memset(w, 0, sizeof(*w));
	w->ifindex = ifindex;
	w->run_pkt = run_pkt;
	assert_int_equal(pthread_create(&w->th, NULL, watch_thread, w), 0);
	watcher_running = 1;
	while (__atomic_load_n(&w->iters, __ATOMIC_ACQUIRE) < 20 && now_ns() < end)
		sleep_ms(1);
	__atomic_store_n(&w->phase, 1, __ATOMIC_RELEASE);
	return w;
}

/* Phase 2 (after), a few more checks, then stops it and prints its tally. */
static void watch_stop(void)
{
	struct watch *w = &watcher;
	long long end = now_ns() + WATCH_MAX_NS / 4;

	__atomic_store_n(&w->phase, 2, __ATOMIC_RELEASE);
	while (__atomic_load_n(&w->phase_iters[2], __ATOMIC_ACQUIRE) < 20 && now_ns() < end)
		sleep_ms(1);
	watch_reap();
	print_message("  watcher: %ld checks (%ld before, %ld during, %ld after the restart), "
		      "%d program change(s), %ld without a program, %ld XDP_TX, %ld other, "
		      "%ld vanished, %ld errors\n",
		      w->iters, w->phase_iters[0], w->phase_iters[1], w->phase_iters[2],
		      w->changes, w->no_prog, w->tx, w->not_tx, w->gone, w->errors);
}

/* The interface was never without a program, and the thread watched the
 * whole restart. */
static void watch_check(const struct watch *w)
{
	assert_true(w->phase_iters[0] > 0);
	assert_true(w->phase_iters[1] > 0);
	assert_true(w->phase_iters[2] > 0);
	assert_int_equal(w->no_prog, 0);
	assert_int_equal(w->gone, 0);
	assert_int_equal(w->errors, 0);
	if (w->run_pkt) {
		assert_int_equal(w->not_tx, 0);
		assert_int_equal(w->tx, w->iters);
	}
}

/* Counters of VIP0, backend 0 and fwd_tx. */
struct snap {
	struct lb_vip_stats v;
	struct lb_backend_stats b;
	struct lb_reason_stats r[LB_R_MAX];
};

static struct snap snapshot(void)
{
	struct snap s;

	assert_int_equal(drv.ops->vip_stats(drv.ctx, 0, &s.v), 0);
	assert_int_equal(drv.ops->backend_stats(drv.ctx, 0, &s.b), 0);
	assert_int_equal(drv.ops->reason_stats(drv.ctx, s.r), 0);
	return s;
}

/* ---- set-up ---------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/sluice-test-%d", (int)getpid());
	snprintf(pin_dir, sizeof(pin_dir), "%s/sl0", pin_root);
	syn0_len = tcp_frame(syn0, sizeof(syn0), VIP0, PB_TCP_SYN);
	ack0_len = tcp_frame(ack0, sizeof(ack0), VIP0, PB_TCP_ACK);
	syn1_len = tcp_frame(syn1, sizeof(syn1), VIP1, PB_TCP_SYN);
	return 0;
}

/* After every test: a failed one may have left the watcher running or the
 * driver open (its pins stay for the next test, as after a crash). */
static int test_teardown(void **state)
{
	(void)state;
	watch_reap();
	close_driver();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	watch_reap();
	close_driver();
	/* Pinned links would keep their (defunct) programs alive after the
	 * namespace is gone: remove every pin. */
	remove_tree(pin_root);
	return 0;
}

/* ---- tests ----------------------------------------------------------- */

/* First start: nothing pinned; the first attach pins under
 * pin_root/<ifname>; close leaves the program forwarding. */
static void test_first_start(void **state)
{
	struct lb_flow_key k = flow_key(VIP0);
	struct lb_xdp *x;
	__u32 backend = 99;
	int adopted;

	(void)state;
	assert_false(file_exists(pin_root));
	open_driver(&params_a, &adopted);
	assert_int_equal(adopted, 0);
	assert_string_equal(drv.ops->name, "xdp");
	assert_int_equal(drv.ops->params(drv.ctx)->max_backends, MAX_BACKENDS);
	x = loader();
	assert_null(lb_xdp_pin_dir(x));
	assert_false(file_exists(pin_dir));	/* pinned at the first attach */

	assert_int_equal(drv.ops->attach(drv.ctx, "nope0"), -ENODEV);
	assert_false(file_exists(pin_dir));
	assert_int_equal(drv.ops->attach(drv.ctx, "sl0"), 0);
	assert_int_equal(lb_xdp_attached(x, sl0), LB_XDP_ATTACHED_NATIVE);
	assert_int_equal(drv.ops->attach(drv.ctx, "sl0"), 0);	/* no-op */
	assert_int_equal(xdp_id(sl0, XDP_FLAGS_DRV_MODE), prog_id());
	assert_string_equal(lb_xdp_pin_dir(x), pin_dir);
	assert_int_equal(pinned_id("prog"), prog_id());
	assert_int_equal(pinned_id(LB_MAP_FLOWS), map_id(LB_MAP_FLOWS));
	assert_int_equal(pinned_id(LB_MAP_REASON_STATS), map_id(LB_MAP_REASON_STATS));
	assert_true(pinned("abi"));
	assert_true(pinned("link_sl0"));
	{
		struct stat st;

		assert_int_equal(stat(pin_dir, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}

	push_model();
	assert_int_equal(run(syn0, syn0_len), XDP_TX);
	assert_int_equal(run(ack0, ack0_len), XDP_TX);
	assert_int_equal(lb_xdp_flow_lookup(x, &k, &backend), 0);
	assert_int_equal(backend, 0);

	first.prog_id = prog_id();
	first.map_id[0] = map_id(LB_MAP_FLOWS);
	first.map_id[1] = map_id(LB_MAP_VIP_STATS);
	first.vip_gen = raw_config().vip_gen;

	close_driver();
	/* forwarding stays: the link is pinned */
	assert_int_equal(xdp_id(sl0, XDP_FLAGS_DRV_MODE), first.prog_id);
	assert_true(pinned("link_sl0"));
	assert_int_equal(pinned_id("prog"), first.prog_id);
}

/* Restart of the same build: the program, its id and every map are kept;
 * packets of the established flow go out all along. */
static void test_restart_same_build(void **state)
{
	struct lb_flow_key k0 = flow_key(VIP0), k1 = flow_key(VIP1);
	struct lb_vip_entry e[2] = { vip_entry(VIP0, 0), vip_entry(VIP1, 1) };
	struct lb_vip_stats vs;
	struct snap before, after;
	struct watch *w;
	__u32 backend = 99;
	int adopted, fds = count_fds();

	(void)state;
	/* counters as the first run left them, read through the pins */
	open_driver(&params_a, &adopted);
	assert_int_equal(adopted, 1);
	before = snapshot();
	assert_true(before.v.packets >= 2);

	/* the daemon stops and starts again under the watcher's eyes */
	w = watch_start(sl0, 1);
	close_driver();
	open_driver(&params_a, &adopted);
	assert_int_equal(drv.ops->attach(drv.ctx, "sl0"), 0);
	watch_stop();
	watch_check(w);
	assert_int_equal(w->changes, 0);

	assert_int_equal(adopted, 1);
	assert_int_equal(xdp_id(sl0, XDP_FLAGS_DRV_MODE), first.prog_id);
	assert_int_equal(prog_id(), first.prog_id);
	assert_int_equal(pinned_id("prog"), first.prog_id);
	assert_int_equal(map_id(LB_MAP_FLOWS), first.map_id[0]);
	assert_int_equal(map_id(LB_MAP_VIP_STATS), first.map_id[1]);
	assert_int_equal(lb_xdp_attached(loader(), sl0), LB_XDP_ATTACHED_NATIVE);
	assert_int_equal(staged_leftovers(), 0);

	/* the state survived: the flow, the VIP table's half, counters
	 * moved by exactly the watcher's packets */
	assert_int_equal(lb_xdp_flow_lookup(loader(), &k0, &backend), 0);
	assert_int_equal(backend, 0);
	assert_int_equal(raw_config().vip_gen, first.vip_gen);
	{
		struct lb_vip_meta meta;
		__u32 key = 0;

		assert_int_equal(bpf_map_lookup_elem(lb_xdp_map_fd(loader(), LB_MAP_VIP_META),
						     &key, &meta), 0);
		assert_int_equal(LB_RING_SIZE(meta.ring), MAX_RING);
	}
	after = snapshot();
	assert_int_equal(after.v.packets, before.v.packets + (__u64)w->tx);
	assert_int_equal(after.v.ring_picks, before.v.ring_picks + (__u64)w->syn_tx);
	assert_int_equal(after.v.new_flows, before.v.new_flows);	/* the SYN meets its flow */
	assert_int_equal(after.b.packets, before.b.packets + (__u64)w->tx);
	assert_int_equal(after.r[LB_R_FWD_TX].packets,
			 before.r[LB_R_FWD_TX].packets + (__u64)w->tx);

	/* the new handle writes what the running program reads: a second
	 * VIP, published on the idle half, next to the first */
	set_backend(1, "192.168.10.2");
	set_ring_of(1, 1);
	assert_int_equal(drv.ops->set_vips(drv.ctx, e, 2), 0);
	assert_int_equal(raw_config().vip_gen, 1 - first.vip_gen);
	assert_int_equal(run(syn1, syn1_len), XDP_TX);
	assert_int_equal(lb_xdp_flow_lookup(loader(), &k1, &backend), 0);
	assert_int_equal(backend, 1);
	assert_int_equal(run(ack0, ack0_len), XDP_TX);
	assert_int_equal(drv.ops->vip_stats(drv.ctx, 1, &vs), 0);
	assert_int_equal(vs.packets, 1);
	close_driver();
	assert_int_equal(count_fds(), fds);
}

/* Upgrade: another build of the program (here: the same object with a
 * different .rodata, so its tag is equal but its constants are not) runs
 * on the pinned maps. Adoption keeps the maps and swaps the program on
 * the link atomically. */
static void test_restart_upgrade(void **state)
{
	static const char *const maps[] = {
		LB_MAP_CONFIG, LB_MAP_VIP_TABLE, LB_MAP_VIP_META, LB_MAP_RINGS,
		LB_MAP_BACKENDS, LB_MAP_FLOWS, LB_MAP_VIP_STATS, LB_MAP_BACKEND_STATS,
		LB_MAP_REASON_STATS,
	};
	struct lb_flow_key k = flow_key(VIP0);
	struct sluice *old;
	struct bpf_map *m;
	struct lb_params p;
	struct snap before, after;
	struct watch *w;
	char path[256], tmp[256];
	__u32 old_id, new_id, backend = 99;
	int fd, link_fd, adopted;
	size_t i;

	(void)state;
	open_driver(&params_a, &adopted);
	assert_int_equal(adopted, 1);
	p = *lb_xdp_params(loader());
	before = snapshot();
	close_driver();

	/* the "old build": our object on the pinned maps, flow_buckets
	 * halved in its constants */
	old = sluice__open();
	assert_non_null(old);
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, maps[i]);
		fd = bpf_obj_get(path);
		assert_true(fd >= 0);
		m = bpf_object__find_map_by_name(old->obj, maps[i]);
		assert_non_null(m);
		assert_int_equal(bpf_map__reuse_fd(m, fd), 0);
		close(fd);
	}
	p.flow_buckets /= 2;
	old->rodata->lb_params = p;
	assert_int_equal(sluice__load(old), 0);
	old_id = obj_id(bpf_program__fd(old->progs.sluice_xdp));

	/* ... put on the link and pinned as "prog", as its sluiced would */
	snprintf(path, sizeof(path), "%s/link_sl0", pin_dir);
	link_fd = bpf_obj_get(path);
	assert_true(link_fd >= 0);
	assert_int_equal(bpf_link_update(link_fd, bpf_program__fd(old->progs.sluice_xdp), NULL), 0);
	close(link_fd);
	snprintf(path, sizeof(path), "%s/prog", pin_dir);
	snprintf(tmp, sizeof(tmp), "%s/prog_test", pin_dir);
	assert_int_equal(bpf_obj_pin(bpf_program__fd(old->progs.sluice_xdp), tmp), 0);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(xdp_id(sl0, 0), old_id);

	w = watch_start(sl0, 1);
	open_driver(&params_a, &adopted);
	assert_int_equal(drv.ops->attach(drv.ctx, "sl0"), 0);
	watch_stop();
	/* the old build is still held by `old`, so no id seen can vanish */
	watch_check(w);
	sluice__destroy(old);

	assert_int_equal(adopted, 1);
	new_id = prog_id();
	assert_true(new_id != old_id && new_id != first.prog_id);
	assert_int_equal(w->changes, 1);
	assert_int_equal(w->first_id, old_id);
	assert_int_equal(w->last_id, new_id);
	assert_int_equal(xdp_id(sl0, XDP_FLAGS_DRV_MODE), new_id);
	assert_int_equal(pinned_id("prog"), new_id);
	assert_int_equal(staged_leftovers(), 0);
	/* same maps, state and counters kept */
	assert_int_equal(map_id(LB_MAP_FLOWS), first.map_id[0]);
	assert_int_equal(map_id(LB_MAP_VIP_STATS), first.map_id[1]);
	assert_int_equal(lb_xdp_flow_lookup(loader(), &k, &backend), 0);
	assert_int_equal(backend, 0);
	after = snapshot();
	assert_int_equal(after.v.packets, before.v.packets + (__u64)w->tx);
	assert_true(after.v.new_flows >= before.v.new_flows);
	assert_int_equal(run(ack0, ack0_len), XDP_TX);
	assert_int_equal(run(syn1, syn1_len), XDP_TX);
	first.prog_id = new_id;
	close_driver();
}

/* Other sizes: the pinned maps cannot serve the new program. Fresh maps,
 * the link swapped atomically, everything re-pinned, adopted == 0. */
static void test_restart_incompatible(void **state)
{
	struct lb_flow_key k = flow_key(VIP0);
	struct lb_vip_stats vs;
	struct watch *w;
	__u32 backend, new_id;
	int adopted, fds = count_fds();

	(void)state;
	w = watch_start(sl0, 0);
	open_driver(&params_b, &adopted);
	assert_int_equal(drv.ops->attach(drv.ctx, "sl0"), 0);
	watch_stop();
	watch_check(w);

	assert_int_equal(adopted, 0);
	new_id = prog_id();
	assert_true(new_id != first.prog_id);
	assert_int_equal(w->first_id, first.prog_id);
	assert_int_equal(w->last_id, new_id);
	assert_int_equal(w->changes, 1);
	assert_int_equal(xdp_id(sl0, XDP_FLAGS_DRV_MODE), new_id);
	assert_int_equal(drv.ops->params(drv.ctx)->max_backends, 2 * MAX_BACKENDS);
	/* everything pinned is the new handle's */
	assert_int_equal(pinned_id("prog"), new_id);
	assert_int_equal(pinned_id(LB_MAP_FLOWS), map_id(LB_MAP_FLOWS));
	assert_int_equal(pinned_id(LB_MAP_BACKENDS), map_id(LB_MAP_BACKENDS));
	assert_true(map_id(LB_MAP_FLOWS) != first.map_id[0]);
	assert_true(pinned("abi") && pinned("link_sl0"));
	assert_int_equal(staged_leftovers(), 0);
	/* new maps: empty until the caller pushes its model */
	assert_int_equal(lb_xdp_flow_lookup(loader(), &k, &backend), -ENOENT);
	assert_int_equal(drv.ops->vip_stats(drv.ctx, 0, &vs), 0);
	assert_int_equal(vs.packets, 0);
	assert_int_equal(run(ack0, ack0_len), XDP_PASS);
	push_model();
	assert_int_equal(run(syn0, syn0_len), XDP_TX);
	first.prog_id = new_id;
	first.map_id[0] = map_id(LB_MAP_FLOWS);
	first.map_id[1] = map_id(LB_MAP_VIP_STATS);
	close_driver();

	/* pins without an ABI stamp (an older loader's): not adopted */
	assert_int_equal(unlink(strcat(strcpy((char[256]){ 0 }, pin_dir), "/abi")), 0);
	open_driver(&params_b, &adopted);
	assert_int_equal(adopted, 0);
	assert_true(pinned("abi"));
	assert_int_equal(xdp_id(sl0, XDP_FLAGS_DRV_MODE), prog_id());
	first.prog_id = prog_id();
	push_model();
	close_driver();
	open_driver(&params_b, &adopted);
	assert_int_equal(adopted, 1);
	assert_int_equal(prog_id(), first.prog_id);
	close_driver();
	assert_int_equal(count_fds(), fds);
}

/* Generic mode has no link: an adopted program on lo is recognised as
 * ours, and a replaced one is swapped with XDP_FLAGS_REPLACE. */
static void test_generic(void **state)
{
	struct watch *w;
	__u32 id;
	int adopted;

	(void)state;
	open_driver(&params_b, &adopted);
	assert_int_equal(adopted, 1);
	assert_int_equal(drv.ops->attach(drv.ctx, "lo"), -EOPNOTSUPP);	/* native only */
	cp_driver_xdp_set_generic(&drv, 1);
	assert_int_equal(drv.ops->attach(drv.ctx, "lo"), 0);
	id = prog_id();
	assert_int_equal(xdp_id(lo, XDP_FLAGS_SKB_MODE), id);
	assert_int_equal(lb_xdp_attached(loader(), lo), LB_XDP_ATTACHED_GENERIC);
	close_driver();
	assert_int_equal(xdp_id(lo, XDP_FLAGS_SKB_MODE), id);

	/* same build: lo keeps the very program */
	open_driver(&params_b, &adopted);
	assert_int_equal(adopted, 1);
	cp_driver_xdp_set_generic(&drv, 1);
	assert_int_equal(drv.ops->attach(drv.ctx, "lo"), 0);
	assert_int_equal(lb_xdp_attached(loader(), lo), LB_XDP_ATTACHED_GENERIC);
	assert_int_equal(xdp_id(lo, XDP_FLAGS_SKB_MODE), id);
	close_driver();

	/* incompatible: lo runs the old program until attach swaps it */
	w = watch_start(lo, 0);
	open_driver(&params_a, &adopted);
	assert_int_equal(xdp_id(lo, XDP_FLAGS_SKB_MODE), id);
	cp_driver_xdp_set_generic(&drv, 1);
	assert_int_equal(drv.ops->attach(drv.ctx, "lo"), 0);
	watch_stop();
	watch_check(w);
	assert_int_equal(adopted, 0);
	assert_int_equal(xdp_id(lo, XDP_FLAGS_SKB_MODE), prog_id());
	assert_int_equal(w->changes, 1);
	assert_int_equal(xdp_id(sl0, XDP_FLAGS_DRV_MODE), prog_id());	/* its link too */
	first.prog_id = prog_id();
	push_model();

	/* detach lo; sl0 stays, and so do the pins */
	assert_int_equal(drv.ops->detach(drv.ctx, "lo"), 0);
	assert_int_equal(xdp_id(lo, 0), 0);
	assert_true(pinned("prog"));
	assert_int_equal(drv.ops->detach(drv.ctx, "lo"), -ENOENT);
	close_driver();
}

/* An explicit detach of the last interface stops forwarding and removes
 * the pins: the next start is a fresh one. */
static void test_detach_unpins(void **state)
{
	int adopted;

	(void)state;
	open_driver(&params_a, &adopted);
	assert_int_equal(adopted, 1);
	assert_int_equal(drv.ops->detach(drv.ctx, "sl0"), 0);
	assert_int_equal(xdp_id(sl0, 0), 0);
	assert_false(file_exists(pin_dir));
	assert_true(file_exists(pin_root));
	assert_null(lb_xdp_pin_dir(loader()));
	assert_int_equal(drv.ops->detach(drv.ctx, "sl0"), -ENOENT);
	assert_int_equal(drv.ops->detach(drv.ctx, "nope0"), -ENODEV);
	close_driver();

	open_driver(&params_a, &adopted);
	assert_int_equal(adopted, 0);
	assert_int_equal(drv.ops->attach(drv.ctx, "sl0"), 0);
	assert_true(pinned("link_sl0"));
	assert_int_equal(drv.ops->detach(drv.ctx, "sl0"), 0);
	assert_false(file_exists(pin_dir));
	close_driver();

	/* no pin root at all: never pins; a native link ends with close */
	assert_int_equal(cp_driver_xdp_open(&drv, NULL, &params_a, &adopted), 0);
	drv_open = 1;
	assert_int_equal(adopted, 0);
	assert_int_equal(drv.ops->attach(drv.ctx, "sl0"), 0);
	assert_null(lb_xdp_pin_dir(loader()));
	assert_false(file_exists(pin_dir));
	close_driver();
	assert_int_equal(xdp_id(sl0, 0), 0);
}

static int pin_dummy(const char *dir)
{
	char path[256];
	int fd, err;

	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/x", dir);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb_t_dummy", 4, 4, 1, NULL);
	if (fd < 0)
		return -errno;
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd);
	return err;
}

/* Edges: two pin directories; the loader's adopt without a directory,
 * with a new one, and unpin. */
static void test_edges(void **state)
{
	char a[256], b[256], dir[192];
	struct lb_xdp *x;
	int adopted;

	(void)state;
	snprintf(a, sizeof(a), "%s/eth7", pin_root);
	snprintf(b, sizeof(b), "%s/eth8", pin_root);
	assert_int_equal(pin_dummy(a), 0);
	assert_int_equal(pin_dummy(b), 0);
	adopted = -1;
	assert_int_equal(cp_driver_xdp_open(&drv, pin_root, &params_a, &adopted), -EEXIST);
	remove_tree(b);
	/* one directory with someone else's pin: not adoptable, replaced
	 * (the foreign pin is left alone) */
	assert_int_equal(cp_driver_xdp_open(&drv, pin_root, &params_a, &adopted), 0);
	drv_open = 1;
	assert_int_equal(adopted, 0);
	assert_string_equal(lb_xdp_pin_dir(loader()), a);
	close_driver();
	remove_tree(a);

	errno = 0;
	assert_null(lb_xdp_adopt(NULL, &params_a, NULL));
	assert_int_equal(errno, EINVAL);
	x = lb_xdp_adopt(NULL, &params_a, &adopted);
	assert_non_null(x);
	assert_int_equal(adopted, 0);
	assert_null(lb_xdp_pin_dir(x));
	lb_xdp_close(x);

	snprintf(dir, sizeof(dir), "%s/new/deeper", pin_root);
	x = lb_xdp_adopt(dir, &params_a, &adopted);
	assert_non_null(x);
	assert_int_equal(adopted, 0);
	assert_string_equal(lb_xdp_pin_dir(x), dir);
	snprintf(a, sizeof(a), "%s/prog", dir);
	assert_true(file_exists(a));
	assert_int_equal(lb_xdp_unpin(x, dir), 0);
	assert_null(lb_xdp_pin_dir(x));
	assert_false(file_exists(dir));
	lb_xdp_close(x);

	errno = 0;
	x = lb_xdp_adopt(dir, &(struct lb_params){ .vip_slots = 100 }, &adopted);
	assert_null(x);
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_first_start, test_teardown),
		cmocka_unit_test_teardown(test_restart_same_build, test_teardown),
		cmocka_unit_test_teardown(test_restart_upgrade, test_teardown),
		cmocka_unit_test_teardown(test_restart_incompatible, test_teardown),
		cmocka_unit_test_teardown(test_generic, test_teardown),
		cmocka_unit_test_teardown(test_detach_unpins, test_teardown),
		cmocka_unit_test_teardown(test_edges, test_teardown),
	};
	cpu_set_t allowed, one;
	int fd, c;

	if (geteuid() != 0) {
		printf("SKIP: needs root (bpf(), bpffs pins, a network namespace)\n");
		return 77;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb_t_probe", 4, 4, 1, NULL);
	if (fd < 0) {
		printf("SKIP: bpf() refused: %s\n", strerror(errno));
		return 77;
	}
	close(fd);
	/* as sluiced does: mounts bpffs where the host has not */
	if (lb_bpffs_mkdir(LB_BPFFS_DEFAULT)) {
		printf("SKIP: no bpffs at " LB_BPFFS_DEFAULT " and none can be mounted\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET)) {
		printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 77;
	}
	if (system("ip link add sl0 type veth peer name sl1 && "
		   "ip link set sl0 up && ip link set sl1 up && ip link set lo up")) {
		printf("SKIP: cannot create a veth pair with ip(8)\n");
		return 77;
	}
	sl0 = (int)if_nametoindex("sl0");
	lo = (int)if_nametoindex("lo");
	if (sl0 <= 0 || lo <= 0) {
		printf("no sl0 or lo in the new namespace\n");
		return 1;
	}
	/* One CPU: the connection table is per CPU (see the top). */
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
		for (c = 0; c < CPU_SETSIZE && !CPU_ISSET(c, &allowed); c++)
			;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			printf("warning: cannot pin to CPU %d: %s\n", c, strerror(errno));
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
