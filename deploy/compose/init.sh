#!/bin/sh
# The compose deployment's init job and fleet launcher (deploy/compose/compose.yaml), run
# in the corio-tools image:
#
#   init.sh init    once: the organisation's key and CA (corio ca), a key and certificate
#                   for the cloud broker, corio-cloud, the gateway and the ledger node,
#                   the simulated devices, the registry and every configuration file;
#                   a second run finds them and changes nothing
#   init.sh fleet   runs the simulated devices against the gateway (corio sim run)
#
# Everything goes under $CORIO_STATE (default /state), one directory per service so each
# mounts only its own keys: ca/ (the organisation's key: only this job sees it),
# etc/broker, etc/cloud, etc/gateway, etc/ledger (mounted read-only at /etc/corio), and
# fleet/ (the devices' keys and flash files). Run as root, it hands the files to the
# services' user (10001) and keeps keys at mode 0600.
#
# Names and ports (defaults are the compose network's): BROKER_HOST, BROKER_PORT,
# GATEWAY_HOST, GATEWAY_MQTTS_PORT, GATEWAY_LOOPBACK_PORT, GATEWAY_HTTP_PORT,
# CLOUD_HTTP_PORT, LEDGER_HOST, LEDGER_RAFT_PORT, LEDGER_API_PORT, DEVICES, ORG_NAME,
# SIM_RATE.
set -eu

state=${CORIO_STATE:-/state}
broker_host=${BROKER_HOST:-broker}
broker_port=${BROKER_PORT:-8883}
gateway_host=${GATEWAY_HOST:-gateway}
device_port=${GATEWAY_MQTTS_PORT:-8883}
loopback_port=${GATEWAY_LOOPBACK_PORT:-1883}
gateway_http=${GATEWAY_HTTP_PORT:-9100}
cloud_http=${CLOUD_HTTP_PORT:-8080}
ledger_host=${LEDGER_HOST:-ledger}
ledger_raft=${LEDGER_RAFT_PORT:-7400}
ledger_api=${LEDGER_API_PORT:-8400}
devices=${DEVICES:-20}
org_name=${ORG_NAME:-Compose Organisation}
uid=10001

say() { printf 'corio-compose: %s\n' "$*" >&2; }
field() { sed -n "s/^$1 //p" "$2"; }
# A host is given to corio ca sign as --ip when it is an address, else as --dns.
name_opt() { case "$1" in *[!0-9.:]*) echo "--dns $1" ;; *) echo "--ip $1" ;; esac; }

fleet() {
    args="$state/fleet/sim.args"
    [ -f "$args" ] || { say "no $args: run the init job first"; exit 1; }
    # sim.args holds one argument per line, written by init below.
    set --
    while IFS= read -r a; do set -- "$@" "$a"; done <"$args"
    exec corio sim run "$@"
}

