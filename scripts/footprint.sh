#!/usr/bin/env bash
# footprint.sh - what the device SDK costs a microcontroller: flash and RAM of the full
# example application (examples/footprint) on Cortex-M4 and RV32IMC, per module, and
# mbedTLS's separate cost for ES256 + SHA-256 through PSA and for a TLS 1.2 client.
# `make footprint` runs it; docs/footprint.md says what it measures and how.
#
#   scripts/footprint.sh <build dir>
#
# Steps:
#   1. checks the tools (and fails naming the Debian package that is missing);
#   2. compiles every sdk/src file for both targets as strict C99 with -Wpedantic
#      -Wconversion -Werror (the check CI runs);
#   3. fetches Debian's mbedTLS source package into the build directory with a private
#      apt source list (the system's apt configuration is never touched) and builds it
#      for each target with the minimal configurations in examples/footprint/*.cfg;
#   4. links the example with the SDK, the port and mbedTLS into a complete image per
#      target with --gc-sections and reads from the linker map what each object
#      contributed (the sums are checked against the ELF's section sizes);
#   5. prints the tables, writes them into docs/footprint.md between its markers, and
#      prints last: footprint mqtt_flash=<B> core_flash=<B> core_ram=<B> (Cortex-M4).
#
# Everything it builds stays under <build dir>; the mbedTLS builds are cached there
# and rebuilt only when the source version, a configuration or the flags change.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 <build dir>" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
ex=$top/examples/footprint
doc=$top/docs/footprint.md
jobs=${FOOTPRINT_JOBS:-2}

die() {
    echo "footprint: error: $*" >&2
    exit 1
}
note() { echo "footprint: $*" >&2; }

# ---- 1. tools ----------------------------------------------------------------------

need() { # command, Debian package
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found: install the Debian package $2 (scripts/setup.sh does)"
}
need arm-none-eabi-gcc gcc-arm-none-eabi
need arm-none-eabi-size binutils-arm-none-eabi
need riscv64-unknown-elf-gcc gcc-riscv64-unknown-elf
need riscv64-unknown-elf-size binutils-riscv64-unknown-elf
need apt-get apt
need dpkg-source dpkg-dev
need dpkg-query dpkg
for t in awk sed sort cmp sha256sum xargs; do need "$t" coreutils; done

# Per target: compiler, size tool, flags, the C library's specs, startup's parking
# handler (what the board's symbols resolve to) and the port directory.
cm4_cc=arm-none-eabi-gcc
cm4_size=arm-none-eabi-size
cm4_arch="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
cm4_libc="--specs=nano.specs"
cm4_park=Default_Handler
cm4_port=$top/sdk/port/cortex-m4
cm4_ld=$cm4_port/cortex-m4.ld
cm4_name="Cortex-M4F (thumb, hard float, newlib-nano)"

rv32_cc=riscv64-unknown-elf-gcc
rv32_size=riscv64-unknown-elf-size
rv32_arch="-march=rv32imc -mabi=ilp32"
rv32_libc="--specs=picolibc.specs"
rv32_park=corio_rv32_trap
rv32_port=$top/sdk/port/rv32
rv32_ld=$rv32_port/rv32.ld
rv32_name="RV32IMC (ilp32, picolibc)"

targets="cm4 rv32"
tv() { eval "printf '%s' \"\$${1}_$2\""; } # tv <target> <var>

libc_check() { # target, the C library's specs file, package
    [ -f "$($(tv "$1" cc) -print-file-name="$2")" ] || die "$2 for $1 not found: install the Debian package $3"
}
libc_check cm4 nano.specs libnewlib-arm-none-eabi
libc_check rv32 picolibc.specs picolibc-riscv64-unknown-elf

opt="-Os -ffunction-sections -fdata-sections"
strict="-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
        -Wstrict-prototypes -Wmissing-prototypes -Werror"

# ---- 2. sdk/src as strict C99 for both targets ---------------------------------------

