#!/bin/sh
# deps.sh [--optional] package...
#
# Makes sure the named Debian packages are installed. As root, installs the
# missing ones with apt-get; otherwise prints the exact apt-get line and
# fails. With --optional, a package that cannot be had is reported and
# skipped instead (benchmark baselines say "baseline unavailable").
optional=0
if [ "$1" = "--optional" ]; then optional=1; shift; fi

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "corio: no dpkg here; make sure these are installed: $*" >&2
	exit 0
fi
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	if [ $optional = 1 ]; then
		echo "corio: optional packages missing (baselines will be skipped):$missing" >&2
		exit 0
	fi
	echo "corio: missing Debian packages. Install them with:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "corio: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Packages with services (nginx) must not start them: the benchmarks run
# their own instance on 127.0.0.1, and nothing should listen anywhere else.
# policy-rc.d answering 101 is Debian's way to say so during installs.
policy=/usr/sbin/policy-rc.d
if [ ! -e $policy ]; then
	printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy
	trap 'rm -f $policy' EXIT
fi
# shellcheck disable=SC2086
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
	apt-get update -qq >/dev/null 2>&1
	if ! apt-get install -y -qq --no-install-recommends $missing; then
		[ $optional = 1 ] && { echo "corio: could not install:$missing" >&2; exit 0; }
		echo "corio: apt-get install failed for:$missing" >&2
		exit 1
	fi
fi
exit 0
