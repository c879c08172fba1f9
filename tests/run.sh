#!/bin/sh
# run.sh - runs corio's test programs, each under a timeout.
#
#   sh build/tests/run.sh build/tests/test_a build/tests/test_b ...
#
# Environment: TEST_TIMEOUT (seconds per program, default 120), CORIO_BUILD
# (the build directory, for messages), CORIO_SHARED (the shared library:
# when set, tests/exports.sh checks its exported symbols, counted as one
# more program), CORIO_DOCS (when set, tests/docs.sh checks the man pages,
# the guide and an installed copy, run from the top of the tree).
#
# A program passes with exit status 0 and is skipped with 77 (the line it
# printed saying why is repeated here). Every program's own output (cmocka's)
# is printed as it comes. The last line is always
#   N passed, N failed, N skipped
# and the exit status is non-zero when anything failed.

timeout_s=${TEST_TIMEOUT:-120}
passed=0
failed=0
skipped=0
failed_names=""
out=$(mktemp "${TMPDIR:-/tmp}/corio-test.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT
trap 'rm -f "$out"; exit 130' INT TERM

if command -v timeout >/dev/null 2>&1; then
	run_timeout() { timeout -k 5 "$timeout_s" "$@"; }
else
	echo "run.sh: no timeout(1) here: programs run without a time limit" >&2
	run_timeout() { "$@"; }
fi

# run_one NAME COMMAND...: runs, prints its output, counts the outcome.
run_one() {
	name=$1
	shift
	echo "== $name"
	run_timeout "$@" >"$out" 2>&1 </dev/null
	rc=$?
	cat "$out"
	case $rc in
	0)
		passed=$((passed + 1))
		echo "PASS $name"
		;;
	77)
		skipped=$((skipped + 1))
		reason=$(grep -i 'skip' "$out" | tail -n 1 | sed 's/^[[:space:]]*[Ss][Kk][Ii][Pp][Ss]*:*[[:space:]]*//')
		[ -n "$reason" ] || reason=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
		echo "SKIP $name: ${reason:-no reason given}"
		;;
	124 | 137)
		failed=$((failed + 1))
		failed_names="$failed_names $name"
		echo "FAIL $name: timed out after ${timeout_s}s"
		;;
	*)
		failed=$((failed + 1))
		failed_names="$failed_names $name"
		if [ "$rc" -gt 128 ]; then
			echo "FAIL $name: killed by signal $((rc - 128))"
		else
			echo "FAIL $name: exit status $rc"
		fi
		;;
	esac
	echo
}

for prog in "$@"; do
	if [ ! -x "$prog" ]; then
		failed=$((failed + 1))
		failed_names="$failed_names $prog"
		echo "FAIL $prog: not found or not executable"
		continue
	fi
	run_one "$(basename "$prog")" "$prog"
done

if [ -n "$CORIO_SHARED" ]; then
	exports=""
	for d in "$(dirname "$0")" tests "${CORIO_SRCDIR:-.}/tests"; do
		if [ -f "$d/exports.sh" ]; then
			exports=$d/exports.sh
			break
		fi
	done
	if [ -n "$exports" ]; then
		run_one exports.sh sh "$exports" "$CORIO_SHARED"
	else
		failed=$((failed + 1))
		failed_names="$failed_names exports.sh"
		echo "FAIL exports.sh: tests/exports.sh not found"
	fi
fi

if [ -n "$CORIO_DOCS" ]; then
	run_one docs.sh sh tests/docs.sh "${CORIO_BUILD:-build}"
fi

[ -n "$failed_names" ] && echo "failed:$failed_names${CORIO_BUILD:+ (build: $CORIO_BUILD)}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
