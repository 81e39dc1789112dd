#!/bin/sh
# Installs what Corio needs to build, test and run its demo on Debian 12, idempotently:
# Debian packages that are missing (one `apt-get update`, only when something is missing)
# and the dashboard's npm packages from the committed lock file. `make demo` and
# `make test` call this first, so each is one command on a fresh machine.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-npm   Debian packages only
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

# One package per line: what it is for follows the name.
packages="
build-essential         compilers, make
cmake                   the build
pkg-config              finding libraries
clang                   libFuzzer builds (make fuzz)
libclang-rt-14-dev      libFuzzer and sanitizer runtimes for clang
mosquitto               edge and cloud MQTT broker
mosquitto-clients       mosquitto_pub/sub for debugging
mosquitto-dev           the broker plugin API headers
libmosquitto-dev        MQTT client library for Linux programs
nats-server             data bus and broker at scale
libnats-dev             NATS client library
libraft-dev             Raft consensus for the ledger
libuv1-dev              event loop under libraft
libcoap3-dev            CoAP at the gateway
libcoap3-bin            coap-server and coap-client for interop tests
libmicrohttpd-dev       HTTP server
libjansson-dev          JSON
libmbedtls-dev          device TLS and PSA crypto
libssl-dev              server TLS and crypto
openssl                 the openssl command: test certificates (tests/harness/pki.c)
liblua5.4-dev           functions
libcurl4-openssl-dev    webhooks and S3
libcmocka-dev           unit tests
libsqlite3-dev          embedded storage
zlib1g-dev              CRC-32 of the gateway's intake log
sqlite3                 the sqlite3 shell for inspection
libpq-dev               PostgreSQL client
postgresql              PostgreSQL server for tests
chromium                headless browser for dashboard tests
nodejs                  dashboard build
npm                     dashboard packages
gcc-arm-none-eabi       Cortex-M4 footprint build
libnewlib-arm-none-eabi newlib-nano for Cortex-M4
gcc-riscv64-unknown-elf RV32IMC footprint build
picolibc-riscv64-unknown-elf picolibc for RV32IMC
curl                    talking to the API from scripts
"

want=$(printf '%s\n' "$packages" | awk 'NF { print $1 }')

missing=""
for p in $want; do
    case "$p" in
    nodejs | npm)
        # A machine may carry Node.js from elsewhere (nodesource); any node >= 18 serves.
        command -v "$( [ "$p" = nodejs ] && echo node || echo npm)" >/dev/null 2>&1 && continue ;;
    esac
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    "install ok installed") ;;
    *) missing="$missing $p" ;;
    esac
done

if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing Debian packages:$missing"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
    # Debian starts brokers and databases as services on install; Corio's tests and
    # demo start their own on free ports, so stop the system-wide ones if any run.
    for svc in mosquitto nats-server postgresql; do
        if command -v service >/dev/null 2>&1; then $sudo service "$svc" stop >/dev/null 2>&1 || true; fi
    done
fi

if [ "${1:-}" != "--no-npm" ] && [ -f "$top/web/package-lock.json" ]; then
    stamp="$top/web/node_modules/.corio-lock"
    if ! [ -f "$stamp" ] || ! cmp -s "$top/web/package-lock.json" "$stamp"; then
        echo "setup: npm ci in web/"
        (cd "$top/web" && npm ci --no-audit --no-fund --loglevel=error)
        cp "$top/web/package-lock.json" "$stamp"
    fi
fi
