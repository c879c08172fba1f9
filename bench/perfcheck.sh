#!/bin/sh
# perfcheck.sh - the instruction-count gate behind `make perf-check`.
#
#   sh bench/perfcheck.sh [--update] [--runs K] [--ops a,b,...] PERFCHECK BUDGETS OUTDIR
#
# Runs each op of PERFCHECK (bench/perfcheck.c; `PERFCHECK --list` names
# them with their repetition count) under
#     valgrind --tool=callgrind --collect-atstart=no
# and divides the instructions collected (only the measured loop: the
# program toggles collection around it) by the number of operations the
# program reports. Each figure is compared with its budget in BUDGETS:
# more than PERFCHECK_TOLERANCE percent (default 5) above it fails.
# A table is printed either way. --update rewrites BUDGETS from the
# measured values instead of comparing (make perf-check UPDATE=1).
#
# --runs K measures every op K times and uses the median (default 1: the
# counts are deterministic, see docs/perf.md); the spread is printed.
# The callgrind profiles stay in OUTDIR (callgrind_annotate OUTDIR/OP.1.out
# shows where a regression went).
set -eu

update=0
runs=1
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--update) update=1; shift ;;
	--runs) runs="$2"; shift 2 ;;
	--ops) only="$2"; shift 2 ;;
	--) shift; break ;;
	-*) echo "perfcheck.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
if [ $# -ne 3 ]; then
	echo "usage: perfcheck.sh [--update] [--runs K] [--ops a,b] PERFCHECK BUDGETS OUTDIR" >&2
	exit 2
fi
bin=$1
budgets=$2
out=$3
tol=${PERFCHECK_TOLERANCE:-5}
case "$runs" in '' | *[!0-9]* | 0) echo "perfcheck.sh: bad --runs '$runs'" >&2; exit 2 ;; esac
if [ "$update" = 1 ] && [ -n "$only" ]; then
	echo "perfcheck.sh: --update rewrites every budget: not with --ops" >&2
	exit 2
fi

if ! command -v valgrind >/dev/null 2>&1; then
	echo "perf-check: valgrind is not installed (Debian package: valgrind)" >&2
	exit 1
fi
mkdir -p "$out"

# What the counts depend on besides corio's code: the compiler that built
# it and the libraries its hot paths call into.
toolchain() {
	cc_v=$(${CC:-cc} -dumpfullversion 2>/dev/null || echo '?')
	libc_v=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //' || echo '?')
	uring_v=$(dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null || echo '?')
	vg_v=$(valgrind --version 2>/dev/null | sed 's/^valgrind-//')
	echo "cc $cc_v, glibc $libc_v, liburing $uring_v, valgrind $vg_v, $(uname -m)"
}

# One measurement: prints the instructions per op, with one decimal.
measure() { # op n run
	prof="$out/$1.$3.out"
	log="$out/$1.$3.log"
	rm -f "$prof"
	if ! res=$(timeout "${PERFCHECK_TIMEOUT:-600}" valgrind --tool=callgrind \
		--collect-atstart=no --callgrind-out-file="$prof" \
		"$bin" "$1" "$2" 2>"$log"); then
		echo "perf-check: $1: the run failed; valgrind's log ($log):" >&2
		tail -n 20 "$log" >&2
		return 1
	fi
	ops=$(echo "$res" | sed -n 's/.* ops=\([0-9]*\).*/\1/p')
	ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$prof")
	if [ -z "$ops" ] || [ "$ops" = 0 ] || [ -z "$ir" ]; then
		echo "perf-check: $1: no count (program said '$res', profile $prof)" >&2
		return 1
	fi
	awk -v ir="$ir" -v ops="$ops" 'BEGIN { printf "%.1f\n", ir / ops }'
}

budget_of() { # op -> budget or empty
	[ -f "$budgets" ] || return 0
	awk -v op="$1" '$1 == op && $1 !~ /^#/ { print $2; exit }' "$budgets"
}

