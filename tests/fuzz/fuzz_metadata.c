/* libFuzzer: two metadata blocks (brothers) of an arbitrary geometry.
 * The checker must never read out of bounds, a block it calls valid must
 * survive a re-seal unchanged, and the brother choice must be coherent. */
#include <stdlib.h>
#include <string.h>

#include "csumshim/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t bs = 512u << (data[0] & 3);
	unsigned algo = 1 + ((data[0] >> 2) & 1);
	uint64_t group = data[1];
	struct csm_geometry g;
	if (!csm_geo_init(&g, bs, algo, CSM_LAYOUT_INTERLEAVED))
		abort();
	static const uint8_t uuid[16] = {1, 2, 3};
	uint8_t blk[2][4096];
	memset(blk, 0, sizeof(blk));
	size_t n = size - 2 < 2 * (size_t)bs ? size - 2 : 2 * (size_t)bs;
	memcpy(blk[0], data + 2, n < bs ? n : bs);
	if (n > bs)
		memcpy(blk[1], data + 2 + bs, n - bs);
	/* Half the time, seal the inputs so the deeper checks run. */
	if (data[0] & 8) {
		for (int i = 0; i < 2; i++) {
			uint64_t gen = csm_mb_generation(blk[i]);
			csm_put_le32(blk[i] + CSM_MB_OFF_MAGIC, CSM_META_MAGIC);
			csm_put_le64(blk[i] + CSM_MB_OFF_GROUP, group);
			if (data[0] & 16)
				csm_put_le32(blk[i] + CSM_MB_OFF_NBLOCKS, g.per_group);
			csm_mb_seal(&g, uuid, blk[i], gen);
		}
	}
	enum csm_mb_status st[2];
	uint64_t gen[2];
	for (int i = 0; i < 2; i++) {
		st[i] = csm_mb_check(&g, uuid, blk[i], group, &gen[i]);
		if (st[i] == CSM_MB_VALID) {
			uint8_t copy[4096];
			memcpy(copy, blk[i], bs);
			csm_mb_seal(&g, uuid, copy, gen[i]);
			if (memcmp(copy, blk[i], bs) || gen[i] == 0)
				abort();
			for (uint32_t k = 0; k < g.per_group; k++)
				if (!csm_mb_written(&g, blk[i], k) &&
				    csm_mb_tuple(&g, blk[i], k) > UINT64_MAX)
					abort();
		}
	}
	struct csm_pair p;
	csm_pair_choose(&p, st[0], gen[0], st[1], gen[1]);
	if (p.newer >= 0 && st[p.newer] != CSM_MB_VALID)
		abort();
	if (p.older_ok && (p.newer < 0 || p.gen[1 - p.newer] + 1 != p.gen[p.newer]))
		abort();
	if (p.broken && (p.newer >= 0 || (st[0] == CSM_MB_EMPTY && st[1] == CSM_MB_EMPTY)))
		abort();
	return 0;
}
