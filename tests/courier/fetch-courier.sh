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
pkgs=(courier-imap courier-pop courier-base courier-authlib libcourier-unicode4 libgamin0 libidn12 libpcre3)

exec bash "$(dirname "$0")/../oracle-unpack.sh" courier "$dir" \
    usr/bin/imapd usr/lib/courier/courier/courierpop3d -- "${pkgs[@]}"
