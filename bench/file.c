/*
 * file.c - the "file" family: 4 KiB random reads at queue depth 32 from a
 * 1 GiB file, corio-fileread against fio with one job.
 *
 *   file.4k.randread.cache.fio-io_uring   the file in the page cache; fio's
 *                                         io_uring engine, iodepth 32
 *   file.4k.randread.cache.fio-psync      the same against fio's psync engine
 *                                         (one pread after another: a cache
 *                                         hit needs no completion round trip)
 *   file.4k.randread.direct.fio-io_uring  O_DIRECT, if the filesystem allows
 *
 * Both programs run pinned to one CPU, interleaved within each rep. The file
 * is made once (build/bench/file.dat) and read whole before the cached rows
 * so it sits in the page cache.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define FILE_SIZE "1g"
#define FILE_CPU  "1"

static bool num_after(const char *js, const char *key, double *out)
{
	const char *p = strstr(js, key);

	if (!p)
		return false;
	p += strlen(key);
	while (*p == ' ' || *p == ':' || *p == '"')
		p++;
	*out = strtod(p, NULL);
	return true;
}

/* argv starts with taskset when there is one. */
static int with_taskset(char **argv, char *taskset, size_t cap)
{
	if (!bench_which("taskset", taskset, cap))
		return 0;
	argv[0] = taskset;
	argv[1] = "-c";
	argv[2] = FILE_CPU;
	return 3;
}

static int run_corio(const char *tool, const char *file, bool direct, double secs, double *iops,
		     char *why, size_t whycap)
{
	char taskset[PATH_MAX], ssec[32], out[4096];
	char *argv[20];
	struct bench_proc p;
	int a = with_taskset(argv, taskset, sizeof(taskset));

	snprintf(ssec, sizeof(ssec), "%.3f", secs);
	argv[a++] = (char *)tool;
	argv[a++] = "--file";
	argv[a++] = (char *)file;
	argv[a++] = "--random";
	argv[a++] = "--block";
	argv[a++] = "4096";
	argv[a++] = "--depth";
	argv[a++] = "32";
	argv[a++] = "--seconds";
	argv[a++] = ssec;
	argv[a++] = "--json";
	if (direct)
		argv[a++] = "--direct";
	argv[a] = NULL;
	if (bench_exec(argv, out, sizeof(out), secs + 60, &p) < 0 || !num_after(out, "\"iops\"", iops)) {
		snprintf(why, whycap, "corio-fileread: %.100s", p.note[0] ? p.note : "no result");
		return -EIO;
	}
	return 0;
}

static int run_fio(const char *fio, const char *file, const char *engine, int depth, bool direct,
		   double secs, double *iops, char *why, size_t whycap)
{
	char taskset[PATH_MAX], a_file[PATH_MAX + 16], a_eng[48], a_depth[32], a_rt[48];
	char out[65536];
	char *argv[24];
	struct bench_proc p;
	int a = with_taskset(argv, taskset, sizeof(taskset));

	snprintf(a_file, sizeof(a_file), "--filename=%s", file);
	snprintf(a_eng, sizeof(a_eng), "--ioengine=%s", engine);
	snprintf(a_depth, sizeof(a_depth), "--iodepth=%d", depth);
	snprintf(a_rt, sizeof(a_rt), "--runtime=%.0fms", secs * 1000);
	argv[a++] = (char *)fio;
	argv[a++] = "--name=corio-bench";
	argv[a++] = a_file;
	argv[a++] = "--rw=randread";
	argv[a++] = "--bs=4k";
	argv[a++] = a_eng;
	argv[a++] = a_depth;
	argv[a++] = "--numjobs=1";
	argv[a++] = "--time_based";
	argv[a++] = a_rt;
	argv[a++] = direct ? "--direct=1" : "--direct=0";
	argv[a++] = "--invalidate=0";
	argv[a++] = "--output-format=json";
	argv[a] = NULL;
	if (bench_exec(argv, out, sizeof(out), secs + 60, &p) < 0) {
		snprintf(why, whycap, "fio: %.100s", p.note);
		return -EIO;
	}
	/* jobs[0].read.iops: the first "iops" after "read". */
	{
		const char *r = strstr(out, "\"read\"");
		if (!r || !num_after(r, "\"iops\"", iops)) {
			snprintf(why, whycap, "fio printed no result");
			return -EIO;
		}
	}
	return 0;
}