ci_dir=$out/ci
rm -rf "$ci_dir"
mkdir -p "$ci_dir"
ci_fail=0
for t in $targets; do
    for f in "$top"/sdk/src/*.c; do
        o=$ci_dir/$t-$(basename "$f" .c).o
        # shellcheck disable=SC2046,SC2086
        if ! $(tv $t cc) $(tv $t arch) $(tv $t libc) $opt $strict -DCORIO_SDK_CORE=1 \
            -I"$top/include" -I"$top/sdk/src" -c "$f" -o "$o" 2>"$o.log"; then
            cat "$o.log" >&2
            ci_fail=1
        fi
    done
done
[ $ci_fail -eq 0 ] || die "sdk/src does not build as strict C99 for every target (above)"
note "sdk/src: $(ls "$top"/sdk/src/*.c | wc -l) files build as strict C99 (-Wpedantic -Wconversion -Werror) for Cortex-M4 and RV32IMC"

# ---- 3. mbedTLS from Debian's source package ----------------------------------------

mb=$out/mbedtls
mkdir -p "$mb"
mb_version=$(dpkg-query -W -f='${Version}' libmbedtls-dev 2>/dev/null || true)
mb_src=$mb/src
if ! [ -f "$mb/src.stamp" ] || [ "$(cat "$mb/src.stamp")" != "${mb_version:-any}" ]; then
    rm -rf "$mb_src" "$mb/apt" "$mb/dl" "$mb/src.stamp"
    # The mirror apt already uses, read from the system's sources (deb822 or one-line).
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
        mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
    fi
    [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    mkdir -p "$mb/apt/lists/partial" "$mb/apt/cache/archives/partial" "$mb/dl"
    echo "deb-src $mirror bookworm main" >"$mb/apt/sources.list"
    aptq() {
        apt-get -q -o Dir::Etc::sourcelist="$mb/apt/sources.list" -o Dir::Etc::sourceparts=- \
            -o Dir::State::Lists="$mb/apt/lists" -o Dir::Cache="$mb/apt/cache" \
            -o APT::Sandbox::User=root "$@"
    }
    note "fetching Debian's mbedTLS source package (${mb_version:-newest}) from $mirror"
    aptq update >"$mb/apt/update.log" 2>&1 || { cat "$mb/apt/update.log" >&2; die "apt-get update (private source list) failed"; }
    (cd "$mb/dl" && aptq source --download-only "mbedtls${mb_version:+=$mb_version}") >"$mb/apt/source.log" 2>&1 ||
        { cat "$mb/apt/source.log" >&2; die "apt-get source mbedtls${mb_version:+=$mb_version} failed"; }
    dsc=$(ls "$mb"/dl/mbedtls_*.dsc)
    dpkg-source -x "$dsc" "$mb_src" >"$mb/apt/extract.log" 2>&1 || { cat "$mb/apt/extract.log" >&2; die "dpkg-source -x failed"; }
    echo "${mb_version:-any}" >"$mb/src.stamp"
fi
[ -f "$mb_src/include/mbedtls/config.h" ] || die "$mb_src is not an mbedTLS 2.x source tree"
mb_upstream=$(awk '/#define MBEDTLS_VERSION_STRING / { gsub(/"/, "", $3); print $3 }' "$mb_src/include/mbedtls/version.h")

# make_config <out file> <option lists...>: mbedTLS's config.h with every option off,
# then those of the lists on; an option the lists name that config.h lacks is an error.
make_config() {
    local dst=$1
    shift
    awk '{ sub(/#.*/, "") } NF { print }' "$@" >"$dst.opts"
    awk -v optsfile="$dst.opts" '
        BEGIN {
            while ((getline line < optsfile) > 0) {
                n = split(line, f, /[ \t]+/)
                name = f[1]; value = ""
                for (i = 2; i <= n; i++) value = value (i > 2 ? " " : "") f[i]
                want[name] = value; order[++count] = name
            }
        }
        /^#define MBEDTLS_CONFIG_H/ { print; next }
        /^(\/\/)?#define MBEDTLS_[A-Z0-9_]+/ {
            line = $0; sub(/^\/\//, "", line)
            split(line, f, /[ \t]+/); name = f[2]
            if (name in want) {
                print "#define " name (want[name] != "" ? " " want[name] : "")
                found[name] = 1
            } else if ($0 ~ /^#define/) {
                print "//" $0
            } else {
                print
            }
            next
        }
        { print }
        END {
            for (i = 1; i <= count; i++)
                if (!(order[i] in found)) { print "unknown mbedTLS option " order[i] > "/dev/stderr"; bad = 1 }
            exit bad
        }' "$mb_src/include/mbedtls/config.h" >"$dst.tmp" || die "making $dst"
    mv "$dst.tmp" "$dst"
}

# The library's split into crypto, X.509 and TLS, as its own Makefile lists it.
mb_list() { awk -v v="$1" '$0 ~ "^" v "=" { on = 1; next } on && /^[ \t]*#/ { exit } on { for (i = 1; i <= NF; i++) if ($i ~ /\.o$/) { sub(/\.o$/, ".c", $i); print $i } }' "$mb_src/library/Makefile"; }

