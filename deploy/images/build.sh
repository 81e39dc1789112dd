#!/bin/sh
# Builds Corio's images from deploy/images/Dockerfile with podman (or docker:
# CONTAINER_ENGINE=docker), tagged corio-<target>:<version>-<commit>, :<version> and :latest.
#
#   deploy/images/build.sh [gateway|cloud|ledger|tools ...]    default: all four
#
# The dashboard must be built first (make web). Where no registry can be reached, make
# the debian:12 base with deploy/images/base-image.sh. Extra engine options go in
# BUILD_OPTS (e.g. BUILD_OPTS="--network host"); REGISTRY prefixes the tags.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
engine=${CONTAINER_ENGINE:-podman}
targets=${*:-gateway cloud ledger tools}
version=$(sed -n 's/^project(corio VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
prefix=${REGISTRY:+$REGISTRY/}

[ -f "$top/web/dist/index.html" ] || case " $targets " in
*" cloud "*) echo "build: web/dist is missing; run make web first" >&2; exit 1 ;;
esac

# podman: the ignore file by name (BuildKit finds Dockerfile.dockerignore itself), and the
# docker image format, the one that keeps HEALTHCHECK.
extra=""
[ "$engine" != podman ] || extra="--format docker --ignorefile $top/deploy/images/Dockerfile.dockerignore"

for t in $targets; do
    case "$t" in gateway | cloud | ledger | tools) ;; *) echo "build: unknown target $t" >&2; exit 2 ;; esac
    echo "build: corio-$t:$version-$rev" >&2
    # shellcheck disable=SC2086
    "$engine" build ${BUILD_OPTS:-} $extra -f "$top/deploy/images/Dockerfile" --target "$t" \
        --label "org.opencontainers.image.version=$version" \
        --label "org.opencontainers.image.revision=$rev" \
        -t "${prefix}corio-$t:$version-$rev" -t "${prefix}corio-$t:$version" \
        -t "${prefix}corio-$t:latest" "$top"
done
