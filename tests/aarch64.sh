#!/bin/sh
# aarch64.sh - `make test-aarch64`: corio's AArch64 context switch,
# cross-compiled with Debian's gcc-aarch64-linux-gnu and run under qemu-user.
#
#   sh tests/aarch64.sh [OUT_DIR]          (default build/aarch64)
#
# qemu-user does not emulate io_uring, so no loop can run there: this builds
# tests/test_ctx_arch.c with lib/ctx.c and lib/arch/switch_aarch64.S only.
# No AArch64 liburing or cmocka is needed: only liburing's headers, which
# internal.h includes and which are the same on every architecture (the
# host's are used). Four builds run, under qemu's "max" CPU, which has BTI
# and pointer authentication:
#   plain       the default flags;
#   standard    -mbranch-protection=standard: BTI landing pads and return
#               addresses signed with the A key;
#   bti         BTI alone (with PAC, paciasp doubles as a landing pad and
#               would hide a missing `bti c`);
#   pac-b-key   pac-ret+b-key+bti: the B key.
# Each branch-protected build's switch object must carry the GNU property
# note that says so.
# Then, when gdb-multiarch is there, a task's backtrace taken through qemu's
# gdb stub must read gdb_break_here <- gdb_task_fn <- corio__ctx_trampoline
# and end there.
#
# Where the packages cannot be installed (not root, no apt), it says so and
# exits 0: skipped, not failed.
#
# Environment: AARCH64_CC (aarch64-linux-gnu-gcc), AARCH64_SYSROOT
# (/usr/aarch64-linux-gnu), QEMU_AARCH64 (qemu-aarch64-static, else
# qemu-aarch64), TEST_TIMEOUT (seconds per run, default 120).

out=${1:-build/aarch64}
deps="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static liburing-dev"
timeout_s=${TEST_TIMEOUT:-120}

skip() {
	echo "test-aarch64: SKIP: $*"
	exit 0
}

# shellcheck disable=SC2086
sh tools/deps.sh $deps || skip "the cross compiler and qemu-user could not be installed (above)"

cc=${AARCH64_CC:-aarch64-linux-gnu-gcc}
sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
qemu=${QEMU_AARCH64:-}
if [ -z "$qemu" ]; then
	for q in qemu-aarch64-static qemu-aarch64; do
		if command -v "$q" >/dev/null 2>&1; then
			qemu=$q
			break
		fi
	done
fi
command -v "$cc" >/dev/null 2>&1 || skip "no $cc (Debian: gcc-aarch64-linux-gnu)"
[ -n "$qemu" ] || skip "no qemu-aarch64-static or qemu-aarch64 (Debian: qemu-user-static)"
[ -d "$sysroot" ] || skip "no AArch64 libc in $sysroot (Debian: libc6-dev-arm64-cross)"
uring=""
for d in /usr/include /usr/local/include; do
	if [ -f "$d/liburing.h" ] && [ -d "$d/liburing" ]; then
		uring=$d
		break
	fi
done
[ -n "$uring" ] || skip "no liburing headers (Debian: liburing-dev)"
readelf=${cc%gcc}readelf
command -v "$readelf" >/dev/null 2>&1 || readelf=readelf

if command -v timeout >/dev/null 2>&1; then
	run_timeout() { timeout -k 5 "$timeout_s" "$@"; }
else
	run_timeout() { "$@"; }
fi

mkdir -p "$out/include" || exit 1
ln -sf "$uring/liburing.h" "$out/include/liburing.h"
ln -sfn "$uring/liburing" "$out/include/liburing"

flags="-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -fno-omit-frame-pointer
       -D_GNU_SOURCE -DCORIO_TEST_STANDALONE -Iinclude -Ilib -I$out/include"