init() {
    if [ -f "$state/.initialised" ]; then
        say "already initialised ($state); nothing changed"
        exit 0
    fi
    # A run that stopped half-way starts again from nothing: no half-made identity.
    rm -rf "$state/ca" "$state/etc" "$state/fleet"
    umask 077
    mkdir -p "$state/ca" "$state/etc/broker" "$state/etc/cloud" "$state/etc/gateway" \
        "$state/etc/ledger" "$state/fleet"
    ca=$state/ca
    for k in org gateway broker cloud ledger; do
        corio key new --out "$ca/$k.pem" >"$ca/$k.txt"
    done
    org=$(field id "$ca/org.txt")
    gw=$(field id "$ca/gateway.txt")
    gw_key=$(field didkey "$ca/gateway.txt")

    corio ca new --org-key "$ca/org.pem" --out "$ca/ca" --name "$org_name" >/dev/null
    # shellcheck disable=SC2046
    corio ca sign --ca "$ca/ca" --key "$ca/gateway.pem" --role gateway \
        $(name_opt "$gateway_host") --dns localhost --ip 127.0.0.1 --out "$ca/gateway.crt" >/dev/null
    # shellcheck disable=SC2046
    corio ca sign --ca "$ca/ca" --key "$ca/broker.pem" --role cloud --cn cloud-broker \
        $(name_opt "$broker_host") --dns localhost --ip 127.0.0.1 --out "$ca/broker.crt" >/dev/null
    corio ca sign --ca "$ca/ca" --key "$ca/cloud.pem" --role cloud --out "$ca/corio-cloud.crt" >/dev/null
    # shellcheck disable=SC2046
    corio ca sign --ca "$ca/ca" --key "$ca/ledger.pem" --role ledger-node --node-id 1 \
        $(name_opt "$ledger_host") --ip 127.0.0.1 --out "$ca/ledger.crt" >/dev/null

    corio sim provision --devices "$devices" --dir "$state/fleet/devices" --org "$org" \
        --gateway-ca "$ca/ca/ca.crt" --registry-out "$ca/devices.reg" >/dev/null
    {
        echo "height 1"
        echo "org $org $org_name"
        echo "gateway $gw org=$org key=$gw_key key_no=0"
        cat "$ca/devices.reg"
    } >"$ca/registry"

    # The cloud broker: mutual TLS only, each gateway held to its own topics (as in
    # docs/operations.md, "TLS").
    b=$state/etc/broker
    cp "$ca/broker.crt" "$b/broker.crt"
    cp "$ca/broker.pem" "$b/broker.pem"
    cp "$ca/ca/ca.crt" "$b/ca-bundle.pem"
    cat >"$b/acl" <<ACL
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
ACL
    cat >"$b/mosquitto.conf" <<CONF
# The cloud broker (written by deploy/compose/init.sh).
per_listener_settings false
allow_anonymous false
acl_file /etc/corio/acl
persistence true
persistence_location /var/lib/corio/
log_dest stderr
listener $broker_port
certfile /etc/corio/broker.crt
keyfile /etc/corio/broker.pem
cafile /etc/corio/ca-bundle.pem
require_certificate true
use_identity_as_username true
use_username_as_clientid true
CONF

    c=$state/etc/cloud
    cp "$ca/corio-cloud.crt" "$ca/cloud.pem" "$ca/ca/ca.crt" "$ca/registry" "$c/"
    cat >"$c/corio-cloud.conf" <<CONF
# corio-cloud (written by deploy/compose/init.sh; corio-cloud --help lists every key).
org $org
database /var/lib/corio/cloud.db
registry /etc/corio/registry
http_address 0.0.0.0
http_port $cloud_http
web_root /opt/corio/share/web
broker_host $broker_host
broker_port $broker_port
broker_tls_ca /etc/corio/ca.crt
broker_tls_cert /etc/corio/corio-cloud.crt
broker_tls_key /etc/corio/cloud.pem
CONF

    g=$state/etc/gateway
    cp "$ca/gateway.crt" "$ca/gateway.pem" "$ca/ca/ca.crt" "$ca/registry" "$g/"
    cat >"$g/corio-gateway.conf" <<CONF
# corio-gateway (written by deploy/compose/init.sh; corio-gateway --help lists every key).
gateway_id $gw
key /etc/corio/gateway.pem
outbox /var/lib/corio/outbox.db
registry /etc/corio/registry
broker_dir /var/lib/corio/broker
cloud_host $broker_host
cloud_port $broker_port
cloud_tls_ca /etc/corio/ca.crt
cloud_tls_cert /etc/corio/gateway.crt
mqtt_address 0.0.0.0
mqtt_port 0
mqtts_port $device_port
tls_cert /etc/corio/gateway.crt
coaps_port 0
loopback_port $loopback_port
http_address 0.0.0.0
http_port $gateway_http
CONF

    l=$state/etc/ledger
    cp "$ca/ledger.crt" "$ca/ledger.pem" "$ca/ca/ca.crt" "$l/"
    cat >"$l/corio-ledger.conf" <<CONF
# corio-ledger, this organisation's node, alone until others are admitted (written by
# deploy/compose/init.sh; corio-ledger --help lists every key).
node_id 1
raft_address $ledger_host:$ledger_raft
raft_bind 0.0.0.0:$ledger_raft
listen 0.0.0.0:$ledger_api
data_dir /var/lib/corio/ledger
tls_cert /etc/corio/ledger.crt
tls_key /etc/corio/ledger.pem
tls_ca /etc/corio/ca.crt
CONF

    printf '%s\n' --dir "$state/fleet/devices" --gateway "$gateway_host:$device_port" \
        --gateway-id "$gw" --tls --server-name "$gateway_host" \
        --rate "${SIM_RATE:-1}" --summary "$state/fleet/sim.json" >"$state/fleet/sim.args"

    # Certificates and configurations are public to their service; keys stay 0600.
    find "$state/etc" "$state/fleet" -type d -exec chmod 0750 {} +
    find "$state/etc" -type f -exec chmod 0640 {} +
    chmod 0600 "$b/broker.pem" "$c/cloud.pem" "$g/gateway.pem" "$l/ledger.pem"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R "$uid:$uid" "$state/etc" "$state/fleet"
        chmod 0755 "$state" "$state/etc"
    fi
    touch "$state/.initialised"
    say "organisation $org, gateway $gw, $devices devices; CA in $state/ca (keep it offline)"
}

case "${1:-init}" in
init) init ;;
fleet) fleet ;;
*) say "usage: init.sh [init|fleet]"; exit 2 ;;
esac
