#!/bin/sh
# exports.sh LIB - fails when the shared library LIB exports a symbol
# (code or data: nm types T, D, B, R, and weak W, V) whose name does not start with corio_.
# Exits 77 (skipped) when nm is not installed.
lib=$1
if [ -z "$lib" ] || [ ! -e "$lib" ]; then
	echo "exports.sh: no such library: '$lib'" >&2
	exit 1
fi
if ! command -v nm >/dev/null 2>&1; then
	echo "skip: nm (binutils) is not installed"
	exit 77
fi
syms=$(nm -D --defined-only "$lib") || {
	echo "exports.sh: nm failed on $lib" >&2
	exit 1
}
# Lines are "ADDRESS TYPE NAME[@VERSION]"; version nodes are type A.
bad=$(printf '%s\n' "$syms" | awk '$2 ~ /^[TDBRWV]$/ { n = $3; sub(/@.*/, "", n); if (n !~ /^corio_/) print n }')
count=$(printf '%s\n' "$syms" | awk '$2 ~ /^[TDBRWV]$/' | wc -l)
if [ -n "$bad" ]; then
	echo "exports.sh: $lib exports symbols without the corio_ prefix:"
	printf '  %s\n' $bad
	exit 1
fi
if [ "$count" -eq 0 ]; then
	echo "exports.sh: $lib exports no symbols at all"
	exit 1
fi
internal=$(printf '%s\n' "$syms" | awk '$2 ~ /^[TDBRWV]$/ { n = $3; sub(/@.*/, "", n); if (n ~ /^corio__/) print n }')
if [ -n "$internal" ]; then
	echo "exports.sh: $lib exports internal (corio__) symbols:"
	printf '  %s\n' $internal
	exit 1
fi
echo "exports.sh: $lib exports $count symbols, all corio_"