# build_mbedtls <target> <name> <option lists...>: libmbedcrypto.a, libmbedx509.a and
# libmbedtls.a in $mb/<target>-<name>, cached by a hash of everything that goes in.
build_mbedtls() {
    local t=$1 name=$2
    shift 2
    local dir=$mb/$t-$name cfg key
    mkdir -p "$dir/include"
    cfg=$dir/include/corio_mbedtls_config.h
    make_config "$cfg.new" "$@"
    key=$( (cat "$cfg.new"; echo "$mb_version $(tv "$t" cc) $(tv "$t" arch) $(tv "$t" libc) $opt"; $(tv "$t" cc) --version | head -1) | sha256sum | cut -c1-16)
    if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$key" ] && [ -f "$dir/libmbedcrypto.a" ]; then
        rm -f "$cfg.new" "$cfg.new.opts"
        return
    fi
    mv "$cfg.new" "$cfg"
    rm -f "$cfg.new.opts" "$dir/stamp" "$dir"/*.a
    rm -rf "$dir/obj"
    mkdir -p "$dir/obj"
    note "building mbedTLS $mb_upstream ($name) for $t"
    # shellcheck disable=SC2046,SC2086
    (cd "$mb_src/library" && ls *.c) | sed 's/\.c$//' | xargs -P "$jobs" -I{} \
        $(tv $t cc) $(tv $t arch) $(tv $t libc) $opt -std=c99 -DMBEDTLS_CONFIG_FILE='"corio_mbedtls_config.h"' \
        -I"$dir/include" -I"$mb_src/include" -c "$mb_src/library/{}.c" -o "$dir/obj/{}.o" 2>"$dir/build.log" ||
        { cat "$dir/build.log" >&2; die "building mbedTLS ($name) for $t failed"; }
    local x509 tls crypto f ar
    ar=$(dirname "$(command -v "$(tv "$t" cc)")")/$(tv "$t" cc | sed 's/gcc$/ar/')
    x509=$(mb_list OBJS_X509)
    tls=$(mb_list OBJS_TLS)
    [ -n "$x509" ] && [ -n "$tls" ] || die "cannot read the library lists of $mb_src/library/Makefile"
    crypto=""
    for f in $(cd "$mb_src/library" && ls *.c); do
        case " $(echo $x509 $tls) " in *" $f "*) ;; *) crypto="$crypto $f" ;; esac
    done
    (cd "$dir/obj" &&
        "$ar" rcs ../libmbedcrypto.a $(echo $crypto | sed 's/\.c/.o/g') &&
        "$ar" rcs ../libmbedx509.a $(echo $x509 | sed 's/\.c/.o/g') &&
        "$ar" rcs ../libmbedtls.a $(echo $tls | sed 's/\.c/.o/g')) || die "archiving mbedTLS ($name) for $t"
    echo "$key" >"$dir/stamp"
}

for t in $targets; do
    build_mbedtls "$t" crypto "$ex/mbedtls-crypto.cfg"
done
build_mbedtls cm4 tls "$ex/mbedtls-crypto.cfg" "$ex/mbedtls-tls.cfg"

# ---- 4. the example, linked per target ----------------------------------------------

# modules.conf: which modules have landed, their sources and groups.
conf=$ex/modules.conf
[ -f "$conf" ] || die "$conf missing"
gen=$out/gen
rm -rf "$gen"
mkdir -p "$gen"
: >"$gen/owners"   # <path relative to top> <group> <module>
: >"$gen/sources"  # SDK sources to build
: >"$gen/examples" # example files to build
{
    echo "/* fp_modules.h - generated by scripts/footprint.sh from modules.conf. */"
    echo "#ifndef FP_MODULES_H"
    echo "#define FP_MODULES_H"
    echo "#include \"corio_config.h\""
} >"$gen/fp_modules.h"
landed="" missing=""
while read -r kind name group rest; do
    case "$kind" in
    module)
        set -- $rest
        header=$1
        shift
        macro=FP_HAVE_$(echo "$name" | tr 'a-z' 'A-Z')
        if [ -f "$top/$header" ]; then
            echo "#define $macro 1" >>"$gen/fp_modules.h"
            landed="$landed $name"
            for g in "$@"; do
                for f in $top/$g; do
                    [ -f "$f" ] || continue
                    rel=${f#"$top"/}
                    echo "$rel $group $name" >>"$gen/owners"
                    echo "$rel" >>"$gen/sources"
                done
            done
        else
            echo "#define $macro 0" >>"$gen/fp_modules.h"
            missing="$missing $name"
        fi
        ;;
    example)
        needs=${rest%% *}
        if [ -z "$needs" ] || case " $landed " in *" $needs "*) true ;; *) false ;; esac; then
            [ -f "$ex/$name" ] || die "modules.conf names examples/footprint/$name, which does not exist"
            echo "examples/footprint/$name $group example" >>"$gen/owners"
            echo "$name" >>"$gen/examples"
        fi
        ;;
    '' | \#*) ;;
    *) die "modules.conf: cannot read the line starting '$kind'" ;;
    esac
