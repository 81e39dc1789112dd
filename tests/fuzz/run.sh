#!/bin/sh
# Runs every libFuzzer target (or the one named) for the given number of seconds,
# starting from its seed corpus; new inputs go to a scratch corpus under the build
# directory, crashes to build/fuzz/crashes/. Usage: run.sh <build-dir> <seconds> [name]
set -eu
build=$1 seconds=$2 only=${3:-}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/crashes"
status=0
for bin in "$build"/bin/fuzz_*; do
    name=${bin##*/fuzz_}
    [ -z "$only" ] || [ "$only" = "$name" ] || continue
    work="$build/corpus/$name"
    mkdir -p "$work"
    echo "fuzz $name: ${seconds}s"
    if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$name-" "$work" "$src/corpus/$name" \
        >"$build/fuzz-$name.log" 2>&1; then
        echo "fuzz $name: FAILED, see $build/fuzz-$name.log"
        status=1
    else
        grep -E 'stat::number_of_executed_units|cov:' "$build/fuzz-$name.log" | tail -2
    fi
done
exit $status
