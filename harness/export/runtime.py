# ruff: noqa: E101 (C source in kernel style: tabs, then spaces to align continuation lines)
"""The fixed part of an exported C program, as C source text in sections.

The emitter (harness/export/emit.py) puts the sections a scenario needs around the parts it
generates (the op table, the expected observations, `do_op`). Each section is the C twin
of a piece of the Python oracle (harness/oracle/), doing the same syscalls in the same
order, so that the program's verdict and `gupharness conform --file` agree:

    CORE_DECLS, CORE   child.py / procfs.py / execute.py setup: the area, the layout, observation
                       through pagemap and kpageflags, TAP test points
    MAIN               child.py child_main and run_in_child: one CPU, the op loop, the watchdog
                       (alarm() per op; a hung op is `not ok ... hung`), facility checks (SKIP)
    PERMS, CPU         Executor.cpu: a CPU access, -EFAULT when /proc/self/maps forbids it
    MAPPED_BYTES       Executor._mapped_bytes: device/mapping coherence, as a TAP diagnostic
    FILE, SHMEM        files.py: an unnamed ext4 (block filesystem) file of pattern content; a memfd
    RING, RING_IO      uring.py: a ring and IORING_REGISTER_BUFFERS; READ_FIXED/WRITE_FIXED
    DMA_WRITE, DMA_READ_RING, DMA_READ_PIPE   Executor.dma and _pipe_read
    VMSPLICE, ODIRECT, PVM, PROCMEM, POPULATE  Executor.gup, one caller each
    RELEASE, VM        Executor.release; munmap/mprotect/madvise results as -errno
    PROCS or SINGLE    Executor.fork/serve/call, child.py's answers for exited processes and Exit

Sections use only libc and kernel UAPI headers; the programs build with `cc -Wall -Werror`
(tests/test_export.py checks that with the machine's cc, gcc 12 here).
"""

from __future__ import annotations

INCLUDES = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kernel-page-flags.h>
"""

CORE_DECLS = r"""
#define PAGE 4096UL
/* far below the heap and the mmap area: nothing else lands in the holes we unmap */
#define AREA_HINT 0x2AAA00000000UL
/* fault_around_bytes (64 KiB): a read fault's window is aligned on the virtual address */
#define FAULT_AROUND_ALIGN (16 * PAGE)
#ifndef TIMEOUT_SECONDS
#define TIMEOUT_SECONDS 10	/* per operation: longer than this is reported as hung */
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4
#define NO_RESULT LONG_MIN	/* an operation without a result (fork, exit) */

#define PM_PRESENT (1ULL << 63)
#define PM_MMAP_EXCLUSIVE (1ULL << 56)	/* mapcount == 1, not PageAnonExclusive */
#define PM_PFN_MASK ((1ULL << 55) - 1)

enum op_kind { OP_GUP, OP_RELEASE, OP_CPU, OP_DMA, OP_FORK, OP_EXIT, OP_VM };

struct op_info {
	const char *what;	/* as gupharness describes it */
	enum op_kind kind;
	int owner;		/* the scenario process it runs in */
	int fork_number;	/* OP_FORK: the process it creates */
	int exits;		/* OP_EXIT: the process that exits */
};

struct expect {
	long result;		/* NO_RESULT, a page count or -errno */
	/* one token per page: '.' absent, 'Z' zero page, 'A'/'a' anon mapped once/shared,
	 * 'F'/'f' page cache mapped once/shared; then '+' new, '=' same page as at the
	 * previous check, '*' replaced by another page */
	const char *pages;
};

struct page_obs {
	int present, zero, anon, once;
	char identity;		/* '.', '+', '=', '*' */
};

struct held {
	int active;
	char *addr;
	long pages;
	int ring;		/* index into rings[], or -1 */
	int pipe_r, pipe_w;	/* a vmsplice pipe, or -1 */
};
"""

CORE = r"""
static const char *identity_names[] = { ['.'] = "absent", ['+'] = "new", ['='] = "same", ['*'] = "replaced" };

static char *area;		/* page 0 of the test area */
static int area_mapped;
static unsigned char counter = 0x40;	/* byte values written, so writes are distinguishable */
static struct held held[NR_OPS];

/* shared with the watchdog (the parent), which reports what was not reached */
static struct progress {
	int done;		/* test points printed */
	int failed;		/* of which not ok */
} *progress;

#define ADDR(page) (area + (unsigned long)(page) * PAGE)

static unsigned char next_byte(void)
{
	counter = (counter + 1) % 0xFF;
	if (!counter)
		counter = 1;
	return counter;
}

static const char *errno_text(long result, char *buf, size_t size)
{
	if (result == NO_RESULT)
		return "none";
	switch (-result) {
ERRNO_CASES
	}
	snprintf(buf, size, "%ld", result);
	return buf;
}

