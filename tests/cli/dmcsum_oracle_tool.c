/*
 * The dm-csum oracle (tests/support/dmcsum_oracle.c) on real files, for
 * the CLI test.  Test-only, not shipped.
 *
 *   dmcsum_oracle_tool mkfs-same FILE
 *       mk-dm-csum same, as the seed's tool does it to a file.
 *   dmcsum_oracle_tool write FILE SECTOR SRC [META]
 *       write SRC (whole sectors) at dm sector SECTOR with the seed's own
 *       update (stale tuples kept); "diff" when META is given.
 *   dmcsum_oracle_tool read FILE OUT [META]
 *       read every sector with the seed's verification into OUT; exit 1
 *       naming the first sector that fails.
 *
 * The logical size is what the seed's mapping fits in the file(s): the
 * sectors whose data (and "diff": pair) lie inside.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmcsum_oracle.h"

static void die(const char *what, const char *path)
{
	fprintf(stderr, "dmcsum_oracle_tool: %s: %s: %s\n", what, path, strerror(errno));
	exit(2);
}

static void load(struct odev *d, const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("open", path);
	odev_init(d, (uint64_t)st.st_size, false);
	if (st.st_size && pread(fd, d->buf, (size_t)st.st_size, 0) != st.st_size)
		die("read", path);
	close(fd);
}

static void save(const struct odev *d, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (d->size && pwrite(fd, d->buf, d->size, 0) != (ssize_t)d->size) ||
	    close(fd) < 0)
		die("write", path);
}

/* Logical sectors the seed's mapping fits in the stores. */
static uint64_t sectors_of(const struct oracle *o)
{
	uint64_t n = 0;
	if (o->same) {
		while ((oracle_map_data_sector_same(n) + 1) * 512 <= o->data->size)
			n++;
	} else {
		while ((oracle_map_data_sector_diff(n) + 1) * 512 <= o->data->size &&
		       (oracle_get_imd_sector_diff(n) + 2) * 512 <= o->imd->size)
			n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "mkfs-same")) {
		struct odev d;
		load(&d, argv[2]);
		if (oracle_mk_dm_csum_same(&d) < 0) {
			fprintf(stderr, "dmcsum_oracle_tool: mk-dm-csum same failed\n");
			return 2;
		}
		save(&d, argv[2]);
		return 0;
	}
	bool w = argc >= 5 && argc <= 6 && !strcmp(argv[1], "write");
	bool r = argc >= 4 && argc <= 5 && !strcmp(argv[1], "read");
	if (!w && !r) {
		fprintf(stderr, "usage: dmcsum_oracle_tool mkfs-same FILE | write FILE SECTOR SRC "
		                "[META] | read FILE OUT [META]\n");
		return 2;
	}
	const char *meta = w ? (argc == 6 ? argv[5] : NULL) : (argc == 5 ? argv[4] : NULL);
	struct odev data, imd;
	load(&data, argv[2]);
	if (meta)
		load(&imd, meta);
	struct oracle o = {
	        .same = !meta, .fixed = false, .data = &data, .imd = meta ? &imd : &data};
	if (w) {
		struct odev src;
		load(&src, argv[4]);
		uint64_t sector = strtoull(argv[3], NULL, 0);
		if (src.size % 512 || src.size == 0 || sector + src.size / 512 > sectors_of(&o)) {
			fprintf(stderr, "dmcsum_oracle_tool: bad write\n");
			return 2;
		}
		if (oracle_write(&o, sector, (unsigned)(src.size / 512), src.buf) < 0) {
			fprintf(stderr, "dmcsum_oracle_tool: consistency error\n");
			return 1;
		}
		save(&data, argv[2]);
		if (meta)
			save(&imd, meta);
		return 0;
	}
	uint64_t n = sectors_of(&o), bad = 0;
	struct odev out;
	odev_init(&out, n * 512, false);
	if (oracle_read(&o, 0, (unsigned)n, out.buf, &bad) < 0) {
		printf("sector %llu: CRC in neither brother\n", (unsigned long long)bad);
		return 1;
	}
	save(&out, argv[3]);
	printf("%llu sectors verified\n", (unsigned long long)n);
	return 0;
}
