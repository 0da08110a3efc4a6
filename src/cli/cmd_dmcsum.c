/*
 * The commands on dm-csum files (the 2009 seed's format), reached with
 * `--format dm-csum`:
 *
 *   format FILE|DEVICE --format dm-csum [--size BYTES] [--layout L]
 *          [--metadata PATH] [--force]
 *   info    FILE --format dm-csum [--layout L] [--metadata-file PATH] [--json]
 *   check   FILE --format dm-csum [--layout L] [--metadata-file PATH] [--json]
 *   dump    FILE --format dm-csum --group G [--layout L] [--metadata-file PATH]
 *   corrupt FILE --format dm-csum --offset BYTE [--bits K] [--seed S]
 *          [--metadata [--brother A|B]] [--layout L] [--metadata-file PATH]
 *   (import, export and convert: cmd_convert.c)
 *
 * The format has no magic number: nothing here guesses that a file is
 * dm-csum, and a file that carries csumshim's superblock is refused.  Exit
 * codes and messages as for csumshim's own format (cli.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define SEC CSM_DMC_SECTOR

static const char *layout_word(unsigned layout)
{
	return layout == CSM_LAYOUT_SEPARATE ? "separate (the seed's \"diff\")"
	                                     : "interleaved (the seed's \"same\")";
}

int cli_dmc_layout_arg(const char *arg)
{
	int x = csm_layout_from_name(arg);
	if (x < 0)
		cli_err("--layout: unknown layout '%s' (interleaved or separate)", arg);
	return x;
}

int cli_dmc_formatter(struct csm_backend *be, const struct csm_format_opts *fo, char *err,
                      size_t errlen)
{
	struct csm_dmc_format_opts o = {
	        .layout = fo->layout, .size = fo->size, .use_capacity = fo->use_capacity};
	return csm_dmc_format(be, &o, err, errlen);
}

void cli_dmc_event_text(const struct csm_dmc_event *ev, char *buf, size_t n)
{
	switch (ev->kind) {
	case CSM_DMC_EV_MISMATCH:
		snprintf(buf, n, "sector %llu (bytes %llu-%llu): %s",
		         (unsigned long long)ev->sector, (unsigned long long)(ev->sector * SEC),
		         (unsigned long long)(ev->sector * SEC + SEC - 1),
		         csm_dmc_event_name(ev->kind));
		break;
	case CSM_DMC_EV_IMD_DAMAGED:
		snprintf(buf, n, "group %llu imd sector M%d: %s", (unsigned long long)ev->group,
		         ev->slot + 1, csm_dmc_event_name(ev->kind));
		break;
	case CSM_DMC_EV_UNDECIDABLE:
		snprintf(buf, n, "group %llu: %s (last_updated %u and %u); writes to it will fail",
		         (unsigned long long)ev->group, csm_dmc_event_name(ev->kind), ev->lu[0],
		         ev->lu[1]);
		break;
	case CSM_DMC_EV_GROUP_BROKEN:
		snprintf(buf, n, "group %llu: %s; its sectors cannot be verified",
		         (unsigned long long)ev->group, csm_dmc_event_name(ev->kind));
		break;
	case CSM_DMC_EV_IO_ERROR:
		snprintf(buf, n, "group %llu: I/O error: %s", (unsigned long long)ev->group,
		         strerror(ev->err));
		break;
	default:
		snprintf(buf, n, "%s", csm_dmc_event_name(ev->kind));
	}
}

/* A store holding a csumshim superblock: the user named the wrong format.
 * Closes fd then. */
static int refuse_csumshim(int fd, const char *path)
{
	uint8_t head[CSM_SB_SIZE];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	if (n > 0 && csm_sb_has_magic(head, (size_t)n)) {
		cli_err("%s: is a csumshim file, not dm-csum (drop --format dm-csum)", path);
		close(fd);
		return -1;
	}
	return fd;
}