/* A fatal problem in the harness itself (not a kernel answer): the run stops here. */
static void fail(const char *what)
{
	printf("# error: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(KSFT_FAIL);
}

/* ---- observation: /proc/self/pagemap and /proc/kpageflags, never touching the pages ---- */
static int pagemap_fd = -1, kpageflags_fd = -1;
static pid_t pagemap_pid;

static uint64_t pagemap_entry(char *addr)
{
	uint64_t entry = 0;

	if (pagemap_fd < 0 || pagemap_pid != getpid()) {	/* /proc/self binds at open time */
		if (pagemap_fd >= 0)
			close(pagemap_fd);
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		pagemap_pid = getpid();
		if (pagemap_fd < 0)
			fail("open /proc/self/pagemap");
	}
	if (pread(pagemap_fd, &entry, 8, (unsigned long)addr / PAGE * 8) != 8)
		fail("read /proc/self/pagemap");
	return entry;
}

static uint64_t kpageflags(uint64_t pfn)
{
	uint64_t flags = 0;

	if (kpageflags_fd < 0 && (kpageflags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC)) < 0)
		fail("open /proc/kpageflags");
	if (pread(kpageflags_fd, &flags, 8, pfn * 8) != 8)
		return 0;
	return flags;
}

/* Observe pages [0, SPAN) of the area; identity is relative to the previous call's PFNs. */
static void observe(struct page_obs *out, int first)
{
	static uint64_t previous[SPAN];

	for (int i = 0; i < SPAN; i++) {
		uint64_t entry = pagemap_entry(ADDR(i)), pfn, flags;

		memset(&out[i], 0, sizeof(out[i]));
		out[i].identity = '.';
		if (!(entry & PM_PRESENT)) {
			previous[i] = 0;
			continue;
		}
		pfn = entry & PM_PFN_MASK;
		flags = kpageflags(pfn);
		out[i].present = 1;
		out[i].zero = !!(flags & (1ULL << KPF_ZERO_PAGE));
		out[i].anon = !!(flags & (1ULL << KPF_ANON)) && !out[i].zero;
		out[i].once = !!(entry & PM_MMAP_EXCLUSIVE);
		out[i].identity = first || !previous[i] ? '+' : previous[i] == pfn ? '=' : '*';
		previous[i] = pfn;
	}
}

static void decode(const char *tokens, struct page_obs *out)
{
	for (int i = 0; i < SPAN; i++) {
		char letter = *tokens++;

		memset(&out[i], 0, sizeof(out[i]));
		out[i].identity = '.';
		if (letter != '.') {
			out[i].present = 1;
			out[i].zero = letter == 'Z';
			out[i].anon = letter == 'A' || letter == 'a';
			out[i].once = letter == 'A' || letter == 'F';
			out[i].identity = *tokens++;
		}
		if (*tokens == ' ')
			tokens++;
	}
}

static void encode(const struct page_obs *pages, char *buf)
{
	for (int i = 0; i < SPAN; i++) {
		const struct page_obs *p = &pages[i];

		if (i)
			*buf++ = ' ';
		if (!p->present) {
			*buf++ = '.';
			continue;
		}
		if (p->zero && !p->anon && !p->once)
			*buf++ = 'Z';
		else if (!p->zero)
			*buf++ = p->anon ? (p->once ? 'A' : 'a') : (p->once ? 'F' : 'f');
		else
			*buf++ = '?';	/* a zero page that is anon or mapped once: never expected */
		*buf++ = p->identity;
	}
	*buf = 0;
}

static const char *yes_no(int value)
{
	return value ? "yes" : "no";
}

/* One TAP test point: the kernel's result and pages against the model's. */
static void check(int point, const char *what, long result, const struct page_obs *pages,
		  const struct expect *want)
{
	struct page_obs model[SPAN];
	char buf[4 * SPAN + 8], a[32], b[32];
	int ok = result == want->result;

	decode(want->pages, model);
	for (int i = 0; i < SPAN; i++)
		ok &= !memcmp(&model[i], &pages[i], sizeof(model[i]));
	printf("%sok %d - %s\n", ok ? "" : "not ", point, what);
	if (!ok) {
		if (result != want->result)
			printf("# result: model %s, kernel %s\n", errno_text(want->result, a, sizeof(a)),
			       errno_text(result, b, sizeof(b)));
		for (int i = 0; i < SPAN; i++) {
			const struct page_obs *m = &model[i], *k = &pages[i];

			if (m->present != k->present)
				printf("# page %d present: model %s, kernel %s\n", i, yes_no(m->present), yes_no(k->present));
			if (m->zero != k->zero)
				printf("# page %d zero: model %s, kernel %s\n", i, yes_no(m->zero), yes_no(k->zero));
			if (m->anon != k->anon)
				printf("# page %d anon: model %s, kernel %s\n", i, yes_no(m->anon), yes_no(k->anon));
			if (m->once != k->once)
				printf("# page %d mapped_once: model %s, kernel %s\n", i, yes_no(m->once), yes_no(k->once));
			if (m->identity != k->identity)
				printf("# page %d identity: model %s, kernel %s\n", i,
				       identity_names[(int)m->identity], identity_names[(int)k->identity]);
		}
		printf("# model:  %s\n", want->pages);
		encode(pages, buf);
		printf("# kernel: %s\n", buf);
	}
	fflush(stdout);
	progress->failed += !ok;
	progress->done = point;
}

