#!/usr/bin/env bash
# The whole platform on one machine: simulated devices → gateway (Mosquitto + corio
# plugin, corio-gateway) → cloud broker → corio-cloud → dashboard. Everything runs in
# run/demo/ with generated identities and configurations, and stops cleanly on Ctrl-C.
#
#   scripts/demo.sh <build-dir> [--duration SECONDS] [--devices N]
#
# With --duration the devices stop after that many seconds, the pipeline drains, and the
# last line printed is: sent=<messages the devices sent> stored=<distinct messages in
# the cloud store> gaps=<sequence numbers missing>.
# Ports: DEMO_PORT (default 18080) for the dashboard and the next few for the rest.
set -euo pipefail

build=${1:?usage: scripts/demo.sh <build-dir> [--duration S] [--devices N]}
shift
duration=""
devices=20
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) duration=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    *) echo "demo: unknown option $1" >&2; exit 2 ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$build/bin" && pwd)
run=$top/run/demo
base=${DEMO_PORT:-18080}
http_port=$base
cloud_broker_port=$((base + 1))
device_port=$((base + 2))
loopback_port=$((base + 3))
gateway_http_port=$((base + 4))

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

for p in $http_port $cloud_broker_port $device_port $loopback_port $gateway_http_port; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p is in use; set DEMO_PORT to another base port"
    fi
done
[ -f "$top/web/dist/index.html" ] || die "the dashboard is not built (make web)"

pids=()
cleanup() {
    trap - EXIT INT TERM
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

rm -rf "$run"
mkdir -p "$run/logs"

# Identities: an organisation, its gateway, and the devices, each a did:corio.
field() { sed -n "s/^$1 //p" "$2"; }
"$bin/corio" key new --out "$run/org.pem" >"$run/org.txt"
"$bin/corio" key new --out "$run/gateway.pem" >"$run/gateway.txt"
org=$(field id "$run/org.txt")
gw=$(field id "$run/gateway.txt")
gw_key=$(field didkey "$run/gateway.txt")
"$bin/corio" sim provision --devices "$devices" --dir "$run/devices" --org "$org" \
    --registry-out "$run/devices.reg" >"$run/logs/provision.log"
{
    echo "height 1"
    echo "org $org Demo Organisation"
    echo "gateway $gw org=$org key=$gw_key key_no=0"
    cat "$run/devices.reg"
} >"$run/registry"
say "organisation $org, gateway $gw, $devices devices"

# The cloud broker.
cat >"$run/cloud-mosquitto.conf" <<EOF
listener $cloud_broker_port 127.0.0.1
allow_anonymous true
max_queued_messages 0
persistence false
log_dest stderr
EOF
[ "$(id -u)" -ne 0 ] || echo "user root" >>"$run/cloud-mosquitto.conf"
mosquitto -c "$run/cloud-mosquitto.conf" >"$run/logs/cloud-mosquitto.log" 2>&1 &
pids+=($!)

cat >"$run/corio-cloud.conf" <<EOF
org $org
database $run/cloud.db
registry $run/registry
http_port $http_port
web_root $top/web/dist
broker_port $cloud_broker_port
EOF
"$bin/corio-cloud" -c "$run/corio-cloud.conf" >"$run/logs/corio-cloud.log" 2>&1 &
pids+=($!)

cat >"$run/corio-gateway.conf" <<EOF
gateway_id $gw
key $run/gateway.pem
outbox $run/gateway/outbox.db
registry $run/registry
cloud_port $cloud_broker_port
broker_dir $run/gateway/broker
mqtt_address 127.0.0.1
mqtt_port $device_port
mqtts_port 0
loopback_port $loopback_port
http_port $gateway_http_port
EOF
mkdir -p "$run/gateway"
"$bin/corio-gateway" -c "$run/corio-gateway.conf" >"$run/logs/corio-gateway.log" 2>&1 &
pids+=($!)

wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing answers on port $1 ($2); see $run/logs/"
}
wait_port $http_port corio-cloud
wait_port $device_port "the gateway's broker"

sim_args=(--dir "$run/devices" --gateway "127.0.0.1:$device_port" --gateway-id "$gw"
    --summary "$run/sim.json")
[ -z "$duration" ] || sim_args+=(--duration "$duration")
"$bin/corio" sim run "${sim_args[@]}" >"$run/logs/sim.log" 2>&1 &
sim=$!

say "dashboard: http://127.0.0.1:$http_port/"
say "logs in $run/logs/; metrics: http://127.0.0.1:$http_port/metrics and http://127.0.0.1:$gateway_http_port/metrics"

if [ -z "$duration" ]; then
    say "running until Ctrl-C"
    trap 'kill -TERM $sim 2>/dev/null || true' INT TERM
fi
# wait returns early when a trapped signal arrives; the simulator is still draining.
while kill -0 $sim 2>/dev/null; do wait $sim || true; done
trap cleanup EXIT

# The devices have stopped and drained their outboxes into the gateway: wait until the
# cloud holds every message they sent, then account for them.
sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$run/logs/sim.log" | tail -1)
[ -n "$sent" ] || die "the simulator did not report what it sent; see $run/logs/sim.log"
stored_now() {
    curl -sf "http://127.0.0.1:$http_port/api/v1/devices" |
        grep -o '"messages":[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }'
}
stored=0
for _ in $(seq 600); do
    stored=$(stored_now)
    [ "$stored" -ge "$sent" ] && break
    sleep 0.1
done
gaps=$(curl -sf "http://127.0.0.1:$http_port/api/v1/stats" | grep -o '"missing":[0-9]*' | cut -d: -f2)
echo "sent=$sent stored=$stored gaps=${gaps:-?}"
