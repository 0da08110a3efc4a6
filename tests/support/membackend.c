/* In-memory backend with write-fault injection; see membackend.h. */
#include "membackend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mem_store *mem_store_of(struct mem_backend *m, enum csm_store st)
{
	return &m->st[m->shared ? 0 : st];
}

static int grow(struct mem_store *s, uint64_t size)
{
	if (size > s->cap) {
		uint64_t cap = s->cap ? s->cap : 65536;
		while (cap < size)
			cap *= 2;
		uint8_t *b = realloc(s->buf, cap);
		if (!b)
			return -ENOMEM;
		memset(b + s->cap, 0, cap - s->cap);
		s->buf = b;
		s->cap = cap;
	}
	return 0;
}

static ssize_t m_preadv(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                        uint64_t off)
{
	struct mem_store *s = mem_store_of(ctx, st);
	size_t done = 0;
	for (int i = 0; i < cnt; i++) {
		uint64_t p = off + done;
		if (p >= s->size)
			break;
		size_t n = iov[i].iov_len;
		if (n > s->size - p)
			n = (size_t)(s->size - p);
		memcpy(iov[i].iov_base, s->buf + p, n);
		done += n;
		if (n < iov[i].iov_len)
			break;
	}
	return (ssize_t)done;
}

static ssize_t m_pwritev(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                         uint64_t off)
{
	struct mem_backend *m = ctx;
	struct mem_store *s = mem_store_of(m, st);
	size_t total = 0;
	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	size_t apply = total;
	int result = 0;
	if (m->failed) {
		return -EIO;
	} else if (m->writes_left == 0) {
		/* Tear at a 4 KiB file-offset boundary inside the range. */
		m->failed = true;
		uint64_t first = (off + 4095) & ~(uint64_t)4095;
		uint64_t nb = first < off + total ? (off + total - first) / 4096 + 1 : 0;
		m->torn_seed = m->torn_seed * 6364136223846793005ull + 1442695040888963407ull;
		apply = nb ? (size_t)(first - off + 4096 * ((m->torn_seed >> 33) % nb)) : 0;
		if (apply > total)
			apply = total;
		result = -EIO;
	} else if (m->writes_left > 0) {
		m->writes_left--;
	}
	m->nwrites++;
	if (grow(s, off + apply) < 0)
		return -ENOMEM;
	size_t done = 0;
	for (int i = 0; i < cnt && done < apply; i++) {
		size_t n = iov[i].iov_len < apply - done ? iov[i].iov_len : apply - done;
		memcpy(s->buf + off + done, iov[i].iov_base, n);
		done += n;
	}
	if (off + apply > s->size)
		s->size = off + apply;
	return result ? result : (ssize_t)total;
}

static int m_sync(void *ctx, enum csm_store st, bool datasync)
{
	(void)st;
	(void)datasync;
	return ((struct mem_backend *)ctx)->failed ? -EIO : 0;
}

static int m_get_size(void *ctx, enum csm_store st, uint64_t *size)
{
	*size = mem_store_of(ctx, st)->size;
	return 0;
}

static int m_set_size(void *ctx, enum csm_store st, uint64_t size)
{
	struct mem_backend *m = ctx;
	if (m->failed)
		return -EIO;
	struct mem_store *s = mem_store_of(m, st);
	if (grow(s, size) < 0)
		return -ENOMEM;
	if (size < s->size)
		memset(s->buf + size, 0, s->size - size);
	s->size = size;
	return 0;
}

static int m_zero_range(void *ctx, enum csm_store st, uint64_t off, uint64_t len)
{
	struct mem_backend *m = ctx;
	if (m->failed)
		return -EIO;
	struct mem_store *s = mem_store_of(m, st);
	if (off < s->size)
		memset(s->buf + off, 0, (size_t)(len < s->size - off ? len : s->size - off));
	return 0;
}

static int m_next_data(void *ctx, enum csm_store st, uint64_t off, uint64_t *data_off)
{
	(void)ctx;
	(void)st;
	(void)off;
	(void)data_off;
	return -EOPNOTSUPP;
}

static void m_destroy(void *ctx)
{
	(void)ctx;
}

static const struct csm_backend_ops mem_ops = {
        .preadv = m_preadv,
        .pwritev = m_pwritev,
        .sync = m_sync,
        .get_size = m_get_size,
        .set_size = m_set_size,
        .zero_range = m_zero_range,
        .next_data = m_next_data,
        .destroy = m_destroy,
};

void mem_backend_init(struct mem_backend *m, bool shared)
{
	memset(m, 0, sizeof(*m));
	m->shared = shared;
	m->writes_left = -1;
}

void mem_backend_free(struct mem_backend *m)
{
	free(m->st[0].buf);
	free(m->st[1].buf);
	memset(m, 0, sizeof(*m));
}

struct csm_backend mem_backend_view(struct mem_backend *m)
{
	struct csm_backend be = {.ops = &mem_ops, .ctx = m, .resizable = true};
	return be;
}
