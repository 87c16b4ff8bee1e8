#!/usr/bin/env bash
# Downloads Debian 12's Exim (exim4-daemon-light and the libraries it loads that a fresh
# machine may lack) and unpacks it, without installing anything, for the Exim tests of
# tests/mta_deliver.rs (tests/mta/mod.rs runs it with a configuration of its own, -C, no
# daemon). Debian's exim4 and postfix packages cannot be installed side by side, and the
# Postfix tests need postfix installed. The libraries are also installed by `make deps`
# (EXIM_LIBS): the setuid exim re-executes itself to deliver, and then LD_LIBRARY_PATH is
# ignored.
#
#   tests/mta/fetch-exim.sh [DIR]
#
# DIR defaults to $POSTERN_EXIM_DIR, else /var/cache/postern-test-exim. The unpacked tree
# is DIR/root (DIR/root/usr/sbin/exim4). Never fails: when the packages cannot be had it
# says why and exits 0, and the Exim tests skip.
set -uo pipefail

dir=${1:-${POSTERN_EXIM_DIR:-/var/cache/postern-test-exim}}
pkgs=(exim4-daemon-light libgnutls-dane0 libidn12 libnsl2 libdb5.3 libunbound8 libevent-2.1-7)

exec bash "$(dirname "$0")/../oracle-unpack.sh" exim "$dir" usr/sbin/exim4 -- "${pkgs[@]}"