done <"$conf"
echo "#endif" >>"$gen/fp_modules.h"
# sdk/src files that no module claims are built too, and reported.
unassigned=""
for f in "$top"/sdk/src/*.c; do
    rel=${f#"$top"/}
    if ! grep -q "^$rel " "$gen/owners"; then
        echo "$rel unassigned unassigned" >>"$gen/owners"
        echo "$rel" >>"$gen/sources"
        unassigned="$unassigned $rel"
    fi
done
[ -z "$unassigned" ] || note "warning: sdk/src files no module in examples/footprint/modules.conf claims:$unassigned"
board_syms=$(sed -n 's/^[a-z][a-z0-9_ *]*[ *]\(board_[a-z0-9_]*\)(.*/\1/p' "$ex/board.h" | sort -u)
[ -n "$board_syms" ] || die "no board_ functions found in $ex/board.h"

# compile <target> <variant> <source> <object> <extra flags...>
compile() {
    local t=$1 src=$2 obj=$3
    shift 3
    mkdir -p "$(dirname "$obj")"
    # shellcheck disable=SC2046,SC2086
    $(tv $t cc) $(tv $t arch) $(tv $t libc) $opt -std=c99 -Wall -Wextra -Werror \
        -DCORIO_CONFIG_FILE='"corio_config.h"' -I"$gen" -I"$ex" -I"$top/include" -I"$top/sdk/src" \
        -I"$(tv $t port)" "$@" -c "$top/$src" -o "$obj" ||
        die "$src does not build for $t"
}

# build_image <target> <variant> <mbedtls config> [extra flags]: compiles and links;
# leaves $out/<target>-<variant>/image.{elf,map} and objects under obj/, named by path.
build_image() {
    local t=$1 v=$2 mbcfg=$3
    shift 3
    local dir=$out/$t-$v mbdir=$mb/$t-$mbcfg objs="" f o defs=""
    rm -rf "$dir"
    mkdir -p "$dir/obj"
    local inc="-I$mbdir/include -I$mb_src/include -DMBEDTLS_CONFIG_FILE=\"corio_mbedtls_config.h\""
    while read -r f; do
        o=$dir/obj/$(echo "$f" | tr '/' '@' | sed 's/\.c$/.o/')
        case "$f" in
        sdk/src/*) compile "$t" "$f" "$o" -DCORIO_SDK_CORE=1 ;;
        *) compile "$t" "$f" "$o" $inc ;;
        esac
        objs="$objs $o"
    done <"$gen/sources"
    for f in "$(tv "$t" port)"/*.c; do
        f=${f#"$top"/}
        o=$dir/obj/$(echo "$f" | tr '/' '@' | sed 's/\.c$/.o/')
        compile "$t" "$f" "$o" $inc
        objs="$objs $o"
    done
    while read -r f; do
        o=$dir/obj/examples@footprint@${f%.c}.o
        compile "$t" "examples/footprint/$f" "$o" $inc "$@"
        objs="$objs $o"
    done <"$gen/examples"
    for f in $board_syms; do defs="$defs -Wl,--defsym=$f=$(tv "$t" park)"; done
    # shellcheck disable=SC2046,SC2086
    $(tv $t cc) $(tv $t arch) $(tv $t libc) -nostartfiles -T "$(tv $t ld)" \
        -Wl,--gc-sections -Wl,-Map="$dir/image.map" $defs -o "$dir/image.elf" $objs \
        "$mbdir/libmbedtls.a" "$mbdir/libmbedx509.a" "$mbdir/libmbedcrypto.a" 2>"$dir/link.log" ||
        { cat "$dir/link.log" >&2; die "linking the $t image ($v) failed"; }
}

for t in $targets; do
    build_image "$t" full crypto
done
build_image cm4 tls tls -DFP_TLS=1