int cli_dmc_open(struct cli_dmc *f, const char *path, const struct cli_dmc_open_opts *o)
{
	memset(f, 0, sizeof(*f));
	unsigned layout = o->layout      ? o->layout
	                  : o->meta_path ? CSM_LAYOUT_SEPARATE
	                                 : CSM_LAYOUT_INTERLEAVED;
	if (o->meta_path && layout != CSM_LAYOUT_SEPARATE) {
		cli_err("--metadata-file is only for --layout separate");
		return EXIT_ERR;
	}
	char *meta = NULL;
	if (layout == CSM_LAYOUT_SEPARATE) {
		meta = o->meta_path ? strdup(o->meta_path) : cli_default_meta_path(path);
		if (!meta) {
			cli_err("out of memory");
			return EXIT_ERR;
		}
	}
	/* The metadata file through cli_open_meta: never a link, never another
	 * user's file, as for csumshim's own separate layout. */
	int dfd = cli_open_data(path, o->writable);
	if (dfd >= 0)
		dfd = refuse_csumshim(dfd, path);
	int mfd = dfd;
	if (dfd >= 0 && meta) {
		mfd = cli_open_meta(meta, dfd, o->writable);
		if (mfd >= 0)
			mfd = refuse_csumshim(mfd, meta);
		if (mfd < 0)
			close(dfd);
	}
	if (dfd < 0 || mfd < 0) {
		free(meta);
		return EXIT_ERR;
	}
	struct csm_backend be;
	if (cli_posix_backend(&be, path, dfd, mfd) != EXIT_OK) {
		free(meta);
		return EXIT_ERR;
	}
	struct csm_dmc_opts co = {.layout = layout,
	                          .readonly = o->readonly_handle || !o->writable,
	                          .report = o->report,
	                          .report_arg = o->report_arg};
	char err[256];
	int rc = csm_dmc_open(&be, &co, &f->d, err, sizeof(err));
	if (rc < 0) {
		cli_err("%s: %s", meta ? meta : path, err);
		free(meta);
		return EXIT_ERR;
	}
	f->path = strdup(path);
	f->meta_path = meta;
	return EXIT_OK;
}

int cli_dmc_close(struct cli_dmc *f)
{
	int rc = EXIT_OK;
	if (f->d && csm_dmc_close(f->d) < 0) {
		cli_err("%s: close: %s", f->path, strerror(errno));
		rc = EXIT_ERR;
	}
	free(f->path);
	free(f->meta_path);
	memset(f, 0, sizeof(*f));
	return rc;
}

/* ---- format ----------------------------------------------------------- */

