/*
 * corio-fileread - file read benchmark on corio, in the manner of fio.
 *
 *   corio-fileread --file PATH [--block 4096] [--depth 32] [--seconds 5]
 *                  [--random] [--direct] [--create SIZE] [--json] [--stats] [--fixed]
 *
 * `depth` tasks read `block` bytes at a time from PATH until the time is up:
 * the queue depth is the number of reads in flight. Sequential mode shares
 * one cursor (each read takes the next block, wrapping at the end); random
 * mode picks block-aligned offsets uniformly. --direct opens with O_DIRECT
 * (buffers are page-aligned). --create SIZE makes or extends PATH to SIZE
 * bytes first (suffixes k, m, g), so a benchmark can bring its own file.
 * --fixed reads through a registered file into registered buffers.
 *
 * Output: one line `iops=N mib_s=N p50_us=N p99_us=N` (what scripts parse),
 * then a human summary; --json prints one JSON object instead of both.
 * Latency is per read, from submission by its task to its completion.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <corio.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hist.h"

struct opts {
	const char *file;
	size_t      block;
	unsigned    depth;
	double      seconds;
	int         random;
	int         direct;
	uint64_t    create;
	int         json;
	int         stats;
	int         fixed;
};

struct run {
	const struct opts *o;
	int       fd;
	uint64_t  size;      /* bytes of the file, a multiple of block */
	uint64_t  cursor;    /* sequential: next offset */
	uint64_t  end_ns;
	uint64_t  ops, bytes, errors;
	char     *arena;     /* --fixed: every task's buffer, registered once */
	int       first_err;
	hist      lat;
	corio_stats st;
};

struct reader {
	struct run *run;
	uint64_t    rng;
	unsigned    idx;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: corio-fileread --file PATH [options]\n"
		"  --block N      bytes per read (default 4096; k/m suffixes)\n"
		"  --depth N      reads in flight, one task each (default 32, max 4096)\n"
		"  --seconds S    how long to read (default 5, max 3600)\n"
		"  --random       random block-aligned offsets (default: sequential)\n"
		"  --direct       O_DIRECT (the filesystem must allow it)\n"
		"  --create SIZE  make PATH at least SIZE bytes first (k/m/g suffixes)\n"
		"  --json         one JSON object instead of the text report\n"
		"  --stats        add corio's loop counters\n"
		"  --fixed        registered file and buffers (corio_register_file/_buffers)\n"
		"  --help         this text\n"
		"Prints: iops=N mib_s=N p50_us=N p99_us=N, then a summary.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int reader_task(void *arg)
{
	struct reader *rd = arg;
	struct run *r = rd->run;
	const struct opts *o = r->o;
	uint64_t nblocks = r->size / o->block;
	void *buf;

	if (r->arena)
		buf = r->arena + (size_t)rd->idx * o->block;
	else if (posix_memalign(&buf, 4096, o->block) != 0)
		return -ENOMEM;
	for (;;) {
		uint64_t t0 = corio_now_ns(), off;
		ssize_t n;

		if (t0 >= r->end_ns)
			break;
		if (o->random) {
			off = (xorshift(&rd->rng) % nblocks) * o->block;
		} else {
			off = r->cursor;
			r->cursor = off + o->block >= r->size ? 0 : off + o->block;
		}
		if (r->arena)
			n = corio_read_fixed(r->fd, buf, o->block, (int64_t)off, 0);
		else
			n = corio_read(r->fd, buf, o->block, (int64_t)off);
		if (n < 0) {
			r->errors++;
			if (!r->first_err)
				r->first_err = (int)n;
			if (n == -ECANCELED)
				break;
			continue;
		}
		hist_record(&r->lat, corio_now_ns() - t0);
		r->ops++;
		r->bytes += (uint64_t)n;
	}
	if (!r->arena)
		free(buf);
	return 0;
}

/* Makes the file at least o->create bytes, with non-zero data. */
static int create_file(const struct opts *o)
{
	struct stat sb;
	char *chunk;
	int fd = corio_open(o->file, O_WRONLY | O_CREAT, 0644);
	int r = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		goto out;
	}
	chunk = malloc(1 << 20);
	if (!chunk) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < (1 << 20); i++)
		chunk[i] = (char)(i * 131 + 7);
	for (uint64_t off = (uint64_t)sb.st_size; off < o->create && r >= 0;) {
		size_t n = o->create - off < (1 << 20) ? (size_t)(o->create - off) : (1 << 20);
		ssize_t w = corio_write_all(fd, chunk, n, (int64_t)off, NULL);
		r = w < 0 ? (int)w : 0;
		off += n;
	}
	free(chunk);
