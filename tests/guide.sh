#!/bin/sh
# tests/guide.sh - compile and run every program of the guide, and check that
# each prints what the guide says it prints.
#
#     sh tests/guide.sh GUIDE STAGE WORKDIR
#
# GUIDE    docs/guide.md
# STAGE    a prefix where corio is installed (STAGE/lib/pkgconfig/corio.pc,
#          STAGE/lib/libcorio.so), e.g. from `make install PREFIX=STAGE`
# WORKDIR  a scratch directory; the script writes its files there
#
# What it reads in GUIDE (fences must start in column 1):
#
#   <!-- program: NAME -->        names the ```c block on the next line
#   ```c ... ```                  a block containing `main(` is a program:
#                                 it must be named, and NAME must be unique
#   ```text                       must come right after each program (blank
#   $ ./NAME                      lines between are allowed). Its first line
#   output lines...               is the command, its other lines the output
#   ```                           expected (stdout and stderr merged)
#
# A ```text block whose first line starts with "$ " anywhere else is another
# run of a program defined in the guide, e.g. `$ CORIO_DEBUG=1 ./blocking`.
# The command is zero or more NAME=VALUE words (added to the environment)
# and then ./NAME; nothing else is accepted. Other ```text blocks and every
# other fence are ignored.
#
# Each program is compiled with `cc -std=gnu11 -Wall -Wextra -Werror` and the
# flags of `pkg-config --cflags --libs corio` against STAGE (CC overrides cc),
# then every run starts at once, in the background (the programs mostly
# sleep, so the whole run takes about as long as the longest program), each
# under `timeout 30`, with LD_LIBRARY_PATH=STAGE/lib, in WORKDIR.
#
# A run passes when it exits 0 and its output has exactly the expected lines,
# except for timings: a number followed by "s" or "ms" (with or without one
# space, as in "1.00 s", "2.0s", "15 ms", not followed by a letter or digit)
# matches any number with the same unit within 15% + 0.15 s (for s) or
# 15% + 150 ms (for ms) of the number the guide shows. No other value is
# normalised: the programs print no task ids, addresses, ports or pids, and
# the debug-mode lines shown in the guide contain none either.
#
# Prints one line per run (PASS/FAIL, the program, the environment of the
# command if any) and, for a failure, why: a unified diff (expected, actual)
# and the lines whose timings are off. Exits 0 when every run passed, 1
# otherwise, also when the guide has no program, a program has no output
# block, or a command names no program of the guide. POSIX sh, awk, sed and
# diff only.

set -u

