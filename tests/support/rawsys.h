/*
 * A system call made with the instruction itself, so that no preloaded
 * library can see it: the shim interposes glibc's syscall(), and tests
 * that look at stored files behind its back need a way round it.
 * x86-64 only.
 */
#ifndef CSUMSHIM_RAWSYS_H
#define CSUMSHIM_RAWSYS_H

#include <errno.h>

static inline long raw_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

#define RAW_ARG(x) ((long)(x))
#define raw_syscall_pick(_0, _1, _2, _3, _4, _5, _6, name, ...) name
#define raw_syscall(...)                                                                          \
	raw_syscall_pick(__VA_ARGS__, raw_sys6, raw_sys5, raw_sys4, raw_sys3, raw_sys2, raw_sys1, \
	                 raw_sys0, )(__VA_ARGS__)
#define raw_sys0(n) raw_syscall6(n, 0, 0, 0, 0, 0, 0)
#define raw_sys1(n, a) raw_syscall6(n, RAW_ARG(a), 0, 0, 0, 0, 0)
#define raw_sys2(n, a, b) raw_syscall6(n, RAW_ARG(a), RAW_ARG(b), 0, 0, 0, 0)
#define raw_sys3(n, a, b, c) raw_syscall6(n, RAW_ARG(a), RAW_ARG(b), RAW_ARG(c), 0, 0, 0)
#define raw_sys4(n, a, b, c, d) \
	raw_syscall6(n, RAW_ARG(a), RAW_ARG(b), RAW_ARG(c), RAW_ARG(d), 0, 0)
#define raw_sys5(n, a, b, c, d, e) \
	raw_syscall6(n, RAW_ARG(a), RAW_ARG(b), RAW_ARG(c), RAW_ARG(d), RAW_ARG(e), 0)
#define raw_sys6(n, a, b, c, d, e, f) \
	raw_syscall6(n, RAW_ARG(a), RAW_ARG(b), RAW_ARG(c), RAW_ARG(d), RAW_ARG(e), RAW_ARG(f))

#endif