out:
	corio_close(fd);
	return r;
}

static int run_main(void *arg)
{
	struct run *r = arg;
	const struct opts *o = r->o;
	struct reader *rd;
	corio_task **ts;
	struct stat sb;
	int err;

	if (o->create && (err = create_file(o)) < 0) {
		fprintf(stderr, "corio-fileread: cannot create %s: %s\n", o->file, strerror(-err));
		return err;
	}
	r->fd = corio_open(o->file, O_RDONLY | (o->direct ? O_DIRECT : 0), 0);
	if (r->fd < 0) {
		fprintf(stderr, "corio-fileread: %s: %s%s\n", o->file, strerror(-r->fd),
			o->direct && r->fd == -EINVAL ? " (no O_DIRECT on this filesystem?)" : "");
		return r->fd;
	}
	if (fstat(r->fd, &sb) < 0 || (uint64_t)sb.st_size < o->block) {
		fprintf(stderr, "corio-fileread: %s is smaller than one block\n", o->file);
		corio_close(r->fd);
		return -EINVAL;
	}
	r->size = (uint64_t)sb.st_size / o->block * o->block;
	if (o->fixed) {
		/* The file and one arena of buffers, registered with the ring. */
		struct iovec iov;
		int h = corio_register_file(r->fd);
		if (h < 0 || posix_memalign((void **)&r->arena, 4096, (size_t)o->depth * o->block)) {
			fprintf(stderr, "corio-fileread: --fixed: %s\n",
				strerror(h < 0 ? -h : ENOMEM));
			corio_close(r->fd);
			return h < 0 ? h : -ENOMEM;
		}
		iov.iov_base = r->arena;
		iov.iov_len = (size_t)o->depth * o->block;
		err = corio_register_buffers(&iov, 1);
		if (err < 0) {
			fprintf(stderr, "corio-fileread: --fixed: cannot register buffers: %s\n",
				strerror(-err));
			free(r->arena);
			corio_close(h);
			corio_close(r->fd);
			return err;
		}
		corio_close(r->fd); /* the table holds the file now */
		r->fd = h;
	}
	rd = calloc(o->depth, sizeof(*rd));
	ts = calloc(o->depth, sizeof(*ts));
	if (!rd || !ts) {
		free(rd);
		free(ts);
		corio_close(r->fd);
		return -ENOMEM;
	}
	r->end_ns = corio_now_ns() + (uint64_t)(o->seconds * 1e9);
	for (unsigned i = 0; i < o->depth; i++) {
		rd[i].run = r;
		rd[i].idx = i;
		rd[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		ts[i] = corio_spawn(reader_task, &rd[i]);
		if (!ts[i]) {
			err = -errno;
			for (unsigned k = 0; k < i; k++)
				corio_cancel(ts[k]);
			corio_gather(ts, i, NULL, CORIO_GATHER_ALL);
			free(rd);
			free(ts);
			corio_close(r->fd);
			return err;
		}
	}
	err = corio_gather(ts, o->depth, NULL, CORIO_GATHER_ALL);
	corio_loop_stats(&r->st);
	free(rd);
	free(ts);
	if (r->arena) {
		corio_unregister_buffers();
		free(r->arena);
	}
	corio_close(r->fd);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },  { "block", required_argument, NULL, 'b' },
		{ "depth", required_argument, NULL, 'd' }, { "seconds", required_argument, NULL, 's' },
		{ "random", no_argument, NULL, 'r' },      { "direct", no_argument, NULL, 'D' },
		{ "create", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "stats", no_argument, NULL, 'S' },       { "help", no_argument, NULL, 'h' },
		{ "fixed", no_argument, NULL, 'F' },
		{ 0, 0, 0, 0 },
	};
	struct opts o = { .block = 4096, .depth = 32, .seconds = 5 };
	static struct run r;
	uint64_t v;
	double secs;
	int c, err;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': o.file = optarg; break;
		case 'b':
			if (parse_size(optarg, &v) < 0 || v == 0 || v > (64u << 20))
				goto bad;
			o.block = (size_t)v;
			break;
		case 'd':
			if (parse_size(optarg, &v) < 0 || v == 0 || v > 4096)
				goto bad;
			o.depth = (unsigned)v;
			break;
		case 's':
			o.seconds = strtod(optarg, NULL);
			if (!(o.seconds > 0 && o.seconds <= 3600))
				goto bad;
			break;
		case 'r': o.random = 1; break;
		case 'D': o.direct = 1; break;
		case 'c':
			if (parse_size(optarg, &o.create) < 0)
				goto bad;
			break;
		case 'j': o.json = 1; break;
		case 'S': o.stats = 1; break;
		case 'F': o.fixed = 1; break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (!o.file || optind != argc)
		goto bad;
	if (o.direct && o.block % 512) {
		fprintf(stderr, "corio-fileread: --direct needs a block that is a multiple of 512\n");
		return 2;
	}
	hist_init(&r.lat);
	r.o = &o;
	err = corio_run(run_main, &r);
	if (err < 0) {
		fprintf(stderr, "corio-fileread: %s\n", strerror(-err));
		return 1;
	}
	secs = o.seconds;
	{
		double iops = (double)r.ops / secs, mibs = (double)r.bytes / secs / (1 << 20);
		double p50 = (double)hist_percentile(&r.lat, 50) / 1e3;
		double p99 = (double)hist_percentile(&r.lat, 99) / 1e3;
		double p999 = (double)hist_percentile(&r.lat, 99.9) / 1e3;
		double mx = (double)r.lat.max / 1e3;
		if (o.json) {
			printf("{\"iops\": %.0f, \"mib_s\": %.1f, \"p50_us\": %.2f, \"p99_us\": %.2f, "
			       "\"p999_us\": %.2f, \"max_us\": %.2f, \"ops\": %" PRIu64
			       ", \"errors\": %" PRIu64 ", \"block\": %zu, \"depth\": %u, "
			       "\"random\": %s, \"direct\": %s, \"syscalls\": %" PRIu64
			       ", \"submits\": %" PRIu64 "}\n",
			       iops, mibs, p50, p99, p999, mx, r.ops, r.errors, o.block, o.depth,
			       o.random ? "true" : "false", o.direct ? "true" : "false",
			       r.st.syscalls, r.st.submits);
		} else {
			printf("iops=%.0f mib_s=%.1f p50_us=%.2f p99_us=%.2f\n", iops, mibs, p50, p99);
			printf("%s: %s %s reads of %zu B, depth %u, %.1f s: %" PRIu64 " reads, "
			       "%.0f IOPS, %.1f MiB/s; latency p50 %.2f us, p99 %.2f us, p99.9 %.2f us, "
			       "max %.2f us; %" PRIu64 " errors\n",
			       o.file, o.random ? "random" : "sequential", o.direct ? "O_DIRECT" : "buffered",
			       o.block, o.depth, secs, r.ops, iops, mibs, p50, p99, p999, mx, r.errors);
			if (o.stats)
				printf("loop: %" PRIu64 " switches, %" PRIu64 " submits, %" PRIu64
				       " completions, %" PRIu64 " syscalls (%.1f reads per syscall)\n",
				       r.st.switches, r.st.submits, r.st.completions, r.st.syscalls,
				       r.st.syscalls ? (double)r.ops / (double)r.st.syscalls : 0.0);
		}
	}
	if (r.errors) {
		fprintf(stderr, "corio-fileread: %" PRIu64 " reads failed, the first with %s\n",
			r.errors, strerror(-r.first_err));
		return 1;
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}