int cmd_dmc_format(int argc, char **argv)
{
	static const struct option longopts[] = {FORMAT_LONGOPTS, {NULL, 0, NULL, 0}};
	static const char usage[] = "format: usage: csumshim format FILE --format dm-csum "
	                            "[--size BYTES] [--layout interleaved|separate] "
	                            "[--metadata PATH] [--force]";
	struct cli_format_args a;
	memset(&a, 0, sizeof(a));
	a.formatter = cli_dmc_formatter;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		uint64_t v;
		if (opt == OPT_CSUM) {
			cli_err("--checksum: dm-csum's checksum is fixed (16-bit CRC-CCITT)");
			return EXIT_ERR;
		}
		if (opt == OPT_BS && (!cli_parse_size(optarg, &v) || v != SEC)) {
			cli_err("--block-size: dm-csum uses 512-byte sectors, not '%s'", optarg);
			return EXIT_ERR;
		}
		int r = cli_format_option(&a, opt, optarg);
		if (r < 0)
			return EXIT_ERR;
		if (r == 0) {
			cli_err("%s", usage);
			return EXIT_ERR;
		}
	}
	if (optind != argc - 1) {
		cli_err("format: expected exactly one FILE or DEVICE");
		return EXIT_ERR;
	}
	if (a.have_size && (a.fo.size == 0 || a.fo.size % SEC)) {
		cli_err("--size: dm-csum stores whole 512-byte sectors: %llu is not a positive "
		        "multiple of 512",
		        (unsigned long long)a.fo.size);
		return EXIT_ERR;
	}
	const char *path = argv[optind];
	struct stat st;
	if (!a.have_size && (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))) {
		cli_err("format: --size is needed for a file (dm-csum records no size)");
		return EXIT_ERR;
	}
	bool created;
	int rc = cli_do_format(&a, path, &created);
	if (rc != EXIT_OK)
		return rc;
	struct cli_dmc f;
	struct cli_dmc_open_opts oo = {.layout = a.fo.layout, .meta_path = a.meta_path};
	rc = cli_dmc_open(&f, path, &oo);
	if (rc != EXIT_OK)
		return rc;
	uint64_t size = csm_dmc_size(f.d);
	printf("formatted %s: %llu bytes (%llu sectors in %llu groups), dm-csum format, %s "
	       "layout%s%s\n",
	       path, (unsigned long long)size, (unsigned long long)(size / SEC),
	       (unsigned long long)csm_dmc_groups(size / SEC), layout_word(csm_dmc_layout(f.d)),
	       f.meta_path ? ", metadata in " : "", f.meta_path ? f.meta_path : "");
	return cli_dmc_close(&f);
}

/* ---- the options every command on an existing file takes -------------- */

struct dmc_args {
	struct cli_dmc_open_opts oo;
	bool json;
	uint64_t group;
	bool have_group;
};

/* 1 consumed, 0 not one of these, -1 bad (reported). */
static int common_option(struct dmc_args *a, int opt, const char *arg)
{
	int x;
	switch (opt) {
	case OPT_LAYOUT:
		x = cli_dmc_layout_arg(arg);
		if (x < 0)
			return -1;
		a->oo.layout = (unsigned)x;
		return 1;
	case OPT_METAFILE:
		a->oo.meta_path = arg;
		return 1;
	default:
		return 0;
	}
}

#define DMC_COMMON_LONGOPTS                                               \
	{"layout", required_argument, NULL, OPT_LAYOUT},                  \
	        {"metadata-file", required_argument, NULL, OPT_METAFILE}, \
	{                                                                 \
		"metadata", required_argument, NULL, OPT_METAFILE         \
	}

/* info and check: FILE, the common options and --json. */
static int file_json_args(int argc, char **argv, const char *cmd, struct dmc_args *a)
{
	static const struct option longopts[] = {
	        DMC_COMMON_LONGOPTS, {"json", no_argument, NULL, OPT_JSON}, {NULL, 0, NULL, 0}};
	memset(a, 0, sizeof(*a));
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_JSON) {
			a->json = true;
			continue;
		}
		int r = common_option(a, opt, optarg);
		if (r < 0)
			return -1;
		if (r == 0) {
			cli_err("%s: usage: csumshim %s FILE --format dm-csum [--layout L] "
			        "[--metadata-file PATH] [--json]",
			        cmd, cmd);
			return -1;
		}
	}
	if (optind != argc - 1) {
		cli_err("%s: expected exactly one FILE", cmd);
		return -1;
	}
	return 0;
}

/* ---- info ------------------------------------------------------------- */

