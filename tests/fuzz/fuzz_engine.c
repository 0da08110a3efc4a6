/* libFuzzer: the engine opened on an arbitrary image.  The input is laid
 * over a valid formatted file (so the superblock usually survives) and the
 * engine reads, scrubs and writes it.  It must never crash, leak or trip a
 * sanitizer, and a read must never return bytes past its verified prefix. */
#include <stdlib.h>
#include <string.h>

#include "csumshim/engine.h"
#include "membackend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4 || size > (1u << 20))
		return 0;
	struct mem_backend m;
	mem_backend_init(&m, !(data[0] & 1));
	struct csm_backend be = mem_backend_view(&m);
	static const uint8_t uuid[16] = {7};
	struct csm_format_opts fo = {.block_size = 512u << (data[1] & 3),
	                             .algo = 1 + ((data[1] >> 2) & 1),
	                             .layout = (data[0] & 1) ? CSM_LAYOUT_SEPARATE
	                                                     : CSM_LAYOUT_INTERLEAVED,
	                             .size = (uint64_t)data[2] * 4096 + data[3],
	                             .uuid = uuid};
	if (csm_format(&be, &fo, NULL, 0) != 0)
		abort();
	struct csm_engine *e;
	if (csm_open(&be, NULL, &e, NULL, 0) == 0) { /* write something real */
		uint8_t pat[9000];
		memset(pat, 0x5a, sizeof(pat));
		csm_pwrite(e, pat, sizeof(pat), data[3]);
		csm_close(e);
	}
	/* Overlay the input: keep the superblock unless bit 3 says not. */
	struct mem_store *s = mem_store_of(&m, (data[0] & 2) ? CSM_DATA : CSM_META);
	size_t skip = (data[0] & 8) ? 0 : CSM_SB_SIZE;
	for (size_t i = 4; i < size && skip + i - 4 < s->size; i++)
		s->buf[skip + i - 4] ^= data[i];
	be = mem_backend_view(&m);
	if (csm_open(&be, NULL, &e, NULL, 0) == 0) {
		uint64_t n = csm_size(e);
		if (n > (4u << 20))
			n = 4u << 20;
		uint8_t *buf = malloc(n + 1);
		ssize_t r = csm_pread(e, buf, n, 0);
		for (uint64_t i = r < 0 ? 0 : (uint64_t)r; i < n; i++)
			if (buf[i] != 0)
				abort(); /* unverified byte escaped */
		struct csm_scrub_result sr;
		csm_scrub(e, NULL, NULL, &sr);
		csm_pwrite(e, data, size < 5000 ? size : 5000, data[2]);
		csm_truncate(e, data[3]);
		free(buf);
		csm_close(e);
	}
	mem_backend_free(&m);
	return 0;
}
