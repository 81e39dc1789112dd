#!/bin/sh
# bench/run.sh - runs the benchmarks: every one, or only the one named. `make bench` calls
# it as `bench/run.sh <build-dir> [name]`. A benchmark <name> is either
#   - an executable file bench/<name> (a script, e.g. bench/ledger), run with the build
#     directory as its first argument, or
#   - a program <build-dir>/bin/bench_<name>, built from bench/bench_<name>.c
#     (bench/CMakeLists.txt), run with no argument.
# Each prints DESIGN.md §8 lines ("bench <name> <value> <unit>", "limit <name> <value>
# <unit> ratio <value/limit>"); bench/README.md lists them.
# Exit status: 0 when every benchmark run succeeded, 1 when one failed, 2 for an unknown
# name.
set -u
build=${1:?usage: bench/run.sh <build-dir> [name]}
build=$(cd "$build" && pwd)
name=${2:-}
here=$(cd "$(dirname "$0")" && pwd)

# What the test harness, which benchmarks use to start servers, needs to find programs.
export CORIO_SOURCE_DIR="$here/.."
export CORIO_BIN_DIR="$build/bin"
export CORIO_LIB_DIR="$build/lib"
export CORIO_SANITIZE=0

# "kind:name" for every benchmark: s (a script in bench/) or p (a built program).
list=""
for b in "$here"/*; do
    n=$(basename "$b")
    [ "$n" = run.sh ] && continue
    [ -f "$b" ] && [ -x "$b" ] || continue
    list="$list s:$n"
done
for b in "$build"/bin/bench_*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    list="$list p:${b##*/bench_}"
done

status=0
found=0
for item in $list; do
    kind=${item%%:*}
    n=${item#*:}
    [ -z "$name" ] || [ "$n" = "$name" ] || continue
    found=1
    echo "# bench/$n" >&2
    if [ "$kind" = s ]; then
        "$here/$n" "$build" || { echo "bench/run.sh: $n failed" >&2; status=1; }
    else
        "$build/bin/bench_$n" || { echo "bench/run.sh: $n failed" >&2; status=1; }
    fi
done
if [ "$found" = 0 ] && [ -n "$name" ]; then
    echo "bench/run.sh: no benchmark '$name' (have:$(echo "$list" | sed 's/ [sp]:/ /g'))" >&2
    exit 2
fi
exit $status