int cmd_dmc_info(int argc, char **argv)
{
	struct dmc_args a;
	if (file_json_args(argc, argv, "info", &a) < 0)
		return EXIT_ERR;
	struct cli_dmc f;
	int rc = cli_dmc_open(&f, argv[optind], &a.oo);
	if (rc != EXIT_OK)
		return rc;
	unsigned layout = csm_dmc_layout(f.d);
	uint64_t size = csm_dmc_size(f.d), sectors = size / SEC;
	uint64_t dbytes = csm_dmc_data_store_sectors(layout, sectors) * SEC;
	uint64_t mbytes = csm_dmc_meta_store_sectors(layout, sectors) * SEC;
	if (a.json) {
		printf("{\"file\":");
		cli_json_str(f.path);
		printf(",\"metadata_file\":");
		if (f.meta_path)
			cli_json_str(f.meta_path);
		else
			printf("null");
		printf(",\"format\":\"dm-csum\",\"layout\":\"%s\",\"logical_size\":%llu,"
		       "\"sector_size\":%u,\"checksum\":\"crc-ccitt\",\"sectors\":%llu,"
		       "\"sectors_per_group\":%u,\"groups\":%llu,\"data_store_bytes\":%llu,"
		       "\"metadata_store_bytes\":%llu}\n",
		       csm_layout_name(layout), (unsigned long long)size, SEC,
		       (unsigned long long)sectors, CSM_DMC_PER_GROUP,
		       (unsigned long long)csm_dmc_groups(sectors), (unsigned long long)dbytes,
		       (unsigned long long)mbytes);
	} else {
		printf("file:              %s\n", f.path);
		if (f.meta_path)
			printf("metadata file:     %s\n", f.meta_path);
		printf("format:            dm-csum (the 2009 seed's; no superblock)\n");
		printf("layout:            %s\n", layout_word(layout));
		printf("logical size:      %llu bytes\n", (unsigned long long)size);
		printf("sector size:       %u\n", SEC);
		printf("checksum:          crc-ccitt (16-bit, data only)\n");
		printf("sectors:           %llu\n", (unsigned long long)sectors);
		printf("sectors per group: %u\n", CSM_DMC_PER_GROUP);
		printf("groups:            %llu\n", (unsigned long long)csm_dmc_groups(sectors));
		printf("metadata overhead: %.3f%%\n", 200.0 / CSM_DMC_PER_GROUP);
	}
	return cli_dmc_close(&f);
}

/* ---- check ------------------------------------------------------------ */

struct dmc_events {
	struct csm_dmc_event *ev;
	size_t n, cap;
	bool overflow;
};

static void collect(void *arg, const struct csm_dmc_event *ev)
{
	struct dmc_events *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct csm_dmc_event *v = realloc(c->ev, cap * sizeof(*v));
		if (!v) {
			c->overflow = true;
			return;
		}
		c->ev = v;
		c->cap = cap;
	}
	c->ev[c->n++] = *ev;
}

static const char *event_key(enum csm_dmc_event_kind k)
{
	switch (k) {
	case CSM_DMC_EV_MISMATCH:
		return "mismatch";
	case CSM_DMC_EV_IMD_DAMAGED:
		return "imd_damaged";
	case CSM_DMC_EV_UNDECIDABLE:
		return "undecidable";
	case CSM_DMC_EV_GROUP_BROKEN:
		return "group_broken";
	default:
		return "io_error";
	}
}

static void print_check_json(const struct cli_dmc *f, const struct csm_dmc_check_result *res,
                             const struct dmc_events *ev, bool bad)
{
	printf("{\"file\":");
	cli_json_str(f->path);
	printf(",\"format\":\"dm-csum\",\"layout\":\"%s\",\"logical_size\":%llu,"
	       "\"sectors\":%llu,\"groups\":%llu,\"bad_sectors\":%llu,\"damaged_imd\":%llu,"
	       "\"undecidable_groups\":%llu,\"broken_groups\":%llu,\"clean\":%s,\"events\":[",
	       csm_layout_name(csm_dmc_layout(f->d)), (unsigned long long)csm_dmc_size(f->d),
	       (unsigned long long)res->sectors, (unsigned long long)res->groups,
	       (unsigned long long)res->bad_sectors, (unsigned long long)res->damaged_imd,
	       (unsigned long long)res->undecidable_groups, (unsigned long long)res->broken_groups,
	       bad ? "false" : "true");
	for (size_t i = 0; i < ev->n; i++) {
		const struct csm_dmc_event *e = &ev->ev[i];
		char text[256];
		cli_dmc_event_text(e, text, sizeof(text));
		printf("%s{\"kind\":\"%s\",\"group\":%llu", i ? "," : "", event_key(e->kind),
		       (unsigned long long)e->group);
		if (e->kind == CSM_DMC_EV_MISMATCH)
			printf(",\"sector\":%llu,\"offset\":%llu,\"length\":%u",
			       (unsigned long long)e->sector, (unsigned long long)(e->sector * SEC),
			       SEC);
		if (e->kind == CSM_DMC_EV_IMD_DAMAGED)
			printf(",\"imd\":\"M%d\"", e->slot + 1);
		printf(",\"message\":");
		cli_json_str(text);
		printf("}");
	}
	printf("]}\n");
}

