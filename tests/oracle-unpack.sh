#!/usr/bin/env bash
# Downloads Debian packages and unpacks them, without installing or starting anything, as
# an oracle for the tests (tests/courier/fetch-courier.sh, tests/dovecot/fetch-dovecot.sh).
#
#   tests/oracle-unpack.sh LABEL DIR REQUIRED-PATH... -- PACKAGE...
#
# The unpacked tree is DIR/root, with DIR/root/PACKAGES naming the .debs. Nothing is done
# when DIR/root already holds every REQUIRED-PATH (relative to the root, executable).
# Never fails: when the packages cannot be had (no apt, no network, not Debian) it says why
# and exits 0, and LABEL's tests skip.
set -uo pipefail

label=$1 dir=$2
shift 2
required=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do required+=("$1"); shift; done
shift
pkgs=("$@")

say() { echo "fetch-$label: $*" >&2; }
skipped="$label oracle tests will be skipped"
complete() {  # complete ROOT: every required path is there
    local p
    for p in "${required[@]}"; do [ -x "$1/$p" ] || return 1; done
}

# Every package named has its .deb in PACKAGES (a list grown since the unpack redoes it).
has_all_packages() {
    local p
    for p in "${pkgs[@]}"; do grep -q "^${p}_" "$1/PACKAGES" 2>/dev/null || return 1; done
}

if complete "$dir/root" && has_all_packages "$dir/root"; then
    say "already unpacked in $dir/root"
    exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    say "no apt-get/dpkg-deb here; $skipped"
    exit 0
fi
if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
    say "cannot write $dir; $skipped"
    exit 0
fi

work=$(mktemp -d "$dir/fetch.XXXXXX") || { say "mktemp failed"; exit 0; }
trap 'rm -rf "$work"' EXIT
# apt-get download drops privileges to _apt, which must be able to write the directory.
chmod 0755 "$work"

if ! (cd "$work" && apt-get download "${pkgs[@]}" >download.log 2>&1); then
    # The package lists may be missing or stale: refresh them once (as root only).
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq >/dev/null 2>&1
    fi
    if ! (cd "$work" && apt-get download "${pkgs[@]}" >download.log 2>&1); then
        say "apt-get download failed; $skipped:"
        tail -n 5 "$work/download.log" >&2
        exit 0
    fi
fi

mkdir -p "$work/root"
for deb in "$work"/*.deb; do
    if ! dpkg-deb -x "$deb" "$work/root"; then
        say "dpkg-deb -x $deb failed; $skipped"
        exit 0
    fi
done
if ! complete "$work/root"; then
    say "the packages hold no ${required[*]}; $skipped"
    exit 0
fi
ls "$work"/*.deb | xargs -n1 basename >"$work/root/PACKAGES"
rm -rf "$dir/root"
mv "$work/root" "$dir/root"
say "unpacked in $dir/root ($(grep -c . "$dir/root/PACKAGES") packages)"
exit 0
