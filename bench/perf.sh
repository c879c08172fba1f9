#!/bin/sh
# perf.sh - `make perf`: profiles of chosen benchmarks with Linux perf.
#
#   sh bench/perf.sh BUILD OUTDIR [benchmark...]
#
# benchmarks (default: switch spawn echo):
#   switch   build/bin/corio-bench switch (corio's switch and yield, and the
#            Boost.Context / ucontext baselines in the same process)
#   spawn    build/bin/corio-bench spawn
#   echo     build/bin/corio-echo, profiled alone, under load from
#            build/bin/corio-load (50 connections, 64 B, not profiled)
#
# For each: `perf stat` (cycles and instructions where the machine has
# hardware counters; task-clock, context switches, migrations and page
# faults always) and `perf record --call-graph fp`, then in OUTDIR:
#   report.txt        everything below in one text file
#   NAME.stat.txt     perf stat's output
#   NAME.top.txt      every symbol by self time (perf report --stdio)
#   NAME.folded       folded stacks (one line per distinct stack and its count)
#   NAME.svg          a flame graph of them (bench/perfstacks.py)
#   NAME.perf.data    the recording, for perf report -i
# and the check that samples taken on task stacks unwind cleanly to the
# task's first frame (corio__ctx_trampoline).
#
# PERF_SECONDS (default 2) sets each run's length, PERF_FREQ (default 1999)
# the sampling rate, PERF_CALLGRAPH (default fp) perf record's unwinder
# (dwarf also recovers callers of code built without frame pointers, such
# as Debian's liburing, at a much larger cost per sample). If perf is missing, or the kernel does not let this
# user open perf events (kernel.perf_event_paranoid, a container without
# CAP_PERFMON), it says so and exits 0: profiling is not a CI gate.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: perf.sh BUILD OUTDIR [switch|spawn|echo]..." >&2
	exit 2
fi
build=$1
out=$2
shift 2
benches=${*:-switch spawn echo}
secs=${PERF_SECONDS:-2}
freq=${PERF_FREQ:-1999}
callgraph=${PERF_CALLGRAPH:-fp}
here=$(cd "$(dirname "$0")" && pwd)
py=$(command -v python3 || true)

for b in $benches; do
	case "$b" in
	switch | spawn | echo) ;;
	*) echo "perf: unknown benchmark '$b' (switch, spawn, echo)" >&2; exit 2 ;;
	esac
done
case "$secs" in '' | *[!0-9.]*) echo "perf: bad PERF_SECONDS '$secs'" >&2; exit 2 ;; esac
# corio-echo's own run: the load's seconds and time to start, whole seconds.
srv_secs=$(awk -v s="$secs" 'BEGIN { printf "%d", s + 3.999 }')

if ! command -v perf >/dev/null 2>&1 || ! perf --version >/dev/null 2>&1; then
	echo "perf: no usable perf here (Debian package: linux-perf); nothing profiled"
	exit 0