int cmd_dmc_check(int argc, char **argv)
{
	struct dmc_args a;
	if (file_json_args(argc, argv, "check", &a) < 0)
		return EXIT_ERR;
	struct dmc_events ev = {0};
	a.oo.report = collect;
	a.oo.report_arg = &ev;
	struct cli_dmc f;
	int rc = cli_dmc_open(&f, argv[optind], &a.oo);
	if (rc != EXIT_OK)
		return rc;
	struct cli_progress prog;
	cli_progress_init(&prog, "checking", csm_dmc_size(f.d));
	struct csm_dmc_check_result res;
	int cr = csm_dmc_check(f.d, cli_progress, &prog, &res);
	int cerr = errno;
	cli_progress_end(&prog);
	if (cr < 0) {
		cli_err("%s: check failed: %s", f.path, strerror(cerr));
		free(ev.ev);
		cli_dmc_close(&f);
		return EXIT_ERR;
	}
	bool bad = res.bad_sectors || res.damaged_imd || res.undecidable_groups ||
	           res.broken_groups || ev.overflow;
	if (a.json) {
		print_check_json(&f, &res, &ev, bad);
	} else {
		for (size_t i = 0; i < ev.n; i++) {
			char text[256];
			cli_dmc_event_text(&ev.ev[i], text, sizeof(text));
			printf("%s\n", text);
		}
		printf("%s: %llu sectors in %llu groups: %llu bad sectors, %llu damaged imd "
		       "sectors, %llu groups refusing writes\n",
		       f.path, (unsigned long long)res.sectors, (unsigned long long)res.groups,
		       (unsigned long long)res.bad_sectors, (unsigned long long)res.damaged_imd,
		       (unsigned long long)(res.undecidable_groups + res.broken_groups));
	}
	free(ev.ev);
	rc = cli_dmc_close(&f);
	if (rc != EXIT_OK)
		return rc;
	return bad ? EXIT_BAD : EXIT_OK;
}

/* ---- dump ------------------------------------------------------------- */

static void dump_imd(const struct csm_dmc_pair *p, const uint8_t *pair, int i)
{
	const uint8_t *m = pair + (size_t)i * SEC;
	struct csm_dmc_imd d;
	csm_dmc_imd_decode(m, &d);
	printf("M%d: last_updated %u, header CRC %04x (%s)", i + 1, d.last_updated, d.crc,
	       p->ok[i] ? "valid" : "MISMATCH");
	if (!p->ok[i])
		printf(", computed %04x", csm_dmc_imd_body_crc(m));
	if (p->newer == i)
		printf(", newer");
	else if (p->target == i)
		printf(", older: the next write goes here");
	if (d.unused1 || d.unused3 || !csm_is_zero(d.spare, sizeof(d.spare)))
		printf(", unused fields not zero");
	printf("\n");
}

