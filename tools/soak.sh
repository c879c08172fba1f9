#!/bin/sh
# soak.sh - corio-echo and corio-http under corio-load, with chaos on both
# sides, for a while; checks that nothing went wrong and nothing grew.
#
#   sh tools/soak.sh [--seconds N] [--conns C] [--build DIR] [--seed S] [--out DIR]
#   (the seed also from SOAK_SEED; default: the time)
#
# `make soak` runs it (SOAK_SECONDS, default 120; SOAK_CONNS, default 2000
# per server) and `make soak-quick` runs a short one for CI (10 s, 300
# connections). docs/soak.md describes the run and the reasons behind each
# threshold.
#
# Both servers run on 2 loops (--loops 2) with --chaos (some connections'
# tasks cancelled at random times, every request under a random deadline),
# pinned to CPU 0; one corio-load per server, pinned to CPU 1 (taskset, when
# there are two CPUs), keeps C connections open on 127.0.0.1 that reset,
# half-close and stall at random, and verifies every byte (echo: each
# connection's own pseudo-random stream; http: GET /echo/<token>, the body
# must be the token). The servers' RSS (VmRSS) and open fds (/proc/PID/fd)
# are sampled every SAMPLE_S seconds.
#
# It fails (exit 1) on any of: an error corio-load counts (a wrong byte, a
# wrong status, a timeout, a reset or an EOF the server did not mean, a
# connect failure), a connection closed by the server between requests,
# more connections dropped than the server says it dropped, an unexpected
# error counted by a server, RSS or fds grown between the first and the last
# quarter of the run beyond the tolerance, fds not back to where they were
# before the run once the connections have drained, a server not exiting 0
# within 10 s of SIGTERM. Every wait below is bounded.

set -u

seconds=120
conns=2000
build=build
seed=${SOAK_SEED:-$(date +%s)}
out=
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	-h | --help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "soak: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $seconds in '' | *[!0-9]*) echo "soak: --seconds wants a whole number" >&2; exit 2 ;; esac
case $conns in '' | *[!0-9]*) echo "soak: --conns wants a whole number" >&2; exit 2 ;; esac
case $seed in '' | *[!0-9]*) echo "soak: --seed wants a number" >&2; exit 2 ;; esac
[ "$seconds" -ge 4 ] || { echo "soak: --seconds wants at least 4" >&2; exit 2; }
[ "$conns" -ge 1 ] && [ "$conns" -le 10000 ] || { echo "soak: --conns wants 1..10000" >&2; exit 2; }
[ "$seed" -gt 0 ] || seed=1

bin=$build/bin
for t in corio-echo corio-http corio-load; do
	[ -x "$bin/$t" ] || { echo "soak: $bin/$t is not built (make tools)" >&2; exit 2; }