/* ---- the test area ------------------------------------------------------------------- */
static char *reserve_area(void)
{
	unsigned long length = AREA_PAGES * PAGE, aligned;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	char *base = mmap((void *)AREA_HINT, length, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1, 0);

	if (base != MAP_FAILED && base == (char *)AREA_HINT)
		return base;
	if (base != MAP_FAILED)
		munmap(base, length);	/* a kernel that took the flag as a hint */
	/* anywhere, but aligned like AREA_HINT: fault-around windows then match the model's */
	base = mmap(NULL, length + FAULT_AROUND_ALIGN, PROT_NONE, flags, -1, 0);
	if (base == MAP_FAILED)
		fail("reserve the test area");
	aligned = ((unsigned long)base + FAULT_AROUND_ALIGN - 1) / FAULT_AROUND_ALIGN * FAULT_AROUND_ALIGN;
	if (aligned > (unsigned long)base)
		munmap(base, aligned - (unsigned long)base);
	munmap((char *)aligned + length, (unsigned long)base + FAULT_AROUND_ALIGN - aligned);
	return (char *)aligned;
}

/* Map one VMA over the reservation read-write and fault its pages as the layout says. */
static void map_vma(long start, long pages, int shared, int fd, const char *faulted)
{
	char *addr = ADDR(start), *got;

	got = mmap(addr, pages * PAGE, PROT_READ | PROT_WRITE, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED
		   | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	if (got != addr)
		fail("mmap a VMA of the layout");
	if (fd >= 0)
		close(fd);	/* the mapping keeps the file */
	for (long j = 0; faulted[j]; j++) {
		if (faulted[j] == 'r')
			(void)*(volatile char *)(addr + j * PAGE);
		else if (faulted[j] == 'w')
			*(volatile char *)(addr + j * PAGE) = next_byte();
	}
}

/* Unmap what no VMA covers (holes, and the guard page after the area) */
static void unmap_gap(long from, long to)
{
	if (to > from)
		munmap(ADDR(from), (to - from) * PAGE);
}

/*
 * Empty this CPU's LRU batches (lru_add_drain()): madvise(MADV_COLD) starts with one. With
 * every scenario process on one CPU, do_wp_page()'s reuse-or-copy choice then does not depend
 * on references those batches hold (the model keeps no batches).
 */
static void drain_lru(void)
{
	static char *scratch;

	if (!scratch) {
		scratch = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (scratch == MAP_FAILED)
			fail("mmap the LRU drain page");
	}
	madvise(scratch, PAGE, MADV_COLD);
}
"""

PERMS = r"""
/* Permissions of the VMA holding addr ("" if none), from /proc/self/maps: no SIGSEGV needed. */
static void vma_perms(char *addr, char perms[5])
{
	FILE *maps = fopen("/proc/self/maps", "re");
	unsigned long lo, hi;
	char line[512];

	perms[0] = 0;
	if (!maps)
		fail("open /proc/self/maps");
	while (fgets(line, sizeof(line), maps)) {
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && lo <= (unsigned long)addr
		    && (unsigned long)addr < hi)
			break;
		perms[0] = 0;
	}
	fclose(maps);
}
"""

CPU = r"""
static long op_cpu(long page, int write)
{
	char *addr = ADDR(page), perms[5];

	vma_perms(addr, perms);
	if (!strchr(perms, write ? 'w' : 'r'))
		return -EFAULT;
	if (write)
		*(volatile char *)addr = next_byte();
	else
		(void)*(volatile char *)addr;
	return 0;
}
"""

MAPPED_BYTES = r"""
/* Does the mapping at addr show `data`? -1 if it cannot be read without a fault. */
static int mapping_shows(char *addr, const char *data)
{
	char perms[5];

	vma_perms(addr, perms);
	if (!strchr(perms, 'r') || !(pagemap_entry(addr) & PM_PRESENT))
		return -1;
	return !memcmp(addr, data, PAGE);
}

static void report_dma(int index, const char *kind, int coherent)
{
	/* a diagnostic only: what is compared with the model is the result and the pages */
	printf("# op %d %s: %s\n", index, kind, coherent < 0 ? "mapping not readable without a fault"
	       : coherent ? "device and mapping agree" : "device and mapping DISAGREE");
}
"""

FILE = r"""
static const char *block_dir;	/* a directory on a block filesystem (O_DIRECT, file VMAs) */

/* A directory on a block filesystem where O_TMPFILE works (tmpfs copies on O_DIRECT). */
static const char *find_block_dir(void)
{
	static const char *candidates[] = { "/var/tmp", "/tmp" };

	for (unsigned i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		struct statfs fs;
		int fd;

		if (statfs(candidates[i], &fs))
			continue;
		switch ((unsigned long)fs.f_type) {
		case EXT4_SUPER_MAGIC:	/* ext2, ext3 and ext4 */
		case XFS_SUPER_MAGIC:
		case BTRFS_SUPER_MAGIC:
		case F2FS_SUPER_MAGIC:
			break;
		default:
			continue;
		}
		fd = open(candidates[i], O_TMPFILE | O_RDWR, 0600);
		if (fd < 0)
			continue;
		close(fd);
		return candidates[i];
	}
	return NULL;
}

