#!/bin/sh
# run.sh - builds and runs corio's libFuzzer targets (make fuzz).
#
#   sh tests/fuzz/run.sh [--build-only] [target...]     (default: http procpool api)
#
# Environment: FUZZ_SECONDS (per target, default 60), FUZZ_BUILD (default
# build/fuzz), FUZZ_CC (default clang), FUZZ_JOBS (parallel compiles, 2),
# FUZZ_ARGS (more libFuzzer flags). Run from the top of the tree.
#
# The library is compiled from lib/*.c and lib/arch/switch_<arch>.S with
#   -fsanitize=fuzzer-no-link,address,undefined
# into $FUZZ_BUILD/obj (rebuilt when a source or header is newer), each
# target links it with -fsanitize=fuzzer. Each runs FUZZ_SECONDS on a
# working corpus in $FUZZ_BUILD/corpus/<target> (new inputs land there, not
# in the tree), seeded from tests/fuzz/corpus/<target> and
# tests/fuzz/regress/<target>. A crash is written to
# $FUZZ_BUILD/crashes/<target>/; copy it into tests/fuzz/regress/<target>/
# once fixed, so that `make test` replays it (tests/test_fuzz_regress.c).
#
# Without clang or libFuzzer (and no root to install them) it says so and
# exits 0. The exit status is 1 when a target found a crash.

targets=""
build_only=0
for a in "$@"; do
	case $a in
	--build-only) build_only=1 ;;
	*) targets="$targets $a" ;;
	esac
done
[ -n "$targets" ] || targets="http procpool api"
seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_BUILD:-build/fuzz}
cc=${FUZZ_CC:-clang}
jobs=${FUZZ_JOBS:-2}

if ! sh tools/deps.sh clang libclang-rt-14-dev; then
	echo "fuzz: clang and libFuzzer are not installed (see above): skipping the fuzzers" >&2
	exit 0
fi
mkdir -p "$out/obj/arch" || exit 2
if ! command -v "$cc" >/dev/null 2>&1 ||
	! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
	"$cc" -x c -fsanitize=fuzzer,address -o "$out/probe" - >/dev/null 2>&1; then
	echo "fuzz: $cc cannot build a libFuzzer program here (no clang, or no libclang-rt-*-dev): skipping the fuzzers" >&2
	exit 0
fi
rm -f "$out/probe"

# __SANITIZE_ADDRESS__ is GCC's name, which lib/ tests to announce every
# stack switch to ASan; clang 14 spells it __has_feature(address_sanitizer).
san="-fsanitize=address,undefined -fno-sanitize-recover=all -D__SANITIZE_ADDRESS__=1"
common="-std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -Iinclude -Ilib $san"
libflags="$common -fsanitize=fuzzer-no-link -fvisibility=hidden -Wall -Wextra -Wno-unused-command-line-argument"

# The library, object by object, only what is out of date.
newest_hdr=$(ls -t include/corio.h lib/*.h lib/arch/*.h 2>/dev/null | head -n 1)
objs=""
pending=""
arch=$($cc -dumpmachine 2>/dev/null | sed 's/-.*//')
[ -f "lib/arch/switch_$arch.S" ] || arch=$(uname -m)
for src in lib/*.c "lib/arch/switch_$arch.S"; do
	obj="$out/obj/$(echo "$src" | sed -e 's|^lib/||' -e 's|\.[cS]$|.o|')"
	objs="$objs $obj"
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_hdr" -nt "$obj" ]; then
		pending="$pending $src:$obj"
	fi
done
failed=0
n=0
for p in $pending; do
	src=${p%%:*}
	obj=${p#*:}
	echo "fuzz: $cc $src"
	$cc $libflags -c "$src" -o "$obj" &
	n=$((n + 1))
	if [ $n -ge "$jobs" ]; then
		wait || failed=1
		n=0
	fi
done
wait || failed=1
for o in $objs; do [ -f "$o" ] || failed=1; done
if [ $failed = 1 ]; then
	echo "fuzz: the library did not build with $cc" >&2
	exit 2
fi

for t in $targets; do
	src=tests/fuzz/fuzz_$t.c
	[ -f "$src" ] || { echo "fuzz: no target $t ($src)" >&2; exit 2; }
	bin=$out/fuzz_$t
	if [ ! -f "$bin" ] || [ "$src" -nt "$bin" ] || [ -n "$(find tests/fuzz tools -name '*.h' -newer "$bin")" ] ||
		[ -n "$(for o in $objs; do [ "$o" -nt "$bin" ] && echo x; done)" ]; then
		echo "fuzz: $cc $src"
		$cc $common -fsanitize=fuzzer -Wall -Wextra -Werror -o "$bin" "$src" $objs \
		    -luring -lpthread || exit 2
	fi
done
[ $build_only = 1 ] && exit 0

summary=""
crashed=0
for t in $targets; do
	corpus=$out/corpus/$t
	crashes=$out/crashes/$t
	log=$out/$t.log
	mkdir -p "$corpus" "$crashes"
	echo "== fuzz_$t: $seconds s (corpus $corpus, log $log)"
	# -timeout: one input runs in well under 100 ms; 10 s is a hang.
	# The API programs are worth their length at once (48 operations
	# take a few hundred bytes): no slow growth of the length limit.
	extra=""
	[ "$t" = api ] && extra="-max_len=1024 -len_control=0"
	# (git keeps no empty directory: a target without regressions yet has
	# no tests/fuzz/regress/<target>, and libFuzzer refuses a missing one.)
	seeds="tests/fuzz/corpus/$t"
	[ -d "tests/fuzz/regress/$t" ] && seeds="$seeds tests/fuzz/regress/$t"
	# shellcheck disable=SC2086
	"$out/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix="$crashes/" $extra $FUZZ_ARGS \
	    "$corpus" $seeds >"$log" 2>&1
	rc=$?
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(grep '^stat::number_of_executed_units' "$log" | awk '{print $2}')
	rate=$(grep '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
	if [ $rc = 0 ]; then
		status=ok
	else
		status="CRASH (exit $rc): $(ls -t "$crashes" | head -n 1)"
		crashed=1
		grep -E 'fuzz: invariant|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$log" | head -n 5
	fi
	line=$(printf '%-9s %10s execs %7s exec/s  cov %5s  ft %6s  corpus %-10s %s' \
	    "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status")
	echo "$line"
	summary="$summary
$line"
done
echo "== fuzz summary ($seconds s each)$summary"
if [ $crashed = 1 ]; then
	echo "fuzz: crashes are in $out/crashes/<target>/: replay one with $out/fuzz_<target> FILE;" \
	    "once fixed, copy it to tests/fuzz/regress/<target>/" >&2
	exit 1
fi
exit 0
