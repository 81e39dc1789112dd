#!/bin/sh
# Makes the debian:12 base image locally, for machines that cannot pull from a container
# registry: a minimal Debian 12 (bookworm) tree from debootstrap, imported into podman
# (or docker) under the name the Dockerfile starts FROM. Where registry pulls work, this
# is not needed: the official debian:12 image is the same distribution.
#
#   deploy/images/base-image.sh [TAG]        default TAG: debian:12
#
# The Debian mirror is the one this machine's apt uses (DEBIAN_MIRROR overrides it), so
# the image installs from where the host does. Needs root (debootstrap).
set -eu

tag=${1:-debian:12}
engine=${CONTAINER_ENGINE:-podman}

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    # deb822 sources first (Debian 12's default), then the one-line format.
    mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' \
        /etc/apt/sources.list 2>/dev/null)
fi
[ -n "$mirror" ] || { echo "base-image: no Debian mirror found; set DEBIAN_MIRROR" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "base-image: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
# The image's apt gets bookworm-updates and security too, from the same host.
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SOURCES
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
tar -C "$root" -c . | "$engine" import --change 'CMD ["/bin/bash"]' - "$tag" >&2
echo "base-image: $tag"