int cmd_dmc_dump(int argc, char **argv)
{
	static const struct option longopts[] = {DMC_COMMON_LONGOPTS,
	                                         {"group", required_argument, NULL, OPT_GROUP},
	                                         {NULL, 0, NULL, 0}};
	static const char usage[] = "dump: usage: csumshim dump FILE --format dm-csum --group G "
	                            "[--layout L] [--metadata-file PATH]";
	struct dmc_args a;
	memset(&a, 0, sizeof(a));
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_GROUP && cli_parse_u64(optarg, &a.group)) {
			a.have_group = true;
			continue;
		}
		int r = common_option(&a, opt, optarg);
		if (r < 0)
			return EXIT_ERR;
		if (r == 0) {
			cli_err("%s", usage);
			return EXIT_ERR;
		}
	}
	if (optind != argc - 1 || !a.have_group) {
		cli_err("%s", usage);
		return EXIT_ERR;
	}
	struct cli_dmc f;
	int rc = cli_dmc_open(&f, argv[optind], &a.oo);
	if (rc != EXIT_OK)
		return rc;
	unsigned layout = csm_dmc_layout(f.d);
	uint64_t sectors = csm_dmc_size(f.d) / SEC, groups = csm_dmc_groups(sectors);
	if (a.group >= groups) {
		cli_err("%s: group %llu out of range (the file has %llu groups)", f.path,
		        (unsigned long long)a.group, (unsigned long long)groups);
		cli_dmc_close(&f);
		return EXIT_ERR;
	}
	uint64_t imd = csm_dmc_imd_sector(layout, a.group);
	uint8_t pair[2 * SEC];
	ssize_t n = csm_dmc_raw_pread(f.d, CSM_META, pair, sizeof(pair), imd * SEC);
	if (n != (ssize_t)sizeof(pair)) {
		cli_err("%s: read: %s", f.meta_path ? f.meta_path : f.path,
		        n < 0 ? strerror(errno) : "short read");
		cli_dmc_close(&f);
		return EXIT_ERR;
	}
	struct csm_dmc_pair p;
	csm_dmc_pair_choose(&p, pair, pair + SEC);
	uint64_t first = a.group * CSM_DMC_PER_GROUP;
	unsigned len = (unsigned)(sectors - first < CSM_DMC_PER_GROUP ? sectors - first
	                                                              : CSM_DMC_PER_GROUP);
	printf("group %llu: sectors %llu-%llu, imd sectors M1 and M2 at sectors %llu-%llu of "
	       "%s%s\n",
	       (unsigned long long)a.group, (unsigned long long)first,
	       (unsigned long long)(first + len - 1), (unsigned long long)imd,
	       (unsigned long long)(imd + 1), f.meta_path ? f.meta_path : f.path,
	       p.undecidable          ? "; brothers cannot be ordered: writes refused"
	       : !p.ok[0] && !p.ok[1] ? "; BROKEN (no valid imd sector)"
	                              : "");
	for (int i = 0; i < 2; i++)
		dump_imd(&p, pair, i);
	struct csm_dmc_imd m[2];
	csm_dmc_imd_decode(pair, &m[0]);
	csm_dmc_imd_decode(pair + SEC, &m[1]);
	unsigned set = 0;
	for (unsigned i = 0; i < CSM_DMC_PER_GROUP; i++) {
		const struct csm_dmc_tuple *t1 = &m[0].t[i], *t2 = &m[1].t[i];
		size_t t = CSM_DMC_OFF_TUPLES + (size_t)i * CSM_DMC_TUPLE_SIZE;
		bool same = !memcmp(pair + t, pair + SEC + t, CSM_DMC_TUPLE_SIZE);
		bool zero = same && !t1->crc && !t1->flags && !t1->tag;
		if (zero)
			continue;
		set++;
		printf("  sector %llu:", (unsigned long long)(first + i));
		if (same)
			printf(" %04x", t1->crc);
		else
			printf(" M1 %04x, M2 %04x (differ)", t1->crc, t2->crc);
		if (t1->flags || t1->tag || t2->flags || t2->tag)
			printf("  flags %04x/%04x tag %08x/%08x", t1->flags, t2->flags, t1->tag,
			       t2->tag);
		printf("\n");
	}
	printf("  %u of %u tuples not zero (a zero CRC is also a zeroed sector's)\n", set,
	       CSM_DMC_PER_GROUP);
	return cli_dmc_close(&f);
}