/* An unnamed file of `pages` pages, page i filled with 0xA0 + i % 16, written one page per
 * write() (order-0 page-cache folios, as the model has them) and synced. */
static int block_file(long pages)
{
	char data[PAGE];
	int fd = open(block_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0)
		fail("create a file in the block filesystem directory");
	for (long i = 0; i < pages; i++) {
		memset(data, 0xA0 + i % 16, PAGE);
		if (pwrite(fd, data, PAGE, i * PAGE) != (ssize_t)PAGE)
			fail("write the file");
	}
	if (fdatasync(fd))
		fail("fdatasync the file");
	return fd;
}
"""

SHMEM = r"""
static int shmem_file(long pages)
{
	int fd = memfd_create("gup-oracle", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, pages * PAGE))
		fail("memfd_create");
	return fd;
}
"""

RING = r"""
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

/* One io_uring instance per registration: IORING_REGISTER_BUFFERS is pin_user_pages_fast()
 * with FOLL_WRITE | FOLL_LONGTERM, all or nothing. */
struct ring {
	int fd, registered;
	struct io_uring_params params;
	void *sq, *cq, *sqes;
	size_t sq_size, cq_size, sqes_size;
};
static struct ring rings[NR_OPS];

static int ring_setup(struct ring *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = syscall(__NR_io_uring_setup, 4, &r->params);
	return r->fd < 0 ? -errno : 0;
}

/* Drop the ring; `unregister` is 0 in a forked process, which must not unpin the parent's buffers */
static void ring_close(struct ring *r, int unregister)
{
	if (unregister && r->registered)
		syscall(__NR_io_uring_register, r->fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
	r->registered = 0;
	if (r->sq)
		munmap(r->sq, r->sq_size);
	if (r->cq && r->cq != r->sq)
		munmap(r->cq, r->cq_size);
	if (r->sqes)
		munmap(r->sqes, r->sqes_size);
	r->sq = r->cq = r->sqes = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static long op_gup_io_uring(int index, long start, long pages)
{
	struct ring *r = &rings[index];
	struct iovec iov = { ADDR(start), pages * PAGE };
	long ret = ring_setup(r);

	if (ret < 0)
		return ret;
	if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_BUFFERS, &iov, 1) < 0) {
		ret = -errno;
		ring_close(r, 1);
		return ret;
	}
	r->registered = 1;
	held[index] = (struct held){ 1, ADDR(start), pages, index, -1, -1 };
	return pages;
}
"""

RING_IO = r"""
static int scratch_fd = -1;	/* a memfd the "device" reads from and writes to */

static void ring_map(struct ring *r)
{
	struct io_uring_params *p = &r->params;

	if (r->sq)
		return;
	r->sq_size = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	r->cq_size = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	if (p->features & IORING_FEAT_SINGLE_MMAP)
		r->sq_size = r->cq_size = r->sq_size > r->cq_size ? r->sq_size : r->cq_size;
	r->sq = mmap(NULL, r->sq_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, IORING_OFF_SQ_RING);
	if (r->sq == MAP_FAILED)
		fail("mmap the io_uring SQ ring");
	r->cq = r->sq;
	if (!(p->features & IORING_FEAT_SINGLE_MMAP)) {
		r->cq = mmap(NULL, r->cq_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, IORING_OFF_CQ_RING);
		if (r->cq == MAP_FAILED)
			fail("mmap the io_uring CQ ring");
	}
	r->sqes_size = p->sq_entries * sizeof(struct io_uring_sqe);
	r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		fail("mmap the io_uring SQEs");
}

/* READ_FIXED (file -> pinned page) or WRITE_FIXED (pinned page -> file): a device's DMA
 * through the pin itself, not through the page tables. Bytes or -errno. */