done
[ -n "$out" ] || out=$build/soak
mkdir -p "$out" || exit 2
rm -f "$out"/*.pid "$out"/*.out "$out"/*.err "$out"/*.json "$out"/*.samples

# Thresholds (docs/soak.md says why these).
RSS_PCT=10         # RSS: the last quarter's peak within +10% ...
RSS_SLACK_KB=4096  # ... + 4 MiB of the first quarter's peak
FD_PCT=1           # fds: the last quarter's mean within +1% ...
FD_SLACK=8         # ... + 8 of the first quarter's peak
SAMPLE_S=0.5
DRAIN_S=15         # connections must have drained (fds back) within this
STOP_S=10          # a server must exit within this of SIGTERM

# A sanitized build (make soak SANITIZE=address,undefined): ASan's
# quarantine keeps up to 256 MiB of freed memory, which would read as RSS
# growth; a small one keeps RSS meaningful (and still catches most
# use-after-free). Harmless for a plain build.
: "${ASAN_OPTIONS:=quarantine_size_mb=4:thread_local_quarantine_size_kb=64}"
export ASAN_OPTIONS

# Chaos: the servers' and the clients'.
SRV_CHAOS="--chaos $seed --cancel-rate 0.02 --cancel-ms 2000 --deadline-ms 50 --slow-rate 0.005"
LOAD_CHAOS="--seed $seed --server-chaos --abort-rate 0.001 --half-close-rate 0.001 --stall-rate 0.002 --stall-ms 300 --timeout-ms 10000 --pipeline 2"

# Every fd the hard limit allows: each process holds a socket per
# connection, and a little more.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$(ulimit -n)" != "$hard" ]; then
	ulimit -n "$hard" 2>/dev/null || true
fi
soft=$(ulimit -n)
if [ "$soft" != unlimited ] && [ $((conns + 256)) -gt "$soft" ]; then
	conns=$((soft - 256))
	[ "$conns" -ge 1 ] || { echo "soak: the fd limit ($soft) is too low" >&2; exit 2; }
	echo "soak: the fd limit is $soft: $conns connections per server"
fi

# Servers on CPU 0, the load on CPU 1.
srv_cpu=
load_cpu=
if command -v taskset >/dev/null 2>&1 && [ "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)" -ge 2 ]; then
	srv_cpu="taskset -c 0"
	load_cpu="taskset -c 1"
fi

pids=""
cleanup() {
	for p in $pids; do
		kill -KILL "$p" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# start NAME CMD...: runs CMD in the background, its pid in $out/NAME.pid,
# stdout in NAME.out, stderr in NAME.err.
start() {
	name=$1
	shift
	sh -c 'echo $$ >"$0"; exec "$@"' "$out/$name.pid" "$@" >"$out/$name.out" 2>"$out/$name.err" &
	i=0
	while [ ! -s "$out/$name.pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	p=$(cat "$out/$name.pid" 2>/dev/null)
	[ -n "$p" ] || { echo "soak: $name did not start" >&2; exit 1; }
	pids="$pids $p"
}

# port NAME: the port from NAME's "listening on" line (waits up to 10 s).
port_of() {
	i=0
	while [ $i -lt 200 ]; do
		l=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$out/$1.out" 2>/dev/null)
		[ -n "$l" ] && { echo "$l"; return 0; }
		kill -0 "$(cat "$out/$1.pid")" 2>/dev/null || break
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# The servers: without --seconds limits of their own beyond a safety net.
life=$((seconds + 120))
start echo $srv_cpu "$bin/corio-echo" --port 0 --loops 2 --stats --seconds "$life" $SRV_CHAOS
start http $srv_cpu "$bin/corio-http" --port 0 --loops 2 --stats --seconds "$life" \
	--max-conns $((conns + 1000)) $SRV_CHAOS
echo_pid=$(cat "$out/echo.pid")
http_pid=$(cat "$out/http.pid")
echo_port=$(port_of echo) || { echo "soak: corio-echo did not listen:"; cat "$out/echo.err"; exit 1; }
http_port=$(port_of http) || { echo "soak: corio-http did not listen:"; cat "$out/http.err"; exit 1; }
sleep 0.5
echo_fd0=$(fds_of "$echo_pid")
http_fd0=$(fds_of "$http_pid")
echo_rss0=$(rss_of "$echo_pid")
http_rss0=$(rss_of "$http_pid")

echo "soak: ${seconds} s, seed $seed, $conns connections to each of corio-echo :$echo_port and" \
	"corio-http :$http_port (2 loops each${srv_cpu:+, CPU 0}; corio-load${load_cpu:+ on CPU 1})"

start load_echo $load_cpu "$bin/corio-load" echo --port "$echo_port" --conns "$conns" \
	--seconds "$seconds" --size 1 --size-max 4096 --json $LOAD_CHAOS
start load_http $load_cpu "$bin/corio-load" http --port "$http_port" --conns "$conns" \
	--seconds "$seconds" --echo-path --json $LOAD_CHAOS
le_pid=$(cat "$out/load_echo.pid")
lh_pid=$(cat "$out/load_http.pid")

# Sample until both loads have ended (bounded: the run, plus time to
# connect and to report).
: >"$out/echo.samples"
: >"$out/http.samples"
t0=$(date +%s)
limit=$((seconds + 90))
while kill -0 "$le_pid" 2>/dev/null || kill -0 "$lh_pid" 2>/dev/null; do
	now=$(($(date +%s) - t0))
	if [ $now -gt $limit ]; then
		echo "soak: corio-load still runs after $limit s: killed" >&2
		kill -KILL "$le_pid" "$lh_pid" 2>/dev/null
		break
	fi
	echo "$(rss_of "$echo_pid") $(fds_of "$echo_pid")" >>"$out/echo.samples"
	echo "$(rss_of "$http_pid") $(fds_of "$http_pid")" >>"$out/http.samples"
	sleep $SAMPLE_S
done
wait "$le_pid" 2>/dev/null
le_rc=$?
wait "$lh_pid" 2>/dev/null
lh_rc=$?

# Drained: every connection gone, the fds back to what they were.
i=0
while [ $i -lt $((DRAIN_S * 10)) ]; do
	[ "$(fds_of "$echo_pid")" -le "$echo_fd0" ] && [ "$(fds_of "$http_pid")" -le "$http_fd0" ] && break
	sleep 0.1
	i=$((i + 1))
done
echo_fd1=$(fds_of "$echo_pid")
http_fd1=$(fds_of "$http_pid")
echo_rss1=$(rss_of "$echo_pid")
http_rss1=$(rss_of "$http_pid")

# Stop: SIGTERM, exit 0 within STOP_S (both at once). A server that has
# exited is a zombie until waited for: /proc/PID/stat says Z.
alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
kill -TERM "$echo_pid" "$http_pid" 2>/dev/null
i=0
while { alive "$echo_pid" || alive "$http_pid"; } && [ $i -lt $((STOP_S * 10)) ]; do
	sleep 0.1
	i=$((i + 1))
done
for s in echo http; do
	eval "p=\$${s}_pid"
	if alive "$p"; then
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		eval "${s}_rc='still running ${STOP_S} s after SIGTERM'"
	else
		wait "$p" 2>/dev/null
		eval "${s}_rc=$?"
	fi
done
pids=""
cp "$out/load_echo.out" "$out/echo.json" 2>/dev/null
cp "$out/load_http.out" "$out/http.json" 2>/dev/null

# ------------------------------------------------------------------------
# The table and the verdict
# ------------------------------------------------------------------------

# jnum FILE KEY: a number from corio-load's JSON (empty if absent).
jnum() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" | head -n 1; }
# snum FILE TEXT: the number after TEXT on the server's "total" line.
snum() { grep '^\(corio-echo: \)\{0,1\}total' "$1" | sed -n "s/.*$2\([0-9][0-9]*\).*/\1/p" | head -n 1; }
# quarters FILE: "first_mean first_max last_mean last_max" of column $2.
quarters() {
	awk -v col="$2" '{ v[NR] = $col } END {
		n = NR; q = int(n / 4); if (q < 1) q = 1
		fs = 0; fm = 0; for (i = 1; i <= q; i++) { fs += v[i]; if (v[i] > fm) fm = v[i] }
		ls = 0; lm = 0; for (i = n - q + 1; i <= n; i++) { ls += v[i]; if (v[i] > lm) lm = v[i] }
		printf "%.0f %d %.0f %d %d\n", fs / q, fm, ls / q, lm, n }' "$1"
}

