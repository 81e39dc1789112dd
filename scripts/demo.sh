#!/usr/bin/env bash
# The whole platform on one machine: simulated devices → gateway (Mosquitto + corio
# plugin, corio-gateway) → cloud broker → corio-cloud → dashboard. Everything runs in
# run/demo/ with generated identities and configurations, and stops cleanly on Ctrl-C.
# TLS everywhere: the organisation's CA (corio ca, its own key) certifies the gateway,
# the cloud broker and corio-cloud; devices verify the gateway with the trust anchor
# they were provisioned with; the cloud broker takes only clients with a certificate
# from the organisations' CAs, and holds each gateway to its own topics.
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

# Identities: an organisation, its gateway, and the devices, each a did:corio; keys
# for the cloud broker and corio-cloud.
field() { sed -n "s/^$1 //p" "$2"; }
for k in org gateway broker cloud; do
    "$bin/corio" key new --out "$run/$k.pem" >"$run/$k.txt"
done
org=$(field id "$run/org.txt")
gw=$(field id "$run/gateway.txt")
gw_key=$(field didkey "$run/gateway.txt")

# Certificates: the organisation's CA, signed by its own key; one certificate for the
# gateway's key, which serves its devices (as localhost) and identifies it to the cloud
# broker; the cloud broker's server certificate; corio-cloud's client certificate.
{
    "$bin/corio" ca new --org-key "$run/org.pem" --out "$run/ca" --name "Demo Organisation"
    "$bin/corio" ca sign --ca "$run/ca" --key "$run/gateway.pem" --role gateway \
        --dns localhost --ip 127.0.0.1 --out "$run/gateway.crt"
    "$bin/corio" ca sign --ca "$run/ca" --key "$run/broker.pem" --role cloud --cn cloud-broker \
        --dns localhost --ip 127.0.0.1 --out "$run/broker.crt"
    "$bin/corio" ca sign --ca "$run/ca" --key "$run/cloud.pem" --role cloud \
        --out "$run/corio-cloud.crt"
} >"$run/logs/ca.log"
ca=$run/ca/ca.crt
# The devices, each provisioned with the organisation's CA as its trust anchor for the
# gateway (<id>.ca.pem beside its key, docs/onboarding.md).
"$bin/corio" sim provision --devices "$devices" --dir "$run/devices" --org "$org" \
    --gateway-ca "$ca" --registry-out "$run/devices.reg" >"$run/logs/provision.log"
# The CA certificates of the organisations the cloud broker accepts clients from: one.
cp "$ca" "$run/ca-bundle.pem"
{
    echo "height 1"
    echo "org $org Demo Organisation"
    echo "gateway $gw org=$org key=$gw_key key_no=0"
    cat "$run/devices.reg"
} >"$run/registry"
say "organisation $org, gateway $gw, $devices devices; certificates from the CA in $run/ca"

# The cloud broker: mutual TLS only; a client's name is its certificate's CN (a gateway's
# short id, corio-cloud-<org>), which is also its client id, and the ACL holds each
# gateway to its own topics. Signed batches do the rest (DESIGN.md §3).
cat >"$run/cloud-acl" <<EOF
pattern write corio/v1/g/%u/batch
pattern write corio/v1/g/%u/state
pattern write corio/v1/g/%u/status
pattern read corio/v1/g/%u/ack
pattern read corio/v1/g/%u/down
user corio-cloud-$org
topic read corio/v1/g/+/batch
topic read corio/v1/g/+/state
topic read corio/v1/g/+/status
topic write corio/v1/g/+/ack
topic write corio/v1/g/+/down
EOF
cat >"$run/cloud-mosquitto.conf" <<EOF
per_listener_settings false
allow_anonymous false
acl_file $run/cloud-acl
max_queued_messages 0
persistence false
log_dest stderr
listener $cloud_broker_port 127.0.0.1
certfile $run/broker.crt
keyfile $run/broker.pem
cafile $run/ca-bundle.pem
require_certificate true
use_identity_as_username true
use_username_as_clientid true
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
broker_tls_ca $ca
broker_tls_cert $run/corio-cloud.crt
broker_tls_key $run/cloud.pem
EOF
"$bin/corio-cloud" -c "$run/corio-cloud.conf" >"$run/logs/corio-cloud.log" 2>&1 &
pids+=($!)

cat >"$run/corio-gateway.conf" <<EOF
gateway_id $gw
key $run/gateway.pem
outbox $run/gateway/outbox.db
registry $run/registry
cloud_port $cloud_broker_port
cloud_tls_ca $ca
cloud_tls_cert $run/gateway.crt
broker_dir $run/gateway/broker
mqtt_address 127.0.0.1
mqtt_port 0
mqtts_port $device_port
tls_cert $run/gateway.crt
coaps_port 0
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
    --tls --server-name localhost --summary "$run/sim.json")
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