static long fixed_io(struct ring *r, int write, int fd, char *addr, unsigned len)
{
	struct io_uring_params *p = &r->params;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask, tail, head, slot;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	long res;

	ring_map(r);
	sq_tail = (unsigned *)((char *)r->sq + p->sq_off.tail);
	sq_mask = (unsigned *)((char *)r->sq + p->sq_off.ring_mask);
	sq_array = (unsigned *)((char *)r->sq + p->sq_off.array);
	cq_head = (unsigned *)((char *)r->cq + p->cq_off.head);
	cq_tail = (unsigned *)((char *)r->cq + p->cq_off.tail);
	cq_mask = (unsigned *)((char *)r->cq + p->cq_off.ring_mask);
	tail = *sq_tail;
	slot = tail & *sq_mask;
	sqe = (struct io_uring_sqe *)r->sqes + slot;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED;
	sqe->fd = fd;
	sqe->addr = (unsigned long)addr;
	sqe->len = len;
	sqe->user_data = 0x5A;
	sq_array[slot] = slot;
	__atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	head = *cq_head;
	if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE))
		return -EIO;	/* no completion although we waited for one */
	cqe = (struct io_uring_cqe *)((char *)r->cq + p->cq_off.cqes) + (head & *cq_mask);
	res = cqe->res;
	__atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static int scratch(void)
{
	if (scratch_fd < 0) {
		scratch_fd = memfd_create("gup-oracle", MFD_CLOEXEC);
		if (scratch_fd < 0 || ftruncate(scratch_fd, PAGE))
			fail("memfd_create the device scratch file");
	}
	return scratch_fd;
}
"""

DMA_WRITE = r"""
/* The device writes a new byte value into page `page` of what op `of` pinned. */
static long op_dma_write(int index, int of, long page)
{
	struct held *h = &held[of];
	char data[PAGE];
	long ret;

	if (!h->active || h->ring < 0 || page >= h->pages)
		return -EFAULT;	/* nothing held there */
	memset(data, next_byte(), PAGE);
	if (pwrite(scratch(), data, PAGE, 0) != (ssize_t)PAGE)
		fail("write the device scratch file");
	ret = fixed_io(&rings[h->ring], 0, scratch(), h->addr + page * PAGE, PAGE);
	if (ret == (long)PAGE)
		report_dma(index, "dma_write", mapping_shows(h->addr + page * PAGE, data));
	return ret == (long)PAGE ? 0 : ret < 0 ? ret : -EIO;
}
"""

DMA_READ_RING = r"""
/* The device reads page `page` of what op `of` pinned: WRITE_FIXED from the io_uring buffer. */
static long op_dma_read_ring(int index, int of, long page)
{
	struct held *h = &held[of];
	char data[PAGE];
	long ret;

	if (!h->active || h->ring < 0 || page >= h->pages)
		return -EFAULT;	/* nothing held there */
	ret = fixed_io(&rings[h->ring], 1, scratch(), h->addr + page * PAGE, PAGE);
	if (ret == (long)PAGE) {
		if (pread(scratch(), data, PAGE, 0) != (ssize_t)PAGE)
			fail("read the device scratch file");
		report_dma(index, "dma_read", mapping_shows(h->addr + page * PAGE, data));
	}
	return ret == (long)PAGE ? 0 : ret < 0 ? ret : -EIO;
}
"""

VMSPLICE = r"""
/* vmsplice() into a pipe: FOLL_GET references, held until the pipe is drained. */
static long op_gup_vmsplice(int index, long start, long pages)
{
	struct iovec iov = { ADDR(start), pages * PAGE };
	int fds[2];
	long ret;

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		fail("pipe2");
	fcntl(fds[1], F_SETPIPE_SZ, pages * PAGE > PAGE ? pages * PAGE : PAGE);
	ret = vmsplice(fds[1], &iov, 1, SPLICE_F_NONBLOCK);
	if (ret < 0) {
		ret = -errno;
		close(fds[0]);
		close(fds[1]);
		return ret;
	}
	held[index] = (struct held){ 1, ADDR(start), ret / PAGE, -1, fds[0], fds[1] };
	return ret / PAGE;
}

"""

DMA_READ_PIPE = r"""
/* A reader of the vmsplice pipe of op `of` sees the referenced page: read a tee()d copy of
 * the pipe's buffers (more references to the same pages), leaving op `of`'s in place. */
static long op_dma_read_pipe(int index, int of, long page)
{
	struct held *h = &held[of];
	long want = (page + 1) * PAGE, copied, got = 0;
	char *data;
	int fds[2];

	if (!h->active || h->pipe_r < 0 || page >= h->pages)
		return -EFAULT;	/* nothing held there */
	data = malloc(want);
	if (!data)
		fail("malloc");
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		fail("pipe2");
	fcntl(fds[1], F_SETPIPE_SZ, want);
	copied = tee(h->pipe_r, fds[1], want, SPLICE_F_NONBLOCK);
	if (copied < 0) {
		copied = -errno;
		close(fds[0]);
		close(fds[1]);
		free(data);
		return copied;
	}
	while (got < copied) {
		long n = read(fds[0], data + got, copied - got);

		if (n <= 0)
			fail("read the tee()d pipe");
		got += n;
	}
	close(fds[0]);
	close(fds[1]);
	if (got >= want)
		report_dma(index, "dma_read", mapping_shows(h->addr + page * PAGE, data + page * PAGE));
	free(data);
	return got < want ? -EIO : 0;	/* short: the vmsplice did not reach that page */
}
"""

RELEASE = r"""
/* Drop what op `of` holds; the number of pages it held (0 for callers that hold nothing). */
static long op_release(int of)
{
	struct held *h = &held[of];
	char buf[65536];

	if (!h->active)
		return 0;
	h->active = 0;
	if (h->ring >= 0)
		RING_CLOSE;
	if (h->pipe_r >= 0) {
		while (read(h->pipe_r, buf, sizeof(buf)) > 0)	/* drains: drops the references */
			;
		close(h->pipe_r);
		close(h->pipe_w);
	}
	return h->pages;
}
"""

ODIRECT = r"""
/* O_DIRECT read() into / write() from the buffer: short-term FOLL_PIN (FOLL_WRITE for read) */
static int dio_buffered = -1, dio_direct = -1;
static long dio_pages;

