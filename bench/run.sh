#!/bin/sh
# Runs Corio's benchmarks: every one, or the one named.
#   bench/run.sh <build-dir> [name]
# A benchmark <name> is a program <build-dir>/bin/bench_<name> (built from
# bench/bench_<name>.c) or a script bench/<name>.sh (called with the build directory).
# Each prints its figures as DESIGN.md §8 says ("bench <name> <value> <unit>", then
# "limit <name> <value> <unit> ratio <r>" where a limit applies); bench/README.md lists
# them. Exits non-zero when a benchmark fails or the name is unknown.
set -eu
[ $# -ge 1 ] || { echo "usage: bench/run.sh <build-dir> [name]" >&2; exit 2; }
build=$(cd "$1" && pwd)
only=${2:-}
src=$(cd "$(dirname "$0")" && pwd)

# What the harness (which the benchmarks use to start servers) needs to find programs.
export CORIO_SOURCE_DIR="$src/.."
export CORIO_BIN_DIR="$build/bin"
export CORIO_LIB_DIR="$build/lib"
export CORIO_SANITIZE=0

names=""
for bin in "$build"/bin/bench_*; do
    [ -x "$bin" ] && names="$names ${bin##*/bench_}"
done
for script in "$src"/*.sh; do
    name=${script##*/}
    name=${name%.sh}
    [ "$name" = run ] || names="$names $name"
done

status=0
found=0
for name in $names; do
    [ -z "$only" ] || [ "$only" = "$name" ] || continue
    found=1
    echo "# $name"
    if [ -x "$build/bin/bench_$name" ]; then
        "$build/bin/bench_$name" || { echo "# $name: FAILED" >&2; status=1; }
    else
        sh "$src/$name.sh" "$build" || { echo "# $name: FAILED" >&2; status=1; }
    fi
done
if [ "$found" = 0 ]; then
    echo "bench/run.sh: no benchmark named '${only}' (have:$names)" >&2
    exit 2
fi
exit $status
