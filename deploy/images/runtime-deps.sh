#!/bin/bash
# Prints the Debian packages that hold the shared libraries the given programs load, one
# per line: the build stage runs it so that each runtime image installs exactly what its
# programs link, and nothing goes stale when a library is added to the build.
set -euo pipefail
libs=$(for f in "$@"; do ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'; done | sort -u)
for lib in $libs; do
    # usrmerge: dpkg may know the library under /lib or under /usr/lib.
    real=$(realpath "$lib")
    pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null) ||
        { echo "runtime-deps: no Debian package holds $lib" >&2; exit 1; }
    echo "${pkg%%:*}"
done | sort -u
