#!/bin/sh
# docs.sh - the documentation and packaging test (run by `make test` in the
# plain build, from the top of the tree):
#
#   sh tests/docs.sh BUILD
#
# BUILD holds libcorio.so; build/man holds the pages mkman made from
# include/corio.h. It checks, in order:
#   1. every function the shared library exports has its man page, every
#      page is an exported function, and each full page has NAME, SYNOPSIS,
#      DESCRIPTION, RETURN VALUE, ERRORS and SEE ALSO;
#   2. groff formats every page without a warning;
#   3. the version is the same in the Makefile, corio.h and the newest
#      symbol version node; the SONAME carries SOVERSION; the exported
#      symbols and the public structs' sizes are the ones
#      tests/abi-symbols.txt and tests/abi-layout.txt record
#      (docs/packaging.md says when and how those may change);
#   4. `make install` into a staging prefix, then: `man corio_spawn` finds
#      the installed page; corio.pc gives nothing but -I, -L and -l; every
#      EXAMPLE of a man page that is a whole program compiles against the
#      installed copy through pkg-config and runs; docs/examples builds out
#      of the tree against it (docs/examples/Makefile); the guide's programs
#      compile, run and print what docs/guide.md shows (tests/guide.sh);
#   5. `make uninstall` leaves nothing behind.
# Exit 0 when all hold, 1 otherwise; each failure says what and where.
set -u
build=${1:-build}
man=build/man
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

work=$(mktemp -d "${TMPDIR:-/tmp}/corio-docs.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'rm -rf "$work"; exit 130' INT TERM

# ---- 1. one page per exported function --------------------------------
if ! command -v nm >/dev/null 2>&1; then
	echo "skip: nm (binutils) is not installed"
	exit 77
fi
nm -D --defined-only "$build/libcorio.so" |
	awk '$2 == "T" { n = $3; sub(/@.*/, "", n); print n }' | sort >"$work/exported"
ls "$man/man3" 2>/dev/null | sed -n 's/\.3$//p' | sort >"$work/pages"
[ -s "$work/exported" ] || fail "no exported functions found in $build/libcorio.so"
missing=$(comm -23 "$work/exported" "$work/pages")
extra=$(comm -13 "$work/exported" "$work/pages")
[ -z "$missing" ] || fail "exported without a man page: $(echo $missing)"
[ -z "$extra" ] || fail "man page for a function the library does not export: $(echo $extra)"
full=0
for p in "$man"/man3/*.3; do
	if head -n 1 "$p" | grep -q '^\.so '; then
		target=$(sed -n 's/^\.so //p' "$p")
		[ -f "$man/$target" ] || fail "$p points at $target, which does not exist"
		continue
	fi
	full=$((full + 1))
	for s in NAME SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS "SEE ALSO"; do
		grep -q "^\.SH $s\$" "$p" || fail "$p has no $s section"
	done
	# every name the page is about is declared in its SYNOPSIS
	names=$(sed -n '/^\.SH NAME/{n;p;}' "$p" | sed 's/ \\-.*//; s/,/ /g')
	for n in $names; do
		sed -n '/^\.SH SYNOPSIS/,/^\.fi/p' "$p" | grep -q "[^a-z_]$n *(" ||
			fail "$p: $n is not in the SYNOPSIS"
	done
done
echo "pages: $(wc -l <"$work/pages") names, $full full pages, for $(wc -l <"$work/exported") exported functions"

# ---- 2. groff formats them cleanly -------------------------------------
if command -v groff >/dev/null 2>&1; then
	for p in "$man"/man3/*.3 "$man"/man7/corio.7; do
		head -n 1 "$p" | grep -q '^\.so ' && continue
		out=$(groff -man -ww -z -Tutf8 "$p" 2>&1)
		[ -z "$out" ] || fail "groff warns on $p: $out"
	done
else
	echo "note: groff is not installed; page formatting not checked"
fi

# ---- 3. versions and the ABI -------------------------------------------
mk_version=$(sed -n 's/^VERSION *:= *//p' Makefile)
mk_so=$(sed -n 's/^SOVERSION *:= *//p' Makefile)
h_version=$(awk '/#define CORIO_VERSION_(MAJOR|MINOR|PATCH)/ { v = v (v == "" ? "" : ".") $3 } END { print v }' include/corio.h)
[ "$mk_version" = "$h_version" ] ||
	fail "Makefile VERSION $mk_version but corio.h says $h_version"
soname=$(objdump -p "$build/libcorio.so" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "libcorio.so.$mk_so" ] || fail "SONAME is '$soname', want libcorio.so.$mk_so"
nm -D --defined-only "$build/libcorio.so" | awk '$2 != "A" { print $3 }' | sort >"$work/abi"
if ! cmp -s "$work/abi" tests/abi-symbols.txt; then
	fail "exported symbols differ from tests/abi-symbols.txt (< recorded, > built):"
	diff tests/abi-symbols.txt "$work/abi" | grep '^[<>]'
	echo "  follow docs/packaging.md (version node, VERSION/SOVERSION), then"
	echo "  nm -D --defined-only $build/libcorio.so | awk '\$2 != \"A\" { print \$3 }' | sort > tests/abi-symbols.txt"
fi
# the layout of every public struct: a change is an ABI break
structs=$(sed -n 's/^typedef struct \(corio_[a-z_]*\) {.*/\1/p' include/corio.h)
{
	printf '%s\n' '#include <corio.h>' '#include <stdio.h>' \
		'#define L(t) printf("%s %zu %zu\n", #t, sizeof(t), _Alignof(t))' 'int main(void) {'
	for t in $structs; do
		printf 'L(%s);\n' "$t"
	done
	printf '%s\n' 'return 0; }'
} >"$work/layout.c"
if cc -std=gnu11 -Iinclude -o "$work/layout" "$work/layout.c" && "$work/layout" >"$work/layout.txt"; then
	if ! cmp -s "$work/layout.txt" tests/abi-layout.txt; then
		fail "public struct sizes differ from tests/abi-layout.txt (< recorded, > built):"
		diff tests/abi-layout.txt "$work/layout.txt" | grep '^[<>]'
		echo "  a changed layout is an ABI break: docs/packaging.md"
	fi
else
	fail "could not measure the public structs"
fi
node=$(sed -n 's/^\(CORIO_[0-9.]*\) *{.*/\1/p' lib/corio.map | tail -n 1)
minor=$(echo "$mk_version" | cut -d. -f1,2)
[ "$node" = "CORIO_$minor" ] ||
	fail "newest version node in lib/corio.map is $node, want CORIO_$minor for version $mk_version"

# ---- 4. the installed copy ---------------------------------------------
stage=$work/stage
if ! make -s install PREFIX="$stage" >"$work/install.log" 2>&1; then
	cat "$work/install.log"
	fail "make install PREFIX=$stage failed"
	echo "docs: $fails failure(s)"
	exit 1
fi
export PKG_CONFIG_PATH="$stage/lib/pkgconfig"
export LD_LIBRARY_PATH="$stage/lib"
flags=$(pkg-config --cflags --libs corio) || fail "pkg-config cannot read the installed corio.pc"
for f in $flags; do
	case $f in
	-I"$stage"/include | -L"$stage"/lib | -lcorio) ;;
	*) fail "corio.pc gives a stray flag: $f" ;;
	esac
