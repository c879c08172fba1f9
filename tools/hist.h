/*
 * hist.h - a latency histogram in the manner of HdrHistogram, header-only.
 *
 * Values are nanoseconds. Below 128 ns every value has its own bucket;
 * above, each power of two [2^e, 2^(e+1)) is cut into 128 equal
 * sub-buckets, so a bucket is at most 1/128 (0.8%) of the values it holds
 * wide. The top bucket ends past 60 s (HIST_MAX_NS); larger values are
 * counted there, and the exact maximum is kept beside the buckets.
 * 3840 buckets, 30 KiB: one histogram per process, recorded from one
 * thread (a corio loop), so nothing here locks.
 *
 *   hist_record(h, ns)      count one value
 *   hist_merge(into, from)  add one histogram to another
 *   hist_percentile(h, p)   the value at percentile p (0..100): the highest
 *                           value of the bucket it falls in (HdrHistogram's
 *                           "highest equivalent value"), never above the max
 *   hist_mean(h)            the exact mean
 */
#ifndef CORIO_TOOLS_HIST_H
#define CORIO_TOOLS_HIST_H

#include <stdint.h>
#include <string.h>

#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)        /* sub-buckets per power of two */
#define HIST_MAX_NS   60000000000ull               /* 60 s */
#define HIST_TOP_EXP  35                           /* 2^35 ns < 60 s < 2^36 ns */
#define HIST_NBUCKETS (HIST_SUB + (HIST_TOP_EXP - HIST_SUB_BITS + 1) * HIST_SUB)

typedef struct hist {
	uint64_t count;
	uint64_t min;   /* exact; UINT64_MAX while empty */
	uint64_t max;   /* exact */
	double   sum;   /* for the mean; a double never overflows here */
	uint64_t b[HIST_NBUCKETS];
} hist;

static inline void hist_init(hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static inline unsigned hist_index(uint64_t v)
{
	unsigned e;

	if (v > HIST_MAX_NS)
		v = HIST_MAX_NS;
	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	       (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The highest value bucket i holds. */
static inline uint64_t hist_bucket_high(unsigned i)
{
	unsigned g, s, e;

	if (i < HIST_SUB)
		return i;
	g = (i - HIST_SUB) / HIST_SUB;
	s = (i - HIST_SUB) % HIST_SUB;
	e = g + HIST_SUB_BITS;
	return ((uint64_t)1 << e) + ((uint64_t)(s + 1) << (e - HIST_SUB_BITS)) - 1;
}

static inline void hist_record(hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->count++;
	h->sum += (double)ns;
	if (ns > h->max)
		h->max = ns;
	if (ns < h->min)
		h->min = ns;
}

static inline void hist_merge(hist *into, const hist *from)
{
	for (unsigned i = 0; i < HIST_NBUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
	if (from->min < into->min)
		into->min = from->min;
}

/* The value at percentile p (0 < p <= 100); 0 for an empty histogram. */
static inline uint64_t hist_percentile(const hist *h, double p)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	if (p < 0.0)
		p = 0.0;
	/* The rank of the value asked for, 1-based, rounded up. */
	want = (uint64_t)(p / 100.0 * (double)h->count);
	if ((double)want < p / 100.0 * (double)h->count)
		want++;
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = hist_bucket_high(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

static inline double hist_mean(const hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

#endif /* CORIO_TOOLS_HIST_H */