/* ---- corrupt ---------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* k distinct bit positions out of nbits, the same for the same seed. */
static void pick_bits(uint64_t seed, uint64_t nbits, uint64_t k, uint64_t *out)
{
	uint64_t s = seed;
	for (uint64_t i = 0; i < k;) {
		uint64_t b = splitmix64(&s) % nbits;
		bool dup = false;
		for (uint64_t j = 0; j < i && !dup; j++)
			dup = out[j] == b;
		if (!dup)
			out[i++] = b;
	}
}

struct corrupt_args {
	struct dmc_args c;
	uint64_t offset, bits, seed;
	bool have_off, have_seed, meta_target;
	int brother;
};

static int corrupt_option(struct corrupt_args *a, int opt, const char *arg)
{
	int r = common_option(&a->c, opt, arg);
	if (r)
		return r;
	switch (opt) {
	case OPT_OFFSET:
		if (!cli_parse_size(arg, &a->offset)) {
			cli_err("--offset: not a byte offset: '%s'", arg);
			return -1;
		}
		a->have_off = true;
		return 1;
	case OPT_BITS:
		if (!cli_parse_u64(arg, &a->bits) || a->bits == 0) {
			cli_err("--bits: not a positive count: '%s'", arg);
			return -1;
		}
		return 1;
	case OPT_SEED:
		if (!cli_parse_u64(arg, &a->seed)) {
			cli_err("--seed: not a number: '%s'", arg);
			return -1;
		}
		a->have_seed = true;
		return 1;
	case OPT_META_TARGET:
		a->meta_target = true;
		return 1;
	case OPT_BROTHER:
		if (!strcmp(arg, "A") || !strcmp(arg, "M1")) {
			a->brother = 0;
		} else if (!strcmp(arg, "B") || !strcmp(arg, "M2")) {
			a->brother = 1;
		} else {
			cli_err("--brother: must be A (M1) or B (M2), not '%s'", arg);
			return -1;
		}
		a->meta_target = true;
		return 1;
	default:
		return 0;
	}
}

static int flip(struct cli_dmc *f, enum csm_store st, uint64_t off, uint64_t len,
                const struct corrupt_args *a, const char *where)
{
	uint8_t buf[SEC];
	uint64_t pos[SEC * 8];
	if (a->bits > len * 8) {
		cli_err("--bits %llu: the target holds only %llu bits", (unsigned long long)a->bits,
		        (unsigned long long)(len * 8));
		return EXIT_ERR;
	}
	if (csm_dmc_raw_pread(f->d, st, buf, len, off) != (ssize_t)len) {
		cli_err("%s: read: %s", f->path, strerror(errno));
		return EXIT_ERR;
	}
	pick_bits(a->seed, len * 8, a->bits, pos);
	for (uint64_t i = 0; i < a->bits; i++)
		buf[pos[i] / 8] ^= (uint8_t)(1u << (pos[i] % 8));
	if (csm_dmc_raw_pwrite(f->d, st, buf, len, off) != (ssize_t)len) {
		cli_err("%s: write: %s", f->path, strerror(errno));
		return EXIT_ERR;
	}
	printf("flipped %llu bit%s in %s (seed %llu):", (unsigned long long)a->bits,
	       a->bits == 1 ? "" : "s", where, (unsigned long long)a->seed);
	for (uint64_t i = 0; i < a->bits; i++)
		printf(" %llu:%llu", (unsigned long long)(off + pos[i] / 8),
		       (unsigned long long)(pos[i] % 8));
	printf("\n");
	return EXIT_OK;
}