static long op_gup_odirect(long start, long pages, int read_into)
{
	char path[64];
	ssize_t ret;

	if (dio_direct < 0 || dio_pages < pages) {
		if (dio_direct >= 0) {
			close(dio_buffered);
			close(dio_direct);
		}
		dio_pages = pages > 16 ? pages : 16;
		dio_buffered = block_file(dio_pages);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", dio_buffered);
		dio_direct = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (dio_direct < 0)
			fail("reopen the file with O_DIRECT");
	}
	if (read_into)
		ret = pread(dio_direct, ADDR(start), pages * PAGE, 0);
	else
		ret = pwrite(dio_direct, ADDR(start), pages * PAGE, 0);
	return ret < 0 ? -errno : ret / (long)PAGE;
}
"""

PVM = r"""
/* process_vm_readv/writev on the own pid: FOLL_PIN on the (remote) side, FOLL_WRITE for writev */
static long op_gup_process_vm(long start, long pages, int write)
{
	char *local = calloc(pages, PAGE);
	struct iovec liov = { local, pages * PAGE }, riov = { ADDR(start), pages * PAGE };
	long ret;

	if (!local)
		fail("calloc");
	if (write)
		memset(local, next_byte(), pages * PAGE);
	if (write)
		ret = process_vm_writev(getpid(), &liov, 1, &riov, 1, 0);
	else
		ret = process_vm_readv(getpid(), &liov, 1, &riov, 1, 0);
	ret = ret < 0 ? -errno : ret / (long)PAGE;
	free(local);
	return ret;
}
"""

PROCMEM = r"""
/* pwrite()/pread() on /proc/self/mem: FOLL_GET | FOLL_FORCE (| FOLL_WRITE) */
static int mem_fd = -1;
static pid_t mem_pid;

static long op_gup_proc_mem(long start, long pages, int write)
{
	char *buf = malloc(pages * PAGE);
	long ret;

	if (!buf)
		fail("malloc");
	if (mem_fd < 0 || mem_pid != getpid()) {	/* binds to the opener's mm */
		mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		mem_pid = getpid();
		if (mem_fd < 0)
			fail("open /proc/self/mem");
	}
	if (write) {
		memset(buf, next_byte(), pages * PAGE);
		ret = pwrite(mem_fd, buf, pages * PAGE, (unsigned long)ADDR(start));
	} else {
		ret = pread(mem_fd, buf, pages * PAGE, (unsigned long)ADDR(start));
	}
	ret = ret < 0 ? -errno : ret / (long)PAGE;
	free(buf);
	return ret;
}
"""

POPULATE = r"""
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

static long op_gup_populate(long start, long pages, int write)
{
	if (madvise(ADDR(start), pages * PAGE, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ))
		return -errno;
	return pages;
}
"""

PROCS = r"""
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

/* Process k > 0 runs the ops addressed to it; process 0 sends op numbers over a pipe. */
static int cmd_pipe[NR_PROCS][2], res_pipe[NR_PROCS][2];
static pid_t proc_pid[NR_PROCS];
static int self_number;		/* which scenario process this is */
static int proc_pidfd[NR_PROCS], proc_exited[NR_PROCS];

struct reply {
	long result;
	int failed;
	char why[120];
};

static long do_op(int index);
static long op_fork(int index);
static void cleanup(void);

/* Run op `index` in this process (forks are not in do_op: a scenario without one needs no fork) */
static long run_here(int index)
{
	return ops[index].kind == OP_FORK ? op_fork(index) : do_op(index);
}

static void read_full(int fd, void *buf, size_t size)
{
	for (size_t got = 0; got < size; ) {
		ssize_t n = read(fd, (char *)buf + got, size - got);

		if (n <= 0)
			_exit(0);	/* process 0 is gone */
		got += n;
	}
}

static void serve(void)
{
	for (;;) {
		struct reply reply = { 0 };
		int index;

		read_full(cmd_pipe[self_number][0], &index, sizeof(index));
		if (ops[index].kind == OP_EXIT) {
			cleanup();
			_exit(0);
		}
		reply.result = run_here(index);
		if (write(res_pipe[self_number][1], &reply, sizeof(reply)) != sizeof(reply))
			_exit(1);
	}
}

/* Drop the parent's holds without releasing them: they are files shared with the parent. */
static void forget_inherited(void)
{
	for (int i = 0; i < NR_OPS; i++) {
		if (!held[i].active)
			continue;
		FORGET_RING;
		if (held[i].pipe_r >= 0) {
			close(held[i].pipe_r);
			close(held[i].pipe_w);
		}
		held[i].active = 0;
	}
}