fail=0
problems=""
bad() { fail=1; problems="$problems
  - $*"; }

for s in echo http; do
	f=$out/$s.json
	case $s in echo) rc=$le_rc ;; *) rc=$lh_rc ;; esac
	[ -s "$f" ] && grep -q '"requests"' "$f" || { bad "$s: corio-load printed no report (exit $rc): $(head -c 300 "$out/load_$s.err")"; continue; }
	[ "$rc" = 0 ] || bad "$s: corio-load exited $rc: $(head -c 400 "$out/load_$s.err" | tr '\n' ' ')"
	[ "$(jnum "$f" errors)" = 0 ] || bad "$s: corio-load counted $(jnum "$f" errors) unexpected error(s)"
	[ "$(jnum "$f" requests)" -gt 0 ] 2>/dev/null || bad "$s: no request completed"
	[ "$(jnum "$f" bytes_verified)" -gt 0 ] 2>/dev/null || bad "$s: no byte verified"
	[ "$(jnum "$f" server_closes)" = 0 ] || bad "$s: the server closed $(jnum "$f" server_closes) connection(s) between requests"
done

echo_cancels=$(snum "$out/echo.out" 'chaos cancels ')
echo_ddrops=$(snum "$out/echo.out" 'chaos deadline drops ')
echo_unexp=$(snum "$out/echo.out" 'unexpected errors ')
http_cancels=$(snum "$out/http.out" 'chaos_cancels=')
http_d504=$(snum "$out/http.out" 'deadline_504=')
http_unexp=$(snum "$out/http.out" 'unexpected=')
echo_drops=$(( ${echo_cancels:-0} + ${echo_ddrops:-0} ))
http_drops=${http_cancels:-0}

for s in echo http; do
	eval "u=\${${s}_unexp:-x}; rc=\$${s}_rc; drops=\$${s}_drops; fd0=\$${s}_fd0; fd1=\$${s}_fd1"
	[ "$u" = 0 ] || bad "$s: the server counted ${u} unexpected error(s) (or printed no stats): $(head -c 400 "$out/$s.err" | tr '\n' ' ')"
	[ "$rc" = 0 ] || bad "$s: the server exited '$rc' after SIGTERM: $(tail -c 400 "$out/$s.err" | tr '\n' ' ')"
	cd=$(jnum "$out/$s.json" dropped)
	[ "${cd:-0}" -le "$drops" ] || bad "$s: corio-load saw $cd connection(s) dropped, the server dropped $drops"
	[ "$fd1" -le $((fd0 + fd0 / 100)) ] || bad "$s: $fd1 fds open after the connections drained, $fd0 before the run"
	set -- $(quarters "$out/$s.samples" 1)
	r_fm=$1 r_fx=$2 r_lm=$3 r_lx=$4 nsamp=$5
	set -- $(quarters "$out/$s.samples" 2)
	f_fm=$1 f_fx=$2 f_lm=$3 f_lx=$4
	eval "${s}_r='$r_fm $r_fx $r_lm $r_lx' ${s}_f='$f_fm $f_fx $f_lm $f_lx' ${s}_n=$nsamp"
	[ "$nsamp" -ge 4 ] || bad "$s: only $nsamp samples"
	rlim=$((r_fx + r_fx * RSS_PCT / 100 + RSS_SLACK_KB))
	[ "$r_lx" -le "$rlim" ] || bad "$s: RSS grew: peak $r_fx KiB in the first quarter, $r_lx KiB in the last (limit $rlim)"
	flim=$((f_fx + f_fx * FD_PCT / 100 + FD_SLACK))
	[ "$f_lm" -le "$flim" ] || bad "$s: fds grew: peak $f_fx in the first quarter, mean $f_lm in the last (limit $flim)"
