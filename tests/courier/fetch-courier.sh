#!/usr/bin/env bash
# Downloads Debian 12's Courier-IMAP 5.0.13 (imapd, courierpop3d and the libraries they
# load) and unpacks it, without installing anything, for tests/courier_interop.rs, which
# runs it as an oracle next to postern.
#
#   tests/courier/fetch-courier.sh [DIR]
#
# DIR defaults to $POSTERN_COURIER_DIR, else /var/cache/postern-test-courier. The unpacked
# tree is DIR/root (DIR/root/usr/bin/imapd, DIR/root/usr/lib/courier/courier/courierpop3d).
# Nothing is done when DIR/root is already complete. Never fails: when the packages cannot
# be had (no apt, no network, not Debian 12) it says why and exits 0, and the test skips.
set -uo pipefail

dir=${1:-${POSTERN_COURIER_DIR:-/var/cache/postern-test-courier}}
pkgs=(courier-imap courier-pop courier-base courier-authlib libcourier-unicode4 libgamin0 libidn12)

say() { echo "fetch-courier: $*" >&2; }

if [ -x "$dir/root/usr/bin/imapd" ] && [ -x "$dir/root/usr/lib/courier/courier/courierpop3d" ]; then
    say "already unpacked in $dir/root"
    exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    say "no apt-get/dpkg-deb here; Courier interop tests will be skipped"
    exit 0
fi
if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
    say "cannot write $dir; Courier interop tests will be skipped"
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
        say "apt-get download failed; Courier interop tests will be skipped:"
        tail -n 5 "$work/download.log" >&2
        exit 0
    fi
fi

mkdir -p "$work/root"
for deb in "$work"/*.deb; do
    if ! dpkg-deb -x "$deb" "$work/root"; then
        say "dpkg-deb -x $deb failed; Courier interop tests will be skipped"
        exit 0
    fi
done
if [ ! -x "$work/root/usr/bin/imapd" ] || [ ! -x "$work/root/usr/lib/courier/courier/courierpop3d" ]; then
    say "the packages hold no usr/bin/imapd or courierpop3d; Courier interop tests will be skipped"
    exit 0
fi
ls "$work"/*.deb | xargs -n1 basename >"$work/root/PACKAGES"
rm -rf "$dir/root"
mv "$work/root" "$dir/root"
say "Courier unpacked in $dir/root ($(grep -c . "$dir/root/PACKAGES") packages)"
exit 0