static long op_fork(int index)
{
	pid_t pid;

	fflush(stdout);	/* nothing buffered is printed twice */
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	forget_inherited();
	self_number = ops[index].fork_number;
	serve();
	_exit(0);
}

/* Process 0: have process `number` run op `index`; its result. */
static long call(int number, int index)
{
	struct pollfd fds[2] = { { res_pipe[number][0], POLLIN, 0 }, { proc_pidfd[number], POLLIN, 0 } };
	struct reply reply;

	if (write(cmd_pipe[number][1], &index, sizeof(index)) != sizeof(index))
		fail("send an op to a scenario process");
	while (poll(fds, 2, -1) < 0)
		if (errno != EINTR)
			fail("poll");
	if (!(fds[0].revents & POLLIN)) {
		printf("# error: op %d: process %d died while running it\n", index, number);
		fflush(stdout);
		_exit(KSFT_FAIL);
	}
	read_full(res_pipe[number][0], &reply, sizeof(reply));
	return reply.result;
}

static void wait_exit(int pidfd)
{
	struct pollfd fd = { pidfd, POLLIN, 0 };

	while (poll(&fd, 1, -1) <= 0)
		;
}

static void prepare_processes(void)
{
	for (int k = 1; k < NR_PROCS; k++)
		if (pipe2(cmd_pipe[k], O_CLOEXEC) || pipe2(res_pipe[k], O_CLOEXEC))
			fail("pipe2");
}

static void remember_process(int number, pid_t pid)
{
	proc_pid[number] = pid;
	proc_pidfd[number] = syscall(__NR_pidfd_open, pid, 0);
	if (proc_pidfd[number] < 0)
		fail("pidfd_open");
}

/* What the kernel answers for an op of a process that has exited (or was never born). */
static long dead_result(int index)
{
	switch (ops[index].kind) {
	case OP_GUP:
		return -ESRCH;
	case OP_RELEASE:
		return 0;
	case OP_FORK:
		proc_exited[ops[index].fork_number] = 1;
		return NO_RESULT;
	case OP_EXIT:
		return NO_RESULT;
	default:
		return -EFAULT;
	}
}

/* Process 0 "exits" but must still be observed: tear its mm down as exit does (unmap
 * everything, then the files close and drop their pins). */
static void exit_mm(void)
{
	munmap(area, AREA_PAGES * PAGE);
	area_mapped = 0;
	for (int i = 0; i < NR_OPS; i++)
		op_release(i);
}

/* Run op `index` where it belongs: here, in another scenario process, or nowhere. */
static long run_op(int index)
{
	const struct op_info *op = &ops[index];
	long result;

	if (proc_exited[op->owner])
		return dead_result(index);
	if (op->kind == OP_EXIT) {
		if (op->exits == 0) {
			exit_mm();
		} else {
			if (write(cmd_pipe[op->exits][1], &index, sizeof(index)) != sizeof(index))
				fail("send exit to a scenario process");
			wait_exit(proc_pidfd[op->exits]);
		}
		proc_exited[op->exits] = 1;
		return NO_RESULT;
	}
	result = op->owner == 0 ? run_here(index) : call(op->owner, index);
	if (op->kind == OP_FORK) {
		remember_process(op->fork_number, result);
		return NO_RESULT;
	}
	return result;
}

static void end_processes(void)
{
	for (int k = 1; k < NR_PROCS; k++) {
		if (proc_pid[k] && !proc_exited[k])
			kill(proc_pid[k], SIGKILL);
		if (proc_pid[k])
			close(proc_pidfd[k]);
	}
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)	/* grandchildren were reparented here */
		;
}
"""

VM = r"""
static long sys_result(long ret)
{
	return ret < 0 ? -errno : ret;
}
"""

SINGLE = r"""
static long do_op(int index);

static long run_op(int index)
{
	return do_op(index);
}
"""

MAIN = r"""
static void cleanup(void)
{
	for (int i = 0; i < NR_OPS; i++)
		op_release(i);
	if (area_mapped)
		munmap(area, AREA_PAGES * PAGE);
	area_mapped = 0;
}

/* Process 0: one CPU, the layout, then every op, checked after each step. */
static void scenario(void)
{
	struct page_obs pages[SPAN];
	cpu_set_t cpus;
	int cpu = 0;

	/* One CPU for every scenario process: a new page waits in the LRU batch of the CPU that
	 * faulted it, and do_wp_page()'s reuse check drains only the local batch. */
	if (!sched_getaffinity(0, sizeof(cpus), &cpus))
		while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &cpus))
			cpu++;
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	prctl(PR_SET_CHILD_SUBREAPER, 1);	/* orphaned grandchildren come back here */
	for (int i = 0; i < NR_OPS; i++)
		held[i] = (struct held){ 0, NULL, 0, -1, -1, -1 };
	PREPARE;
	setup();
	observe(pages, 1);
	check(1, "layout", NO_RESULT, pages, &expected[0]);
	for (int i = 0; i < NR_CHECKED; i++) {
		char what[256];
		long result;

		drain_lru();
#ifdef SIMULATE_HANG_AT_OP	/* for testing the watchdog: this op "never returns" */
		while (i == SIMULATE_HANG_AT_OP)
			pause();
#endif
		result = run_op(i);
		observe(pages, 0);
		snprintf(what, sizeof(what), "op %d: %s", i, ops[i].what);
		if (i < MODEL_STEPS) {
			check(i + 2, what, result, pages, &expected[i + 1]);
		} else {
			printf("not ok %d - %s\n# the model has no observation: %s\n", i + 2, what, MODEL_STOPPED);
			fflush(stdout);
			progress->failed++;
			progress->done = i + 2;
		}
	}
	END_PROCESSES;
	cleanup();
}