ops_list=$("$bin" --list)
results=""   # lines: op measured min max
tc=$(toolchain)
echo "perf-check: instructions per operation, callgrind ($tc)"
for pair in $(echo "$ops_list" | awk '{ print $1 ":" $2 }'); do
	op=${pair%%:*}
	n=${pair#*:}
	if [ -n "$only" ]; then
		case ",$only," in *",$op,"*) ;; *) continue ;; esac
	fi
	vals=""
	i=1
	while [ "$i" -le "$runs" ]; do
		v=$(measure "$op" "$n" "$i") || exit 1
		vals="$vals $v"
		i=$((i + 1))
	done
	# median, min, max
	line=$(echo "$vals" | tr ' ' '\n' | sed '/^$/d' | sort -g | awk -v op="$op" '
		{ v[NR] = $1 }
		END {
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %.1f %.1f %.1f\n", op, med, v[1], v[NR]
		}')
	results="$results$line
"
done

if [ "$update" = 1 ]; then
	tmp="$budgets.tmp.$$"
	{
		echo "# corio perf-check budgets: instructions per operation, counted by"
		echo "# valgrind --tool=callgrind (bench/perfcheck.c, bench/perfcheck.sh)."
		echo "# These are the measured values, with no slack: make perf-check fails"
		echo "# when an op costs more than ${tol}% above its line. Regenerate with"
		echo "# make perf-check UPDATE=1 only as docs/perf.md says (a deliberate"
		echo "# change, or a new toolchain); say why in the commit."
		echo "# measured with: $tc"
		echo "#"
		echo "# op         instructions/op"
		printf '%s' "$results" | awk 'NF { printf "%-12s %s\n", $1, $2 }'
	} >"$tmp"
	mv "$tmp" "$budgets"
	echo "perf-check: wrote $budgets"
fi

recorded_tc=$(sed -n 's/^# measured with: //p' "$budgets" 2>/dev/null || true)

fail=0
printf '\n%-12s %12s %12s %9s  %s\n' "op" "budget" "measured" "change" "status"
printf '%s' "$results" | {
	fail=0
	msgs=""
	while read -r op med lo hi; do
		[ -n "$op" ] || continue
		b=$(budget_of "$op")
		spread=""
		if [ "$runs" -gt 1 ]; then
			spread=$(awk -v lo="$lo" -v hi="$hi" -v m="$med" \
				'BEGIN { printf " (runs %.1f..%.1f, spread %.2f%%)", lo, hi, (m > 0 ? 100 * (hi - lo) / m : 0) }')
		fi
		if [ -z "$b" ]; then
			printf '%-12s %12s %12s %9s  %s\n' "$op" "-" "$med" "-" "NO BUDGET$spread"
			msgs="${msgs}perf-check: FAIL: op '$op' has no budget in $budgets (make perf-check UPDATE=1)
"
			fail=1
			continue
		fi
		verdict=$(awk -v b="$b" -v m="$med" -v t="$tol" 'BEGIN {
			pct = b > 0 ? 100 * (m - b) / b : 0
			st = pct > t ? "FAIL" : (pct < -t ? "ok (faster: lower the budget)" : "ok")
			printf "%+.2f%% %s\n", pct, st }')
		pct=${verdict%% *}
		st=${verdict#* }
		printf '%-12s %12s %12s %9s  %s%s\n' "$op" "$b" "$med" "$pct" "$st" "$spread"
		if [ "$st" = FAIL ]; then
			msgs="${msgs}perf-check: FAIL: $op costs $med instructions/op, budget $b ($pct, tolerance ${tol}%)
"
			fail=1
		fi
	done
	[ -z "$msgs" ] || printf '\n%s' "$msgs" >&2
	exit $fail
} || fail=1

if [ -n "$recorded_tc" ] && [ "$recorded_tc" != "$tc" ]; then
	echo "perf-check: note: budgets were measured with: $recorded_tc" >&2
	echo "perf-check: note: this machine has:            $tc" >&2
	echo "perf-check: note: counts shift with the compiler and libraries (docs/perf.md)" >&2
fi
if [ "$fail" != 0 ]; then
	echo "perf-check: FAILED (profiles in $out; callgrind_annotate $out/<op>.1.out)" >&2
	exit 1
fi
echo "perf-check: passed (tolerance ${tol}%)"
