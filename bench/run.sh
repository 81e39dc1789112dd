#!/bin/sh
# bench/run.sh - runs the benchmarks: every executable in bench/ but this one, or only the
# one named. `make bench` calls it as `bench/run.sh <build-dir> [name]`; each benchmark
# gets the build directory as its first argument and prints DESIGN.md §8 lines
# ("bench <name> <value> <unit>", "limit <name> <value> <unit> ratio <value/limit>").
# Exit status: 0 when every benchmark run succeeded, 1 when one failed, 2 for an unknown
# name.
set -u
build=${1:?usage: bench/run.sh <build-dir> [name]}
name=${2:-}
here=$(dirname "$0")
if [ -n "$name" ] && [ ! -x "$here/$name" ]; then
    echo "bench/run.sh: no benchmark '$name' in $here" >&2
    exit 2
fi
status=0
for b in "$here"/*; do
    n=$(basename "$b")
    [ "$n" = run.sh ] && continue
    [ -f "$b" ] && [ -x "$b" ] || continue
    [ -z "$name" ] || [ "$n" = "$name" ] || continue
    echo "# bench/$n" >&2
    if ! "$b" "$build"; then
        echo "bench/run.sh: $n failed" >&2
        status=1
    fi
done
exit $status