if [ $# -ne 3 ]; then
	echo "usage: sh tests/guide.sh GUIDE STAGE WORKDIR" >&2
	exit 1
fi
GUIDE=$1
STAGE=$2
WORK=$3
CC=${CC:-cc}
# The guide's outputs are those of the default settings.
unset CORIO_DEBUG CORIO_SLOW_TASK_MS CORIO_FAULTS CORIO_THREADS

[ -r "$GUIDE" ] || { echo "guide.sh: cannot read $GUIDE" >&2; exit 1; }
[ -r "$STAGE/lib/pkgconfig/corio.pc" ] ||
	{ echo "guide.sh: no $STAGE/lib/pkgconfig/corio.pc" >&2; exit 1; }
mkdir -p "$WORK" || exit 1
WORK=$(cd "$WORK" && pwd) || exit 1
STAGE=$(cd "$STAGE" && pwd) || exit 1

PKG_CONFIG_PATH=$STAGE/lib/pkgconfig
export PKG_CONFIG_PATH
FLAGS=$(pkg-config --cflags --libs corio) ||
	{ echo "guide.sh: pkg-config --cflags --libs corio failed" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Extract: WORK/NAME.c for each program, WORK/run-K.expected for each run,
# and WORK/manifest with one line per run: K NAME [NAME=VALUE ...]
# ---------------------------------------------------------------------------
rm -f "$WORK/manifest" "$WORK/programs"
awk -v work="$WORK" '
# Writes lines from..body_n of the block just read to file f.
function dump(f, from,    i) {
	printf "" > f
	for (i = from; i <= body_n; i++)
		print body[i] > f
	close(f)
}
function fail(msg) {
	printf "guide.sh: %s:%d: %s\n", FILENAME, NR, msg > "/dev/stderr"
	bad = 1
}
# A "$ ..." command: checks it, returns "NAME [VAR=VALUE ...]" or "".
function parse_cmd(line,    n, w, i, name, envs) {
	n = split(substr(line, 3), w, /[ \t]+/)
	envs = ""
	for (i = 1; i <= n; i++) {
		if (w[i] == "")
			continue
		if (w[i] ~ /^[A-Za-z_][A-Za-z0-9_]*=/) {
			envs = envs " " w[i]
			continue
		}
		break
	}
	if (i > n || w[i] !~ /^\.\/[A-Za-z0-9_-]+$/ || i != n) {
		fail("command not of the form \"$ [VAR=VALUE ...] ./NAME\": " line)
		return ""
	}
	name = substr(w[i], 3)
	if (!(name in defined)) {
		fail("command runs ./" name ", which is no program of the guide")
		return ""
	}
	return name envs
}
BEGIN { infence = 0; label = ""; label_nr = 0; want_output = "" }
{
	sub(/\r$/, "")
}
!infence && /^<!--[ \t]*program:[ \t]*[A-Za-z0-9_-]+[ \t]*-->[ \t]*$/ {
	label = $0
	sub(/^<!--[ \t]*program:[ \t]*/, "", label)
	sub(/[ \t]*-->[ \t]*$/, "", label)
	label_nr = NR
	next
}
!infence && /^```/ {
	lang = $0
	sub(/^```[ \t]*/, "", lang)
	sub(/[ \t].*$/, "", lang)
	if (want_output != "" && lang != "text")
		fail("program " want_output " is not followed by its ```text output block")
	infence = 1
	kind = lang
	body_n = 0
	has_main = 0
	code_label = (label != "" && label_nr == NR - 1) ? label : ""
	if (label != "" && label_nr == NR - 1 && lang != "c")
		fail("<!-- program: " label " --> is not followed by a ```c block")
	label = ""
	next
}
infence && /^```[ \t]*$/ {
	infence = 0
	if (kind == "c" && has_main) {
		if (code_label == "") {
			fail("a ```c block with main( has no <!-- program: NAME --> line before it")
		} else if (code_label in defined) {
			fail("program " code_label " is defined twice")
		} else {
			defined[code_label] = 1
			nprog++
			dump(work "/" code_label ".c", 1)
			print code_label > (work "/programs")
			want_output = code_label
		}
	} else if (kind == "text" && body_n > 0 && body[1] ~ /^\$ /) {
		spec = parse_cmd(body[1])
		if (spec != "") {
			split(spec, sw, " ")
			if (want_output != "" && sw[1] != want_output)
				fail("the output block after program " want_output " runs ./" sw[1])
			nrun++
			dump(work "/run-" nrun ".expected", 2)
			print nrun, spec > (work "/manifest")
			has_run[sw[1]] = 1
		}
		want_output = ""
	} else if (kind == "text" && want_output != "") {
		fail("the output block of program " want_output " does not start with \"$ ./" want_output "\"")
		want_output = ""
	}
	next
}
infence {
	body[++body_n] = $0
	if (kind == "c" && index($0, "main("))
		has_main = 1
	next
}
!infence && NF > 0 && want_output != "" {
	fail("program " want_output " is not followed by its ```text output block")
	want_output = ""
}
END {
	if (infence)
		fail("unterminated fence at the end of the file")
	if (want_output != "")
		fail("program " want_output " has no output block")
	if (nprog == 0)
		fail("no programs: no ```c block contains main(")
	for (p in defined)
		if (!(p in has_run))
			fail("program " p " is never run")
	exit bad
}
' "$GUIDE" || exit 1

# ---------------------------------------------------------------------------
# Compile, all at once
# ---------------------------------------------------------------------------
while read -r p; do
	rm -f "$WORK/$p" "$WORK/$p.cc.log"
	# shellcheck disable=SC2086 # CC and FLAGS are lists of words
	( $CC -std=gnu11 -Wall -Wextra -Werror -o "$WORK/$p" "$WORK/$p.c" $FLAGS \
		>"$WORK/$p.cc.log" 2>&1 ) &
done <"$WORK/programs"
wait
status=0
while read -r p; do
	if [ ! -x "$WORK/$p" ]; then
		echo "FAIL $p (does not compile)"
		sed 's/^/    /' "$WORK/$p.cc.log"
		status=1
	fi
