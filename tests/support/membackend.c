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

static int st_write(struct mem_store *s, uint64_t off, const uint8_t *d, uint64_t len)
{
	if (grow(s, off + len) < 0)
		return -ENOMEM;
	memcpy(s->buf + off, d, len);
	if (off + len > s->size)
		s->size = off + len;
	return 0;
}

static int st_set_size(struct mem_store *s, uint64_t size)
{
	if (grow(s, size) < 0)
		return -ENOMEM;
	if (size < s->size)
		memset(s->buf + size, 0, s->size - size);
	s->size = size;
	return 0;
}

static void st_zero(struct mem_store *s, uint64_t off, uint64_t len)
{
	if (off < s->size)
		memset(s->buf + off, 0, (size_t)(len < s->size - off ? len : s->size - off));
}

static int st_copy(struct mem_store *to, const struct mem_store *from)
{
	if (st_set_size(to, 0) < 0 || grow(to, from->size) < 0)
		return -ENOMEM;
	if (from->size)
		memcpy(to->buf, from->buf, from->size);
	to->size = from->size;
	return 0;
}

static int log_op(struct mem_backend *m, enum csm_store st, int kind, uint64_t off, uint64_t len,
                  const uint8_t *data)
{
	if (!m->crashsim)
		return 0;
	if (m->nlog == m->caplog) {
		size_t cap = m->caplog ? 2 * m->caplog : 256;
		struct mem_op *n = realloc(m->log, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		m->log = n;
		m->caplog = cap;
	}
	struct mem_op *o = &m->log[m->nlog];
	o->store = m->shared ? 0 : (int)st;
	o->kind = kind;
	o->off = off;
	o->len = len;
	o->data = NULL;
	if (kind == 0) {
		o->data = malloc(len ? len : 1);
		if (!o->data)
			return -ENOMEM;
		memcpy(o->data, data, len);
	}
	m->nlog++;
	return 0;
}

static void apply_op(struct mem_backend *m, const struct mem_op *o, uint64_t from, uint64_t to)
{
	struct mem_store *d = &m->durable[o->store];
	if (o->kind == 0)
		st_write(d, o->off + from, o->data + from, to - from);
	else if (o->kind == 1)
		st_set_size(d, o->off);
	else
		st_zero(d, o->off, o->len);
}

void mem_crashsim_start(struct mem_backend *m)
{
	m->crashsim = true;
	for (int i = 0; i < 2; i++)
		st_copy(&m->durable[i], &m->st[i]);
}

uint64_t mem_crash(struct mem_backend *m, uint64_t *seed, unsigned keep_permille, bool torn)
{
	uint64_t kept = 0;
	for (size_t i = 0; i < m->nlog; i++) {
		const struct mem_op *o = &m->log[i];
		uint64_t step = torn && o->kind == 0 ? 512 : UINT64_MAX;
		uint64_t p = 0;
		while (p < (o->kind == 0 ? o->len : 1)) {
			/* a piece ends at the next 512-byte boundary of the file */
			uint64_t end = step == UINT64_MAX ? o->len
			                                  : ((o->off + p) / 512 + 1) * 512 - o->off;
			if (end > o->len || o->kind != 0)
				end = o->len;
			*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
			if ((*seed >> 33) % 1000 < keep_permille) {
				apply_op(m, o, p, end);
				kept++;
			}
			if (o->kind != 0)
				break;
			p = end;
		}
		free(o->data);
	}
	m->nlog = 0;
	for (int i = 0; i < 2; i++)
		st_copy(&m->st[i], &m->durable[i]);
	mem_restart(m);
	return kept;
}

void mem_restart(struct mem_backend *m)
{
	for (int i = 15; i >= 0 && ++m->boot[i] == 0; i--)
		;
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
		return m->fail_errno ? -m->fail_errno : -EIO;
	} else if (m->space && off + total > m->space &&
	           off + total > m->written_end[m->shared ? 0 : st]) {
		uint64_t room = m->written_end[m->shared ? 0 : st];
		room = room > m->space ? room : m->space;
		apply = off < room ? (size_t)(room - off) : 0;
		result = -ENOSPC;
	} else if (m->writes_left == 0) {
		/* Tear at a 4 KiB file-offset boundary inside the range. */
		m->failed = true;
		uint64_t first = (off + 4095) & ~(uint64_t)4095;
		uint64_t nb = first < off + total ? (off + total - first) / 4096 + 1 : 0;
		m->torn_seed = m->torn_seed * 6364136223846793005ull + 1442695040888963407ull;
		apply = nb ? (size_t)(first - off + 4096 * ((m->torn_seed >> 33) % nb)) : 0;
		if (apply > total)
			apply = total;
		result = m->fail_errno ? -m->fail_errno : -EIO;
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
	uint64_t *hw = &m->written_end[m->shared ? 0 : st];
	if (off + apply > *hw) /* file systems allocate 4 KiB blocks */
		*hw = (off + apply + 4095) & ~(uint64_t)4095;
	if (log_op(m, st, 0, off, apply, s->buf + off) < 0)
		return -ENOMEM;
	return result ? result : (ssize_t)total;
}

/* A write durable by itself (RWF_DSYNC): it reaches the durable image at
 * once.  A crash must not bring back older bytes under it, nor cut it with
 * an earlier truncate, and the remaining log must still apply in order: so
 * every earlier operation of the store up to the last one it overlaps, or
 * the last size change or zeroing, is made durable first, in order.  That
 * is stronger than real storage for those, so the crash test explores
 * fewer states there, never impossible ones. */
static ssize_t m_pwritev_durable(void *ctx, enum csm_store st, const struct iovec *iov, int cnt,
                                 uint64_t off)
{
	struct mem_backend *m = ctx;
	ssize_t r = m_pwritev(ctx, st, iov, cnt, off);
	if (r < 0 || !m->crashsim || m->nlog == 0)
		return r;
	int which = m->shared ? 0 : (int)st;
	size_t last = m->nlog - 1; /* the write just logged */
	const struct mem_op *w = &m->log[last];
	size_t upto = 0; /* ops [0, upto) of the store are applied first */
	for (size_t i = 0; i < last; i++) {
		const struct mem_op *o = &m->log[i];
		bool overlap = o->off < w->off + w->len && w->off < o->off + o->len;
		if (o->store == which && (o->kind != 0 || overlap))
			upto = i + 1;
	}
	size_t keep = 0;
	for (size_t i = 0; i <= last; i++) {
		struct mem_op *o = &m->log[i];
		if (o->store != which || (i >= upto && i != last)) {
			m->log[keep++] = *o;
			continue;
		}
		apply_op(m, o, 0, o->len);
		free(o->data);
	}
	m->nlog = keep;
	m->syncs++;
	return r;
}

static int m_sync(void *ctx, enum csm_store st, bool datasync)
{
	(void)datasync;
	struct mem_backend *m = ctx;
	if (m->failed)
		return -EIO;
	m->syncs++;
	if (!m->crashsim)
		return 0;
	int which = m->shared ? 0 : (int)st;
	size_t keep = 0;
	for (size_t i = 0; i < m->nlog; i++) {
		struct mem_op *o = &m->log[i];
		if (o->store != which) {
			m->log[keep++] = *o;
			continue;
		}
		apply_op(m, o, 0, o->len);
		free(o->data);
	}
	m->nlog = keep;
	return 0;
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
	if (st_set_size(mem_store_of(m, st), size) < 0)
		return -ENOMEM;
	return log_op(m, st, 1, size, 0, NULL);
}

static int m_zero_range(void *ctx, enum csm_store st, uint64_t off, uint64_t len)
{
	struct mem_backend *m = ctx;
	if (m->failed)
		return -EIO;
	st_zero(mem_store_of(m, st), off, len);
	return log_op(m, st, 2, off, len, NULL);
}

static int m_next_data(void *ctx, enum csm_store st, uint64_t off, uint64_t *data_off)
{
	(void)ctx;
	(void)st;
	(void)off;
	(void)data_off;
	return -EOPNOTSUPP;
}

static int m_boot_id(void *ctx, uint8_t out[16])
{
	memcpy(out, ((struct mem_backend *)ctx)->boot, 16);
	return 0;
}

static void m_destroy(void *ctx)
{
	(void)ctx;
}

static const struct csm_backend_ops mem_ops = {
        .preadv = m_preadv,
        .pwritev = m_pwritev,
        .pwritev_durable = m_pwritev_durable,
        .sync = m_sync,
        .get_size = m_get_size,
        .set_size = m_set_size,
        .zero_range = m_zero_range,
        .next_data = m_next_data,
        .boot_id = m_boot_id,
        .destroy = m_destroy,
};

void mem_backend_init(struct mem_backend *m, bool shared)
{
	memset(m, 0, sizeof(*m));
	m->shared = shared;
	m->writes_left = -1;
	m->boot[0] = 0xb0; /* any id, as long as it changes at each restart */
}

void mem_backend_free(struct mem_backend *m)
{
	for (size_t i = 0; i < m->nlog; i++)
		free(m->log[i].data);
	free(m->log);
	free(m->durable[0].buf);
	free(m->durable[1].buf);
	free(m->st[0].buf);
	free(m->st[1].buf);
	memset(m, 0, sizeof(*m));
}

struct csm_backend mem_backend_view(struct mem_backend *m)
{
	struct csm_backend be = {
	        .ops = &mem_ops, .ctx = m, .resizable = true, .two_stores = !m->shared};
	return be;
}