done

row() { printf '  %-40s %22s %22s\n' "$1" "$2" "$3"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%+.1f%%", 100 * (b - a) / a; else print "-" }'; }
set -- $echo_r; e_rfm=$1 e_rfx=$2 e_rlm=$3 e_rlx=$4
set -- $http_r; h_rfm=$1 h_rfx=$2 h_rlm=$3 h_rlx=$4
set -- $echo_f; e_ffm=$1 e_ffx=$2 e_flm=$3 e_flx=$4
set -- $http_f; h_ffm=$1 h_ffx=$2 h_flm=$3 h_flx=$4
E=$out/echo.json
H=$out/http.json

echo
echo "soak summary: ${seconds} s, seed $seed, $conns connections per server, 2 loops per server"
row "" "corio-echo" "corio-http"
row "requests completed" "$(jnum "$E" requests)" "$(jnum "$H" requests)"
row "requests per second" "$(jnum "$E" req_per_s)" "$(jnum "$H" req_per_s)"
row "bytes verified (echo stream / tokens)" "$(jnum "$E" bytes_verified)" "$(jnum "$H" bytes_verified)"
row "unexpected errors: corio-load" "$(jnum "$E" errors)" "$(jnum "$H" errors)"
row "unexpected errors: server" "${echo_unexp:-?}" "${http_unexp:-?}"
row "closed by the server between requests" "$(jnum "$E" server_closes)" "$(jnum "$H" server_closes)"
row "client aborts (RST) / half-closes" "$(jnum "$E" aborts) / $(jnum "$E" half_closes)" "$(jnum "$H" aborts) / $(jnum "$H" half_closes)"
row "client stalls" "$(jnum "$E" stalls)" "$(jnum "$H" stalls)"
row "reconnects" "$(jnum "$E" reconnects)" "$(jnum "$H" reconnects)"
row "server: tasks cancelled (chaos)" "${echo_cancels:-?}" "${http_cancels:-?}"
row "server: deadlines missed" "${echo_ddrops:-?} (reset)" "${http_d504:-?} (504)"
row "dropped seen by corio-load / by server" "$(jnum "$E" dropped) / $echo_drops" "$(jnum "$H" dropped) / $http_drops"
row "deadline 504s seen by corio-load" "-" "$(jnum "$H" deadline_504)"
row "RSS KiB before the run" "$echo_rss0" "$http_rss0"
row "RSS KiB first quarter: mean / peak" "$e_rfm / $e_rfx" "$h_rfm / $h_rfx"
row "RSS KiB last quarter: mean / peak" "$e_rlm / $e_rlx" "$h_rlm / $h_rlx"
row "RSS peak growth (limit +${RSS_PCT}% + ${RSS_SLACK_KB} KiB)" "$(pct "$e_rfx" "$e_rlx")" "$(pct "$h_rfx" "$h_rlx")"
row "RSS KiB after the connections drained" "$echo_rss1" "$http_rss1"
row "fds first quarter: mean / max" "$e_ffm / $e_ffx" "$h_ffm / $h_ffx"
row "fds last quarter: mean / max" "$e_flm / $e_flx" "$h_flm / $h_flx"
row "fds last mean vs first peak (limit +${FD_PCT}% + ${FD_SLACK})" "$(pct "$e_ffx" "$e_flm")" "$(pct "$h_ffx" "$h_flm")"
row "fds before the run / after draining" "$echo_fd0 / $echo_fd1" "$http_fd0 / $http_fd1"
row "samples (about every ${SAMPLE_S} s)" "$echo_n" "$http_n"
row "exit status after SIGTERM" "$echo_rc" "$http_rc"
echo
if [ $fail = 0 ]; then
	echo "soak: PASS (logs in $out)"
	exit 0
fi
echo "soak: FAIL:$problems"
echo "(logs in $out)"
exit 1