done <"$WORK/programs"
[ $status -eq 0 ] || exit 1

# ---------------------------------------------------------------------------
# Run, all at once
# ---------------------------------------------------------------------------
while read -r k name envs; do
	rm -f "$WORK/run-$k.out" "$WORK/run-$k.rc"
	# shellcheck disable=SC2086 # envs is a list of NAME=VALUE words
	( cd "$WORK" && env LD_LIBRARY_PATH="$STAGE/lib" $envs timeout 30 "./$name" \
		>"$WORK/run-$k.out" 2>&1 </dev/null
	  echo $? >"$WORK/run-$k.rc" ) &
done <"$WORK/manifest"
wait

# ---------------------------------------------------------------------------
# Compare
# ---------------------------------------------------------------------------
# Exits 0 when actual (2nd file) matches expected (1st file), else prints the
# lines whose timings are off and exits 1.
compare() {
	awk -v expf="$1" '
	# Replaces every timing in s by "#" (keeping its unit and spacing) and
	# puts the numbers in v[1..] and the units in u[1..]; returns the string.
	function norm(s, v, u,    out, n, tok, num, unit, before, after) {
		out = ""
		n = 0
		while (match(s, /[0-9]+(\.[0-9]+)? ?m?s/)) {
			before = RSTART > 1 ? substr(s, RSTART - 1, 1) : ""
			after = substr(s, RSTART + RLENGTH, 1)
			if (before ~ /[A-Za-z0-9_.]/ || after ~ /[A-Za-z0-9_]/) {
				out = out substr(s, 1, RSTART)
				s = substr(s, RSTART + 1)
				continue
			}
			tok = substr(s, RSTART, RLENGTH)
			num = tok
			sub(/ ?m?s$/, "", num)
			unit = substr(tok, length(num) + 1)
			v[++n] = num
			u[n] = unit
			out = out substr(s, 1, RSTART - 1) "#" unit
			s = substr(s, RSTART + RLENGTH)
		}
		v[0] = n
		return out s
	}
	BEGIN {
		while ((getline line < expf) > 0)
			want[++ne] = line
		close(expf)
	}
	{ got[++na] = $0 }
	END {
		bad = 0
		if (ne != na)
			bad = 1
		for (i = 1; i <= ne && i <= na; i++) {
			split("", ev); split("", eu); split("", av); split("", au)
			if (norm(want[i], ev, eu) != norm(got[i], av, au)) {
				bad = 1
				continue
			}
			for (j = 1; j <= ev[0]; j++) {
				d = (av[j] + 0) - (ev[j] + 0)
				if (d < 0)
					d = -d
				tol = 0.15 * (ev[j] + 0) + (au[j] ~ /ms$/ ? 150 : 0.15)
				if (d > tol) {
					printf "    line %d: %s%s is not within %g%s of %s%s\n", i,
					       av[j], au[j], tol, (au[j] ~ /ms$/ ? " ms" : " s"), ev[j], eu[j]
					bad = 1
				}
			}
		}
		exit bad
	}' "$2"
}

nrun=0
nfail=0
while read -r k name envs; do
	nrun=$((nrun + 1))
	label=$name
	[ -n "$envs" ] && label="$name [$envs]"
	rc=$(cat "$WORK/run-$k.rc" 2>/dev/null || echo '?')
	why=""
	if [ "$rc" != 0 ]; then
		why="exit status $rc"
		[ "$rc" = 124 ] && why="timed out after 30 s"
	fi
	notes=$(compare "$WORK/run-$k.expected" "$WORK/run-$k.out")
	cmp_rc=$?
	if [ -z "$why" ] && [ $cmp_rc -eq 0 ]; then
		echo "PASS $label"
		continue
	fi
	nfail=$((nfail + 1))
	echo "FAIL $label${why:+ ($why)}"
	if [ $cmp_rc -ne 0 ]; then
		diff -u "$WORK/run-$k.expected" "$WORK/run-$k.out" |
			sed -e "1s|.*|--- expected (docs: $name)|" -e "2s|.*|+++ actual|" -e 's/^/    /'
		[ -n "$notes" ] && printf '%s\n' "$notes"
	fi
done <"$WORK/manifest"

echo "guide.sh: $nrun runs, $((nrun - nfail)) passed, $nfail failed"
[ $nfail -eq 0 ]