int cmd_dmc_corrupt(int argc, char **argv)
{
	/* As csumshim's own corrupt: --metadata names the target, not a file. */
	static const struct option longopts[] = {
	        {"layout", required_argument, NULL, OPT_LAYOUT},
	        {"metadata-file", required_argument, NULL, OPT_METAFILE},
	        {"offset", required_argument, NULL, OPT_OFFSET},
	        {"bits", required_argument, NULL, OPT_BITS},
	        {"seed", required_argument, NULL, OPT_SEED},
	        {"metadata", no_argument, NULL, OPT_META_TARGET},
	        {"brother", required_argument, NULL, OPT_BROTHER},
	        {NULL, 0, NULL, 0},
	};
	static const char usage[] =
	        "corrupt: usage: csumshim corrupt FILE --format dm-csum --offset LOGICAL_BYTE "
	        "[--bits K] [--seed S] [--metadata [--brother A|B]] [--layout L] "
	        "[--metadata-file PATH]";
	struct corrupt_args a;
	memset(&a, 0, sizeof(a));
	a.bits = 1;
	a.brother = -1;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = corrupt_option(&a, opt, optarg);
		if (r < 0)
			return EXIT_ERR;
		if (r == 0) {
			cli_err("%s", usage);
			return EXIT_ERR;
		}
	}
	if (optind != argc - 1 || !a.have_off) {
		cli_err("%s", usage);
		return EXIT_ERR;
	}
	if (!a.have_seed && getrandom(&a.seed, sizeof(a.seed), 0) != sizeof(a.seed)) {
		cli_err("getrandom: %s", strerror(errno));
		return EXIT_ERR;
	}
	a.c.oo.writable = true;
	a.c.oo.readonly_handle = true;
	struct cli_dmc f;
	int rc = cli_dmc_open(&f, argv[optind], &a.c.oo);
	if (rc != EXIT_OK)
		return rc;
	unsigned layout = csm_dmc_layout(f.d);
	if (a.offset >= csm_dmc_size(f.d)) {
		cli_err("%s: offset %llu is past the end (logical size %llu)", f.path,
		        (unsigned long long)a.offset, (unsigned long long)csm_dmc_size(f.d));
		cli_dmc_close(&f);
		return EXIT_ERR;
	}
	uint64_t s = a.offset / SEC, g = csm_dmc_group_of(s);
	char where[96];
	if (a.meta_target) {
		/* The CRC field of this sector's tuple in the newer brother
		 * (by the wrap rule; M1 when they cannot be ordered) unless
		 * --brother says.  last_updated is left alone, so the same
		 * call flips the same bits back. */
		int which = a.brother;
		if (which < 0) {
			uint8_t lu[2] = {0, 0};
			for (unsigned i = 0; i < 2; i++)
				if (csm_dmc_raw_pread(f.d, CSM_META, &lu[i], 1,
				                      (csm_dmc_imd_sector(layout, g) + i) * SEC) !=
				    1)
					lu[i] = 0;
			which = csm_dmc_older(lu[0], lu[1]) == 0 ? 1 : 0;
		}
		snprintf(where, sizeof(where), "imd sector M%d of group %llu (CRC of sector %llu)",
		         which + 1, (unsigned long long)g, (unsigned long long)s);
		rc = flip(&f, CSM_META,
		          (csm_dmc_imd_sector(layout, g) + (uint64_t)which) * SEC +
		                  CSM_DMC_OFF_TUPLES +
		                  (uint64_t)csm_dmc_index_of(s) * CSM_DMC_TUPLE_SIZE +
		                  CSM_DMC_T_CRC,
		          2, &a, where);
	} else {
		snprintf(where, sizeof(where), "data of sector %llu", (unsigned long long)s);
		rc = flip(&f, CSM_DATA, csm_dmc_data_sector(layout, s) * SEC, SEC, &a, where);
	}
	int crc = cli_dmc_close(&f);
	return rc != EXIT_OK ? rc : crc;
}
