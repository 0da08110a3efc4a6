/*
 * alloc_unmaps: a program whose own allocator gives memory back with
 * madvise and munmap from free(), as jemalloc and tcmalloc do.  The shim
 * frees some of its records while holding its state mutex; with a
 * mapping copy recorded, those calls reach the shim's mapping wrappers,
 * which took the same mutex again: a self-deadlock.  Run under the shim
 * (run_maps.sh) with DIR; exits 0 when it gets to the end.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char heap[64 << 20];
static size_t top;
static char *spare; /* a page the allocator "returns" on every free */
static void *const nowhere = (void *)0x200000000000UL;

void *malloc(size_t n)
{
	size_t a = (top + 15) & ~(size_t)15;
	if (a + 16 + n > sizeof(heap))
		return NULL;
	memcpy(heap + a, &n, sizeof(n));
	top = a + 16 + n;
	return heap + a + 16;
}

void free(void *p)
{
	if (p && spare) {
		madvise(spare, 4096, MADV_DONTNEED);
		munmap(nowhere, 4096); /* never mapped: succeeds */
	}
}

void *calloc(size_t a, size_t b)
{
	void *p = b && a > (size_t)-1 / b ? NULL : malloc(a * b);
	if (p)
		memset(p, 0, a * b);
	return p;
}

void *realloc(void *p, size_t n)
{
	void *q = malloc(n);
	if (q && p) {
		size_t old;
		memcpy(&old, (char *)p - 16, sizeof(old));
		memcpy(q, p, old < n ? old : n);
	}
	return q;
}

int posix_memalign(void **r, size_t al, size_t n)
{
	char *p = malloc(n + al);
	if (!p)
		return 12;
	*r = (void *)(((size_t)p + al - 1) & ~(al - 1));
	// cppcheck-suppress memleak ; *r points into p, and this allocator never frees
	return 0;
}

void *aligned_alloc(size_t al, size_t n)
{
	void *r;
	return posix_memalign(&r, al, n) ? NULL : r;
}

void *memalign(size_t al, size_t n)
{
	return aligned_alloc(al, n);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	spare = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (spare == MAP_FAILED)
		return 2;
	char p[600];
	snprintf(p, sizeof(p), "%s/p/alloc.img", argv[1]);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "data", 4) != 4)
		return 1;
	char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0); /* a record */
	int g = open(p, O_RDONLY);
	close(g);
	close(fd); /* the shim frees under its mutex */
	int ok = m != MAP_FAILED && !memcmp(m, "data", 4);
	printf("alloc unmaps: %s\n", ok ? "1 passed, 0 failed" : "0 passed, 1 failed");
	return ok ? 0 : 1;
}
