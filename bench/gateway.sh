# bench/gateway.sh - run by bench/gateway_<name> (sh gateway.sh <build-dir> <name>): runs one of the gateway's
# benchmarks (bench/gateway_bench.c): rate, drain, bridge, devices. Not executable
# itself, so bench/run.sh runs each benchmark once, through its own script.
# Prints DESIGN.md §8 lines on stdout; notes on stderr.
set -eu
build=$(cd "${1:?usage: bench/gateway_$2 <build-dir>}" && pwd)
bin="$build/bin/corio-bench-gateway"
if [ ! -x "$bin" ] || [ ! -x "$build/bin/corio-loadgen" ]; then
    echo "bench/gateway_$2: $bin is missing: build first (make build)" >&2
    exit 1
fi
export CORIO_BIN_DIR="$build/bin" CORIO_LIB_DIR="$build/lib"
CORIO_SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
export CORIO_SOURCE_DIR
echo "# gateway_$2: $(nproc) cores, $(uname -m), $(/usr/sbin/mosquitto -h 2>/dev/null | head -1)" >&2
exec "$bin" "$2"