src="tests/test_ctx_arch.c lib/ctx.c lib/arch/switch_aarch64.S"
echo "test-aarch64: $($cc --version | head -n 1); $($qemu --version | head -n 1)"
failed=0
for variant in plain standard bti pac-b-key; do
	case $variant in
	plain) extra="" note="" ;;
	standard) extra="-mbranch-protection=standard" note="BTI, PAC" ;;
	bti) extra="-mbranch-protection=bti" note="BTI" ;;
	pac-b-key) extra="-mbranch-protection=pac-ret+b-key+bti" note="BTI, PAC" ;;
	esac
	exe=$out/test_ctx_arch-$variant
	echo "== test_ctx_arch ($variant${extra:+: $extra})"
	# shellcheck disable=SC2086
	echo "$cc $flags $extra -o $exe $src" | tr -s ' \n' ' '
	echo
	# shellcheck disable=SC2086
	$cc $flags $extra -o "$exe" $src || exit 1
	if [ -n "$extra" ]; then
		# shellcheck disable=SC2086
		$cc $flags $extra -c -o "$out/switch_aarch64-$variant.o" lib/arch/switch_aarch64.S || exit 1
		if "$readelf" -n "$out/switch_aarch64-$variant.o" | grep -q "AArch64 feature: $note\$"; then
			echo "switch_aarch64.o: GNU property note: AArch64 feature: $note"
		else
			echo "FAIL: switch_aarch64.o built with $extra lacks the property note: $note"
			"$readelf" -n "$out/switch_aarch64-$variant.o"
			failed=$((failed + 1))
		fi
	fi
	run_timeout "$qemu" -L "$sysroot" "$exe"
	rc=$?
	if [ $rc = 0 ]; then
		echo "PASS test_ctx_arch ($variant)"
	else
		echo "FAIL test_ctx_arch ($variant): exit status $rc"
		failed=$((failed + 1))
	fi
done

# A task's backtrace under gdb, through qemu's gdb stub (optional).
sh tools/deps.sh gdb-multiarch >/dev/null 2>&1
if command -v gdb-multiarch >/dev/null 2>&1; then
	exe=$out/test_ctx_arch-plain
	sock=$out/gdb.sock
	rm -f "$sock"
	echo "== gdb backtrace in a task, under qemu"
	"$qemu" -L "$sysroot" -g "$sock" "$exe" --gdb-helper 2>"$out/gdb-qemu.txt" &
	qpid=$!
	i=0
	while [ ! -S "$sock" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	run_timeout gdb-multiarch -nx -batch -ex 'set debuginfod enabled off' -ex 'set style enabled off' \
		-ex 'set confirm off' -ex "set sysroot $sysroot" -ex "target remote $sock" \
		-ex 'break gdb_break_here' -ex continue -ex bt -ex kill "$exe" >"$out/gdb.txt" 2>&1 </dev/null
	kill "$qpid" 2>/dev/null
	wait "$qpid" 2>/dev/null
	rm -f "$sock"
	# The backtrace: from its frame #0 to the end of gdb's output.
	sed -n '/^#0 /,$p' "$out/gdb.txt" >"$out/gdb-bt.txt"
	grep '^#' "$out/gdb-bt.txt"
	bad=""
	grep -q '^#0  gdb_break_here' "$out/gdb-bt.txt" || bad="$bad, no #0 gdb_break_here"
	grep -q ' gdb_task_fn ' "$out/gdb-bt.txt" || bad="$bad, no gdb_task_fn"
	grep -q ' corio__ctx_trampoline ' "$out/gdb-bt.txt" || bad="$bad, no corio__ctx_trampoline"
	last=$(grep '^#' "$out/gdb-bt.txt" | tail -n 1)
	case $last in
	*corio__ctx_trampoline*) ;;
	*) bad="$bad, the last frame is not the trampoline" ;;
	esac
	for word in 'Backtrace stopped' 'previous frame inner' 'corrupt stack' '?? ()' ' main ('; do
		if grep -qF "$word" "$out/gdb-bt.txt"; then
			bad="$bad, '$word'"
		fi
	done
	if [ -z "$bad" ]; then
		echo "PASS gdb backtrace ends at the task's entry"
	else
		echo "FAIL gdb backtrace:${bad#,} (full output: $out/gdb.txt)"
		failed=$((failed + 1))
	fi
else
	echo "test-aarch64: gdb-multiarch is not installed: the backtrace check is skipped"
fi

if [ $failed = 0 ]; then
	echo "test-aarch64: all passed"
	exit 0
fi
echo "test-aarch64: $failed failed"
exit 1
