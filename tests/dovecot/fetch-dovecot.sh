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

exec bash "$(dirname "$0")/../oracle-unpack.sh" dovecot "$dir" \
    usr/lib/dovecot/imap -- "${pkgs[@]}"