static void skip(const char *reason)
{
	printf("TAP version 13\n1..0 # SKIP %s\n", reason);
	exit(KSFT_SKIP);
}

/* What this program needs from the machine; a missing facility is a skip, not a failure. */
static void check_facilities(void)
{
	static char reason[160];
	uint64_t entry = 0, flags = 0;
	char *page;
	int fd;

	if (sysconf(_SC_PAGESIZE) != (long)PAGE)
		skip("the page size is not 4 KiB (the scenario counts in 4 KiB pages)");
	if (geteuid() != 0)
		skip("not root: /proc/self/pagemap shows PFN 0, so page identity cannot be judged");
	fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0 || pread(fd, &flags, 8, 0) != 8)
		skip("/proc/kpageflags unreadable");
	close(fd);
	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		skip("cannot mmap one page");
	*page = 1;
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, &entry, 8, (unsigned long)page / PAGE * 8) != 8
	    || !(entry & PM_PRESENT) || !(entry & PM_PFN_MASK))
		skip("/proc/self/pagemap hides PFNs");
	close(fd);
	munmap(page, PAGE);
	FACILITIES
	(void)reason;
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct utsname kernel;
	int status, last = -1;
	pid_t child;

	setvbuf(stdout, NULL, _IOLBF, 0);
	check_facilities();
	progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress == MAP_FAILED)
		skip("cannot mmap the progress page");
	uname(&kernel);
	printf("TAP version 13\n1..%d\n", NR_POINTS);
	printf("# Linux %s, expected values from the gupharness model (profile %s)\n", kernel.release, MODEL_PROFILE);
	fflush(stdout);
	child = fork();
	if (child < 0)
		skip("cannot fork");
	if (child == 0) {
		setpgid(0, 0);
		scenario();
		_exit(0);
	}
	setpgid(child, child);
	/* The watchdog: a kernel that loops must report, not hang. */
	sigaction(SIGALRM, &sa, NULL);
	for (;;) {
		pid_t got;

		alarm(TIMEOUT_SECONDS);
		got = waitpid(child, &status, 0);
		if (got == child)
			break;
		if (got < 0 && errno != EINTR) {
			status = 0;
			break;
		}
		if (progress->done != last) {	/* progress since the last alarm: re-arm */
			last = progress->done;
			continue;
		}
		kill(-child, SIGKILL);	/* hung: report it, do not wait for the kernel */
		kill(child, SIGKILL);
		status = -1;
		break;
	}
	alarm(0);
	for (int point = progress->done + 1; point <= NR_POINTS; point++) {
		char what[256];

		if (point == 1)
			snprintf(what, sizeof(what), "layout");
		else
			snprintf(what, sizeof(what), "op %d: %s", point - 2, ops[point - 2].what);
		if (status == -1 && point == progress->done + 1)
			printf("not ok %d - %s: hung (no return within %d s)\n", point, what, TIMEOUT_SECONDS);
		else
			printf("not ok %d - %s: not reached\n", point, what);
		progress->failed++;
	}
	if (status != -1 && WIFSIGNALED(status))
		printf("# process 0 killed by signal %d\n", WTERMSIG(status));
	printf("# %s\n", progress->failed ? "FAIL: the kernel does not do what the model predicts"
	       : "PASS: the kernel does what the model predicts");
	return progress->failed ? KSFT_FAIL : KSFT_PASS;
}
"""

URING_FACILITY = r"""	fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY);
	if (fd >= 0) {
		char value = '0';

		if (read(fd, &value, 1) == 1 && value != '0')
			skip("io_uring disabled (kernel.io_uring_disabled != 0)");
		close(fd);
	}
	{
		struct ring r;
		int ret = ring_setup(&r);

		if (ret < 0) {
			snprintf(reason, sizeof(reason), "io_uring_setup failed (errno %d)", -ret);
			skip(reason);
		}
		ring_close(&r, 0);
	}
"""

FILE_FACILITY = r"""	block_dir = find_block_dir();
	if (!block_dir)
		skip("no block filesystem (ext4, xfs, btrfs, f2fs) with O_TMPFILE under /var/tmp or /tmp");
"""

PIDFD_FACILITY = r"""	fd = syscall(__NR_pidfd_open, getpid(), 0);
	if (fd < 0)
		skip("pidfd_open unavailable (needs Linux 5.3)");
	close(fd);
"""
