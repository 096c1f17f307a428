#!/usr/bin/env bash
# Make this host able to run the power-cut tests (crates/quiver-powercut).
#
# The tests mount a FUSE filesystem through the `fuser` crate's own mount
# code: no libfuse is linked, so no -dev package or pkg-config is needed.
# As root the mount is a plain mount(2) on /dev/fuse; an unprivileged user
# needs the setuid helper fusermount3 (Debian package fuse3), which also
# gives `fusermount3 -u` to clear a mount a crashed test left behind.
#
# Idempotent, and silent when everything is already there.
set -euo pipefail

if ! command -v fusermount3 >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup-fuse: fusermount3 is missing and apt-get is not available; install fuse3" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    echo "setup-fuse: installing fuse3"
    log=$(mktemp)
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get install -y -qq --no-install-recommends fuse3; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
fi

if [ ! -e /dev/fuse ]; then
    # Containers need the device passed in (docker run --device /dev/fuse
    # --cap-add SYS_ADMIN); nothing installable creates it.
    modprobe fuse 2>/dev/null || true
    if [ ! -e /dev/fuse ]; then
        echo "setup-fuse: /dev/fuse does not exist; the power-cut tests will skip" >&2
    fi
fi
