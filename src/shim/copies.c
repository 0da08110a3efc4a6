/*
 * Copies: copy_file_range, sendfile and splice with a protected file on
 * either side go through verified reads and checksummed writes instead of
 * copying stored bytes in the kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "wrap.h"

static ssize_t any_read(int fd, void *buf, size_t n, off64_t *off)
{
	struct shim_file *f = shim_fd(fd);
	if (f)
		return off ? shim_pread(f, buf, n, (off_t)*off) : shim_read(f, fd, buf, n);
	return off ? csm_real.pread64(fd, buf, n, *off) : csm_real.read(fd, buf, n);
}

static ssize_t any_write(int fd, const void *buf, size_t n, off64_t *off)
{
	struct shim_file *f = shim_fd(fd);
	if (f)
		return off ? shim_pwrite(f, fd, buf, n, (off_t)*off) : shim_write(f, fd, buf, n);
	return off ? csm_real.pwrite64(fd, buf, n, *off) : csm_real.write(fd, buf, n);
}

static ssize_t copy_emulated(int in, off64_t *inoff, int out, off64_t *outoff, size_t len)
{
	size_t chunk = len < (1u << 20) ? len : (1u << 20);
	char *buf = malloc(chunk ? chunk : 1);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	size_t done = 0;
	int err = 0;
	while (done < len) {
		size_t want = len - done < chunk ? len - done : chunk;
		ssize_t r = any_read(in, buf, want, inoff);
		if (r < 0 && errno == EIO && shim_fd(in)) {
			/* A bad block fails the whole copy, as it fails a
			 * read: a short count would read as the end of the
			 * file (what was copied before it stays copied). */
			free(buf);
			errno = EIO;
			return -1;
		}
		if (r <= 0) {
			err = r < 0 ? errno : 0;
			break;
		}
		size_t put = 0;
		while (put < (size_t)r) {
			ssize_t w = any_write(out, buf + put, (size_t)r - put, outoff);
			if (w <= 0) {
				err = w < 0 ? errno : EIO;
				break;
			}
			put += (size_t)w;
			if (outoff)
				*outoff += w;
		}
		if (inoff)
			*inoff += (off64_t)put;
		done += put;
		if (err || (size_t)r < want)
			break;
	}
	free(buf);
	if (err && !done) {
		errno = err;
		return -1;
	}
	return (ssize_t)done;
}

API ssize_t copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t len,
                            unsigned flags)
{
	if (!ours(in) && !ours(out))
		return REAL(copy_file_range)(in, inoff, out, outoff, len, flags);
	if (flags) {
		errno = EINVAL;
		return -1;
	}
	return GUARDED(copy_emulated(in, inoff, out, outoff, len));
}

API ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	if (!ours(in) && !ours(out))
		return REAL(sendfile)(out, in, off, n);
	off64_t o = off ? *off : 0;
	ssize_t r = GUARDED(copy_emulated(in, off ? &o : NULL, out, NULL, n));
	if (off)
		*off = (off_t)o;
	return r;
}

API ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
	if (!ours(in) && !ours(out))
		return REAL(sendfile64)(out, in, off, n);
	return GUARDED(copy_emulated(in, off, out, NULL, n));
}

API ssize_t splice(int in, off64_t *inoff, int out, off64_t *outoff, size_t len, unsigned flags)
{
	if (!ours(in) && !ours(out))
		return REAL(splice)(in, inoff, out, outoff, len, flags);
	return GUARDED(copy_emulated(in, inoff, out, outoff, len));
}