fi
mkdir -p "$out"
rm -f "$out"/*.txt "$out"/*.folded "$out"/*.svg "$out"/*.perf.data "$out"/*.perf.data.old

# May this user open perf events at all?
if ! perf stat -e task-clock -o "$out/probe.txt" -- true >/dev/null 2>"$out/probe.err"; then
	echo "perf: perf_event_open is not permitted here: $(grep -v '^ *$\|^Error:$' "$out/probe.err" | head -n 1)"
	echo "perf: kernel.perf_event_paranoid = $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?');" \
		"run as root or lower it (sysctl kernel.perf_event_paranoid=1); nothing profiled"
	exit 0
fi
rm -f "$out/probe.txt" "$out/probe.err"

# Hardware counters: absent in most VMs (no PMU passed through).
hw_events=""
perf stat -x, -e cycles,instructions -o "$out/hw.txt" -- true >/dev/null 2>&1 || true
if [ -f "$out/hw.txt" ] && ! grep -q "not supported\|not counted" "$out/hw.txt" &&
	grep -q "cycles" "$out/hw.txt"; then
	hw_events="cycles,instructions,"
	hw_note="hardware counters available: cycles and instructions counted"
else
	hw_note="hardware counters not supported on this machine (no PMU, e.g. a VM): software events only (task-clock, context-switches, cpu-migrations, page-faults); samples use cpu-clock"
fi
rm -f "$out/hw.txt"
stat_events="${hw_events}task-clock,context-switches,cpu-migrations,page-faults"

report="$out/report.txt"
{
	echo "corio perf report"
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
	echo "perf: $(perf --version)"
	echo "events: $hw_note"
	echo "sampling: perf record -F $freq --call-graph $callgraph; ${secs} s per benchmark"
	echo
} >"$report"

# The command for one benchmark, as "program args..." (echo is special).
bench_cmd() {
	case "$1" in
	switch | spawn) echo "$build/bin/corio-bench $1 --seconds $secs --reps 1" ;;
	*) return 1 ;;
	esac
}

# Runs the echo server under $@ (a perf command line ending in --) while
# corio-load drives it from outside the profile.
run_echo() {
	portfile="$out/echo.port"
	rm -f "$portfile"
	"$@" "$build/bin/corio-echo" --port 0 --seconds "$srv_secs" >"$portfile" 2>"$out/echo.server.err" &
	spid=$!
	port=""
	i=0
	while [ $i -lt 100 ]; do
		port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$portfile" 2>/dev/null | head -n 1)
		[ -n "$port" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$port" ]; then
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		echo "perf: corio-echo did not start:" >&2
		cat "$out/echo.server.err" >&2
		return 1
	fi
	"$build/bin/corio-load" echo --port "$port" --seconds "$secs" --conns 50 --size 64 \
		>"$out/echo.load.txt" 2>&1 || true
	wait "$spid" || true
	rm -f "$portfile"
}

total_task=0
total_clean=0
for b in $benches; do
	echo "perf: $b: perf stat ..."
	if [ "$b" = echo ]; then
		run_echo perf stat -e "$stat_events" -o "$out/$b.stat.txt" --
	else
		# shellcheck disable=SC2046
		perf stat -e "$stat_events" -o "$out/$b.stat.txt" -- $(bench_cmd "$b") >"$out/$b.run.txt" 2>&1
	fi
	echo "perf: $b: perf record ..."
	if [ "$b" = echo ]; then
		run_echo perf record -q -F "$freq" --call-graph "$callgraph" -o "$out/$b.perf.data" --
	else
		# shellcheck disable=SC2046
		perf record -q -F "$freq" --call-graph "$callgraph" -o "$out/$b.perf.data" -- $(bench_cmd "$b") \
			>>"$out/$b.run.txt" 2>&1
	fi
	# Self time per symbol, by overhead (the IPC columns perf adds are
	# empty without hardware counters: dropped), then per shared object.
	perf report -i "$out/$b.perf.data" --stdio --no-children --sort comm,dso,symbol -g none \
		--percent-limit 0.01 2>/dev/null | grep -v '^$' | sed 's/ *- *- *$//' >"$out/$b.top.txt" || true
	perf report -i "$out/$b.perf.data" --stdio --no-children --sort dso -g none 2>/dev/null |
		grep -v '^#\|^$' | sed 's/ *- *- *$//' >"$out/$b.dso.txt" || true
	event=$(perf evlist -i "$out/$b.perf.data" 2>/dev/null | head -n 1)
	perf script -i "$out/$b.perf.data" -F comm,tid,ip,sym,dso 2>/dev/null >"$out/$b.script.txt" || true
	check="(python3 missing: no folded stacks, flame graph or task-stack check)"
	if [ -n "$py" ]; then
		"$py" "$here/perfstacks.py" fold <"$out/$b.script.txt" >"$out/$b.folded"
		"$py" "$here/perfstacks.py" svg "corio perf: $b" <"$out/$b.folded" >"$out/$b.svg"
		check=$("$py" "$here/perfstacks.py" check <"$out/$b.script.txt")
		n=$(echo "$check" | sed -n 's/.*on task stacks: \([0-9]*\);.*/\1/p')
		c=$(echo "$check" | sed -n 's/.*corio__ctx_trampoline: \([0-9]*\) .*/\1/p')
		total_task=$((total_task + ${n:-0}))
		total_clean=$((total_clean + ${c:-0}))
	fi
	rm -f "$out/$b.script.txt"
	{
		echo "================================================================"
		if [ "$b" = echo ]; then
			echo "== echo: $build/bin/corio-echo under corio-load (50 conns, 64 B, ${secs} s)"
			sed -n '/req\/s\|requests/p' "$out/echo.load.txt" | head -n 3
		else
			echo "== $b: $(bench_cmd "$b")"
		fi
		echo "================================================================"
		echo "-- perf stat"
		grep -v '^#\|^$' "$out/$b.stat.txt" || true
		echo "-- where the samples ($event) fall, by shared object"
		head -n 8 "$out/$b.dso.txt"
		echo "-- top symbols (self time; perf report --no-children --sort comm,dso,symbol)"
		grep -v '^#' "$out/$b.top.txt" | head -n 25
		echo "-- top user-space symbols"
		grep -v '^#' "$out/$b.top.txt" | grep '\[\.\]' | head -n 15
		echo "-- task stacks (frame-pointer unwinding through corio's task stacks)"
		echo "$check"
		echo "-- files: $b.folded (folded stacks), $b.svg (flame graph), $b.perf.data"
		echo
	} >>"$report"
	rm -f "$out/$b.dso.txt"
done

{
	echo "================================================================"
	if [ "$total_task" -gt 0 ]; then
		echo "task stacks overall: $total_clean of $total_task samples on task stacks end at corio__ctx_trampoline" \
			"($(awk -v c="$total_clean" -v n="$total_task" 'BEGIN { printf "%.1f", 100 * c / n }')%)"
	else
		echo "task stacks overall: no sample on a task stack"
	fi
} >>"$report"

cat "$report"
echo
echo "perf: report in $report; flame graphs: $(for b in $benches; do printf '%s ' "$out/$b.svg"; done)"