done
if command -v man >/dev/null 2>&1; then
	for n in corio_spawn corio_sleep_ns corio; do
		MANPATH="$stage/share/man" man -P cat "$n" 2>/dev/null | grep -q "^NAME" ||
			fail "man $n does not find the installed page"
	done
else
	echo "note: man (man-db) is not installed; 'man corio_spawn' not tried"
fi

cc_installed() { # out src...
	o=$1
	shift
	cc -std=gnu11 -Wall -Wextra -Werror -o "$o" "$@" $(pkg-config --cflags --libs corio) -lm
}
nex=0
for src in "$man"/examples/*.c; do
	[ -f "$src" ] || continue
	n=$(basename "$src" .c)
	nex=$((nex + 1))
	if ! cc_installed "$work/ex-$n" "$src" >"$work/cc.log" 2>&1; then
		cat "$work/cc.log"
		fail "the EXAMPLE of $n(3) does not compile against the installed copy"
	elif ! timeout 10 "$work/ex-$n" >"$work/run.log" 2>&1 </dev/null; then
		tail -n 20 "$work/run.log"
		fail "the EXAMPLE of $n(3) did not exit 0"
	fi
done
echo "man page examples: $nex programs compiled and run against the installed copy"

if make -s -C docs/examples O="$work/examples" >"$work/ex.log" 2>&1; then
	echo "docs/examples: $(ls "$work/examples" | wc -l) programs built out of the tree against the installed copy"
else
	cat "$work/ex.log"
	fail "docs/examples does not build against the installed copy"
fi

if [ -f docs/guide.md ]; then
	sh tests/guide.sh docs/guide.md "$stage" "$work/guide" || fail "docs/guide.md's programs (tests/guide.sh)"
else
	fail "docs/guide.md is missing"
fi

# ---- 5. uninstall -------------------------------------------------------
make -s uninstall PREFIX="$stage" >/dev/null 2>&1 || fail "make uninstall failed"
left=$(find "$stage" ! -type d 2>/dev/null | head -n 5)
[ -z "$left" ] || fail "make uninstall left files behind: $left"

if [ "$fails" -ne 0 ]; then
	echo "docs: $fails failure(s)"
	exit 1
fi
echo "docs: all checks passed"