static bool direct_ok(const char *file)
{
	int fd = open(file, O_RDONLY | O_DIRECT);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

struct fcase {
	const char        *name;
	const char        *base_name;
	const char        *engine;
	int                depth;
	bool               direct;
	double             target;
	struct bench_value corio, base;
};

int bench_file(const struct bench_opts *o)
{
	char tool[PATH_MAX], fio[PATH_MAX], file[PATH_MAX], taskset[PATH_MAX];
	char why[BENCH_NOTE_LEN];
	double secs = o->seconds * 2 < 1 ? 1 : o->seconds * 2;
	bool have_fio = bench_which("fio", fio, sizeof(fio));
	struct fcase cs[] = {
		{ .name = "file.4k.randread.cache.fio-io_uring", .base_name = "fio io_uring qd32",
		  .engine = "io_uring", .depth = 32, .direct = false, .target = 1.0 },
		{ .name = "file.4k.randread.cache.fio-psync", .base_name = "fio psync",
		  .engine = "psync", .depth = 1, .direct = false, .target = 0.9 },
		{ .name = "file.4k.randread.direct.fio-io_uring", .base_name = "fio io_uring qd32",
		  .engine = "io_uring", .depth = 32, .direct = true, .target = 0.95 },
	};
	size_t ncs = sizeof(cs) / sizeof(cs[0]);
	bool direct;

	fprintf(stderr, "file: corio-fileread vs fio, 4 KiB random reads ...\n");
	bench_report_legend(
		"file.4k.randread.*: 4 KiB random reads of a 1 GiB file, corio-fileread with 32 "
		"tasks vs fio with one job; .cache: the file in the page cache, .direct: O_DIRECT. "
		"IOPS, higher is better (targets: cache >= 1.0x fio io_uring, stretch >= 0.9x fio "
		"psync; direct >= 0.95x fio io_uring).");
	if (!bench_sibling("corio-fileread", tool, sizeof(tool))) {
		fprintf(stderr, "file: corio-fileread not built\n");
		return -ENOENT;
	}
	snprintf(file, sizeof(file), "build/bench/file.dat");
	mkdir("build", 0755);
	mkdir("build/bench", 0755);
	{
		/* Make (or complete) the file, and read it once into the cache. */
		char *argv[16], out[4096];
		struct bench_proc p;
		int a = with_taskset(argv, taskset, sizeof(taskset));
		argv[a++] = tool;
		argv[a++] = "--file";
		argv[a++] = file;
		argv[a++] = "--create";
		argv[a++] = FILE_SIZE;
		argv[a++] = "--block";
		argv[a++] = "1m";
		argv[a++] = "--seconds";
		argv[a++] = "3";
		argv[a++] = "--json";
		argv[a] = NULL;
		if (bench_exec(argv, out, sizeof(out), 300, &p) < 0) {
			fprintf(stderr, "file: cannot make %s: %s\n", file, p.note);
			return -EIO;
		}
	}
	direct = direct_ok(file);
	/* Each sample costs seconds of a server under load: at most 3 reps
	 * keep `make bench` within its five minutes. */
	int reps = o->reps < 3 ? o->reps : 3;

	for (int rep = 0; rep < reps; rep++) {
		for (size_t i = 0; i < ncs; i++) {
			struct fcase *c = &cs[i];
			double v;

			if (c->direct && !direct) {
				if (rep == 0) {
					bench_value_fail(&c->corio, BENCH_UNAVAILABLE,
							 "no O_DIRECT on this filesystem");
					bench_value_fail(&c->base, BENCH_UNAVAILABLE,
							 "no O_DIRECT on this filesystem");
				}
				continue;
			}
			/* Alternate which goes first. */
			for (int k = 0; k < 2; k++) {
				bool corio_turn = ((k + rep) % 2) == 0;
				why[0] = '\0';
				if (corio_turn) {
					if (c->corio.status != BENCH_OK)
						continue; /* failed before: say so once */
					if (run_corio(tool, file, c->direct, secs, &v, why, sizeof(why)) == 0)
						bench_value_add(&c->corio, v);
					else
						bench_value_fail(&c->corio, BENCH_FAILED, "%s", why);
				} else if (c->base.status != BENCH_OK) {
					continue;
				} else if (!have_fio) {
					bench_value_fail(&c->base, BENCH_UNAVAILABLE,
							 "baseline unavailable: fio not installed");
				} else if (run_fio(fio, file, c->engine, c->depth, c->direct, secs, &v, why,
						   sizeof(why)) == 0) {
					bench_value_add(&c->base, v);
				} else {
					bench_value_fail(&c->base, BENCH_FAILED, "%s", why);
				}
			}
		}
	}
	for (size_t i = 0; i < ncs; i++) {
		struct bench_row r;
		bench_row_init(&r, "file", cs[i].name, "IOPS", cs[i].base_name);
		r.higher_is_better = true;
		r.corio = cs[i].corio;
		r.base = cs[i].base;
		bench_row_target(&r, BENCH_TARGET_RATIO_MAX, cs[i].target);
		bench_report_add(&r);
	}
	return 0;
}
