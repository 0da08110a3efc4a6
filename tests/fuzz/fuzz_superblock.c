/* libFuzzer: the superblock decoder on arbitrary bytes.  Whatever it
 * accepts must re-encode to the same bytes and decode to the same fields. */
#include <stdlib.h>
#include <string.h>

#include "csumshim/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csm_super sb, again;
	if (csm_sb_decode(data, size, &sb) != CSM_SB_OK)
		return 0;
	uint8_t out[CSM_SB_SIZE];
	csm_sb_encode(&sb, out);
	if (memcmp(out, data, CSM_SB_SIZE) != 0)
		abort();
	/* Re-encoding the second decode must give the same bytes again. */
	uint8_t out2[CSM_SB_SIZE];
	if (csm_sb_decode(out, sizeof(out), &again) != CSM_SB_OK)
		abort();
	csm_sb_encode(&again, out2);
	if (memcmp(out, out2, sizeof(out)) != 0)
		abort();
	struct csm_geometry g;
	if (!csm_geo_init_f(&g, sb.version, sb.incompat, sb.block_size, sb.algo, sb.layout))
		abort();
	return 0;
}
