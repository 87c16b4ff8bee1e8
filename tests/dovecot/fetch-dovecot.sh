#!/usr/bin/env bash
# Downloads Debian 12's Dovecot 2.3 (dovecot-core and dovecot-imapd: the `imap` binary and
# the libraries it loads) and unpacks it, without installing or starting anything, for
# tests/dovecot_views.rs, which runs Dovecot's `imap` as a PREAUTH process on stdin/stdout
# as an oracle next to postern.
#
#   tests/dovecot/fetch-dovecot.sh [DIR]
#
# DIR defaults to $POSTERN_DOVECOT_DIR, else /var/cache/postern-test-dovecot. The unpacked
# tree is DIR/root (DIR/root/usr/lib/dovecot/imap, DIR/root/usr/lib/dovecot/libdovecot*.so*).
# Nothing is done when DIR/root is already complete. Never fails: when the packages cannot
# be had (no apt, no network, not Debian) it says why and exits 0, and the test skips.
set -uo pipefail

dir=${1:-${POSTERN_DOVECOT_DIR:-/var/cache/postern-test-dovecot}}
# libunwind8 is the one library the `imap` binary loads that a minimal Debian may lack; the
# others (libsodium, libicu, ...) belong to plugins and tools the test does not load.
pkgs=(dovecot-core dovecot-imapd libunwind8)

say() { echo "fetch-dovecot: $*" >&2; }

imap=usr/lib/dovecot/imap
if [ -x "$dir/root/$imap" ] && [ -f "$dir/root/PACKAGES" ]; then
    say "already unpacked in $dir/root"
    exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    say "no apt-get/dpkg-deb here; Dovecot differential tests will be skipped"
    exit 0
fi
if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
    say "cannot write $dir; Dovecot differential tests will be skipped"
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
        say "apt-get download failed; Dovecot differential tests will be skipped:"
        tail -n 5 "$work/download.log" >&2
        exit 0
    fi
fi

mkdir -p "$work/root"
for deb in "$work"/*.deb; do
    if ! dpkg-deb -x "$deb" "$work/root"; then
        say "dpkg-deb -x $deb failed; Dovecot differential tests will be skipped"
        exit 0
    fi
done
if [ ! -x "$work/root/$imap" ]; then
    say "the packages hold no $imap; Dovecot differential tests will be skipped"
    exit 0
fi
ls "$work"/*.deb | xargs -n1 basename >"$work/root/PACKAGES"
rm -rf "$dir/root"
mv "$work/root" "$dir/root"
say "Dovecot unpacked in $dir/root ($(grep -c . "$dir/root/PACKAGES") packages)"
exit 0
