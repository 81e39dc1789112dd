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
# -msave-restore: prologues and epilogues as calls to libgcc's shared save/restore
# routines, GCC's code-size option for RISC-V (a few cycles per call for about 8 % of
# flash); Cortex-M4's push/pop already are single instructions.
rv32_arch="-march=rv32imc -mabi=ilp32 -msave-restore"
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

# -fno-jump-tables: switches as compare chains, which at -Os are smaller than GCC's
# tables of 4-byte addresses on both cores (measured: -0.4 % Cortex-M4, -0.9 % RV32).
opt="-Os -ffunction-sections -fdata-sections -fno-jump-tables"
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
    # The mirror and release apt already use, read from the system's sources (deb822 or
    # one-line): the first entry's URI and suite.
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    suite=$(awk '/^Suites:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
        set -- $(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i < NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i, $(i + 1); exit } }' /etc/apt/sources.list)
        mirror=${1:-} suite=${2:-}
    fi
    [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    [ -n "$suite" ] || suite=$( (. /etc/os-release && echo "${VERSION_CODENAME:-}") 2>/dev/null)
    [ -n "$suite" ] || die "cannot tell which Debian release the system's sources name"
    mkdir -p "$mb/apt/lists/partial" "$mb/apt/cache/archives/partial" "$mb/dl"
    echo "deb-src $mirror $suite main" >"$mb/apt/sources.list"
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
        sdk/src/*) compile "$t" "$f" "$o" -DCORIO_SDK_CORE=1 "$@" ;;
        *) compile "$t" "$f" "$o" $inc "$@" ;;
        esac
        objs="$objs $o"
    done <"$gen/sources"
    for f in "$(tv "$t" port)"/*.c "$top"/sdk/port/bare/*.c; do
        f=${f#"$top"/}
        o=$dir/obj/$(echo "$f" | tr '/' '@' | sed 's/\.c$/.o/')
        compile "$t" "$f" "$o" $inc "$@"
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
        -Wl,--gc-sections -Wl,--cref -Wl,-Map="$dir/image.map" $defs -o "$dir/image.elf" $objs \
        "$mbdir/libmbedtls.a" "$mbdir/libmbedx509.a" "$mbdir/libmbedcrypto.a" 2>"$dir/link.log" ||
        { cat "$dir/link.log" >&2; die "linking the $t image ($v) failed"; }
}

for t in $targets; do
    build_image "$t" full crypto
    # The same application with every device-size option of its corio_config.h at the
    # SDK's default: what those options save.
    build_image "$t" defaults crypto -DFP_DEFAULT_OPTIONS=1
done
build_image cm4 tls tls -DFP_TLS=1

# ---- 5. what each object kept, from the linker maps ---------------------------------

# mbed_libc <map>: the C library and libgcc members that only mbedTLS needs, one
# "archive(member)" a line, from the map's cross reference table (--cref): a member
# whose symbols are referenced by mbedTLS objects, or by members already found, and by
# nothing else. mbedTLS is counted apart, so what it alone pulls from the C library
# (strcmp for its curve names, exit for its heap's panic) is counted with it. The
# table lists references from code the linker then dropped too, so a member any of
# ours refers to stays ours: the split errs towards charging the SDK.
mbed_libc() {
    awk '
        function is_lib(f) { return f ~ /lib(c|c_nano|g|g_nano|m|m_nano|gcc)\.a\(/ }
        /^Cross Reference Table/ { on = 1; next }
        !on || /^Symbol[ \t]/ || NF == 0 { next }
        /^[^ ]/ { def = (NF >= 2 ? $2 : ""); next }     # a symbol and its definer
        def != "" && is_lib(def) && $1 != def {         # a file referring to it
            member[def] = 1
            if (!((def, $1) in seen)) { seen[def, $1] = 1; refs[def] = refs[def] "\n" $1 }
        }
        END {
            do {
                changed = 0
                for (m in member) {
                    if (m in mbed) continue
                    n = split(substr(refs[m], 2), r, "\n")
                    ok = n > 0
                    for (i = 1; i <= n && ok; i++)
                        ok = r[i] ~ /libmbed(crypto|x509|tls)\.a\(/ || (r[i] in mbed)
                    if (ok) { mbed[m] = 1; changed = 1 }
                }
            } while (changed)
            for (m in mbed) print m
        }' "$1"
}

# parse_map <map>: one line per contributor and output section kind:
#   <key> <text|rodata|data|bss> <bytes>
# key: the source path for our objects, mbedtls-<lib>:<member> for mbedTLS, libc for
# the C library and libgcc, mbedtls-libc:<member> for what only mbedTLS needs of them
# (mbed_libc), fill for alignment padding. Output sections of another name that take
# memory make it fail: the totals would no longer be the image.
parse_map() {
    awk -v mbedfile="$2" '
        BEGIN { while ((getline l < mbedfile) > 0) mbedlibc[l] = 1 }
        function hex(s,   i, v) {
            s = tolower(s); sub(/^0x/, "", s); v = 0
            for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
            return v
        }
        function owner(f,   m) {
            if (f == "") return "fill"
            if (match(f, /\/obj\/[^\/]+\.o$/)) {
                m = substr(f, RSTART + 5, RLENGTH - 7); gsub(/@/, "/", m); return m ".c"
            }
            if (match(f, /libmbed(crypto|x509|tls)\.a\(/)) {
                m = substr(f, RSTART + 7, RLENGTH - 10)
                f = substr(f, RSTART + RLENGTH); sub(/\.o\)$/, "", f)
                return "mbedtls-" m ":" f
            }
            if (f in mbedlibc) {
                m = f; sub(/^.*\(/, "", m); sub(/\.o\)$/, "", m)
                return "mbedtls-libc:" m
            }
            if (f ~ /libgcc\.a\(/) return "libgcc"
            if (f ~ /lib(c|c_nano|g|g_nano|m|m_nano)\.a\(/) return "libc"
            return "other:" f
        }
        function add(size, file) {
            if (!(osec in kind) || size == 0) return
            sum[owner(file) " " kind[osec]] += size
        }
        BEGIN {
            kind[".isr_vector"] = "text"; kind[".text"] = "text"
            kind[".rodata"] = "rodata"; kind[".ARM.exidx"] = "rodata"
            kind[".data"] = "data"; kind[".bss"] = "bss"
        }
        /^Linker script and memory map/ { inmap = 1; next }
        /^Cross Reference Table/ { exit }
        !inmap { next }
        /^\.[^ ]+/ { osec = $1; pend = ""; next }           # an output section
        /^ \*\(/ { next }                                    # an input pattern
        /^ [^ ]/ {                                           # an input section
            if (NF >= 3 && $2 ~ /^0x/ && $3 ~ /^0x/) { add(hex($3), $4); pend = "" }
            else if (NF == 1) pend = $1
            next
        }
        pend != "" && /^  +0x/ && NF >= 2 && $2 ~ /^0x/ { add(hex($2), $3); pend = ""; next }
        END { for (k in sum) print k, sum[k] }
    ' "$1"
}

# check_sizes <target> <elf> <parsed>: the parsed totals must be the ELF's sections.
check_sizes() {
    local t=$1 elf=$2 parsed=$3
    # shellcheck disable=SC2046
    $(tv "$t" size) -A "$elf" | awk -v parsed="$parsed" '
        BEGIN {
            kind[".isr_vector"] = "text"; kind[".text"] = "text"
            kind[".rodata"] = "rodata"; kind[".ARM.exidx"] = "rodata"
            kind[".data"] = "data"; kind[".bss"] = "bss"
            while ((getline l < parsed) > 0) { split(l, f, " "); got[f[2]] += f[3] }
        }
        $1 ~ /^\./ && $2 ~ /^[0-9]+$/ {
            if ($1 in kind) elf[kind[$1]] += $2
            else if ($1 !~ /^\.(debug|comment|ARM\.attributes|riscv\.attributes|stab)/ && $2 > 0) {
                print "footprint: the image has an output section the map reading does not count: " $1 > "/dev/stderr"; bad = 1
            }
        }
        END {
            # Identical strings from several objects are stored once (SHF_MERGE); the
            # map lists them per object, so the image can hold fewer bytes than the map
            # sums. That saving is its own row, "merged", so the totals are the image.
            if (elf["rodata"] < got["rodata"] && got["rodata"] - elf["rodata"] < 256) {
                print "merged rodata", elf["rodata"] - got["rodata"] >> parsed
                got["rodata"] = elf["rodata"]
            }
            split("text rodata data bss", ks, " ")
            for (i = 1; i <= 4; i++) if (elf[ks[i]] != got[ks[i]]) {
                printf "footprint: %s: the map gives %d bytes, the ELF %d\n", ks[i], got[ks[i]], elf[ks[i]] > "/dev/stderr"; bad = 1
            }
            exit bad
        }' || die "$t: the linker map does not add up to $elf"
}

for img in cm4-full rv32-full cm4-tls cm4-defaults rv32-defaults; do
    mbed_libc "$out/$img/image.map" >"$out/$img/mbed_libc"
    parse_map "$out/$img/image.map" "$out/$img/mbed_libc" >"$out/$img/parsed"
    check_sizes "${img%%-*}" "$out/$img/image.elf" "$out/$img/parsed"
done

# ---- 6. the tables ------------------------------------------------------------------

# report: markdown on stdout; the figures for the last line in $out/figures.
report() {
    awk -v conf="$conf" -v owners="$gen/owners" -v figures="$out/figures" \
        -v cm4="$out/cm4-full/parsed" -v rv32="$out/rv32-full/parsed" -v tls="$out/cm4-tls/parsed" \
        -v cm4_name="$cm4_name" -v rv32_name="$rv32_name" -v missing="$missing" -v mbv="$mb_upstream ($mb_version)" '
        function group_of(key,   g) {
            if (key in own) return own[key]
            if (key ~ /^sdk\/port\/[^\/]+\/[^\/]*_startup\.c$/) return "startup"
            if (key ~ /^sdk\/port\//) return "port"
            if (key ~ /^mbedtls-crypto:/) return "mbedTLS crypto"
            if (key ~ /^mbedtls-x509:/) return "mbedTLS X.509"
            if (key ~ /^mbedtls-tls:/) return "mbedTLS TLS"
            if (key ~ /^mbedtls-libc:/) return "mbedTLS C library"
            if (key == "libc" || key == "libgcc") return "C library"
            if (key == "fill" || key == "merged") return "alignment"
            return "other"
        }
        function is_mbedtls(g) { return g ~ /^mbedTLS/ || g == "mbedtls-heap" || g == "tls" }
        function load(file, img,   l, f, g) {
            while ((getline l < file) > 0) {
                split(l, f, " ")
                if (!((f[1]) in seen)) { seen[f[1]] = 1; keys[++nkeys] = f[1] }
                sz[img, f[1], f[2]] += f[3]
            }
        }
        function flash(img, k) { return sz[img, k, "text"] + sz[img, k, "rodata"] + sz[img, k, "data"] }
        function ram(img, k) { return sz[img, k, "data"] + sz[img, k, "bss"] }
        function label(k) {
            if (k == "fill") return "padding between sections"
            if (k == "merged") return "strings shared by several objects"
            if (k == "libc") return "C library (memcpy, strlen, ...)"
            if (k == "libgcc") return "libgcc (compiler helpers: RV32 save/restore, 64-bit shifts)"
            sub(/^mbedtls-[a-z0-9]+:/, "", k)
            return "`" k "`"
        }
        BEGIN {
            while ((getline l < conf) > 0) {
                split(l, f, /[ \t]+/)
                if ((f[1] == "module" || f[1] == "example") && !(f[3] in gseen)) { gseen[f[3]] = 1; order[++ng] = f[3] }
            }
            n = split("port startup C library alignment other", extra, " ")
            order[++ng] = "port"; order[++ng] = "startup"; order[++ng] = "unassigned"
            order[++ng] = "C library"; order[++ng] = "alignment"; order[++ng] = "other"
            while ((getline l < owners) > 0) {
                split(l, f, " "); own[f[1]] = f[2]; module[f[1]] = f[3]
            }
            load(cm4, "cm4"); load(rv32, "rv32"); load(tls, "tls")
            for (i = 2; i <= nkeys; i++) {   # rows in name order, so reruns write the same table
                k = keys[i]
                for (j = i - 1; j >= 1 && keys[j] > k; j--) keys[j + 1] = keys[j]
                keys[j + 1] = k
            }
            for (j = 1; j <= nkeys; j++) if (module[keys[j]] != "" && module[keys[j]] != "example" && flash("cm4", keys[j]) + ram("cm4", keys[j]) > 0) used[module[keys[j]]] = 1
            for (k in module) if (module[k] != "" && module[k] != "example" && module[k] != "unassigned" && !(module[k] in used) && !(module[k] in warned)) {
                warned[module[k]] = 1
                print "footprint: warning: module " module[k] " has landed but the example does not use it: the linker dropped it" > "/dev/stderr"
            }

            print "| group | file | Cortex-M4 flash | Cortex-M4 RAM | RV32IMC flash | RV32IMC RAM |"
            print "|---|---|--:|--:|--:|--:|"
            for (i = 1; i <= ng; i++) {
                g = order[i]
                if (is_mbedtls(g)) continue
                nrow = 0; gf["cm4"] = gr["cm4"] = gf["rv32"] = gr["rv32"] = 0
                for (j = 1; j <= nkeys; j++) {
                    k = keys[j]
                    if (group_of(k) != g) continue
                    if (flash("cm4", k) + ram("cm4", k) + flash("rv32", k) + ram("rv32", k) == 0) continue
                    name = (module[k] == "example" ? "example: " : "") label(k)
                    printf "| %s | %s | %d | %d | %d | %d |\n", g, name, flash("cm4", k), ram("cm4", k), flash("rv32", k), ram("rv32", k)
                    for (t = 1; t <= 2; t++) {
                        img = (t == 1 ? "cm4" : "rv32")
                        gf[img] += flash(img, k); gr[img] += ram(img, k)
                        tf[img] += flash(img, k); tr[img] += ram(img, k)
                        if (module[k] == "mqtt") mq[img] += flash(img, k)
                    }
                    nrow++
                }
                if (nrow > 1)
                    printf "| **%s** | | **%d** | **%d** | **%d** | **%d** |\n", g, gf["cm4"], gr["cm4"], gf["rv32"], gr["rv32"]
            }
            printf "| **total without mbedTLS** | | **%d** | **%d** | **%d** | **%d** |\n", tf["cm4"], tr["cm4"], tf["rv32"], tr["rv32"]
            printf "| of it, the MQTT client (3.1.1 + 5) | | %d | | %d | |\n", mq["cm4"], mq["rv32"]
            print ""
            printf "footprint mqtt_flash=%d core_flash=%d core_ram=%d\n", mq["cm4"], tf["cm4"], tr["cm4"] > figures
            printf "rv32 mqtt_flash=%d core_flash=%d core_ram=%d\n", mq["rv32"], tf["rv32"], tr["rv32"] >> figures
            if (missing != "") {
                print "Modules of the configuration that have not landed yet, so are not in the figures:" missing "."
                print ""
            }

            # mbedTLS, counted apart.
            print "mbedTLS " mbv ", built from Debian'"'"'s source package with the options in"
            print "`examples/footprint/mbedtls-crypto.cfg` and `mbedtls-tls.cfg`, as linked into the same images:"
            print ""
            print "| mbedTLS | ES256 + SHA-256 via PSA, Cortex-M4 flash | RAM | same, RV32IMC flash | RAM | + TLS 1.2 client, Cortex-M4 flash | RAM |"
            print "|---|--:|--:|--:|--:|--:|--:|"
            split("mbedTLS crypto|mbedTLS X.509|mbedTLS TLS|mbedTLS C library|tls|mbedtls-heap", mg, "|")
            for (i = 1; i <= 6; i++) {
                for (t = 1; t <= 3; t++) { img = (t == 1 ? "cm4" : t == 2 ? "rv32" : "tls"); f_[img] = r_[img] = 0 }
                for (j = 1; j <= nkeys; j++) {
                    k = keys[j]
                    if (group_of(k) != mg[i]) continue
                    for (t = 1; t <= 3; t++) {
                        img = (t == 1 ? "cm4" : t == 2 ? "rv32" : "tls")
                        f_[img] += flash(img, k); r_[img] += ram(img, k)
                        mf[img] += flash(img, k); mr[img] += ram(img, k)
                    }
                }
                nm = mg[i] == "tls" ? "the TLS transport (example: `app_tls.c`)" : mg[i] == "mbedtls-heap" ? "heap pool the example gives mbedTLS (configured)" : mg[i] == "mbedTLS C library" ? "C library routines only mbedTLS calls" : mg[i]
                printf "| %s | %d | %d | %d | %d | %d | %d |\n", nm, f_["cm4"], r_["cm4"], f_["rv32"], r_["rv32"], f_["tls"], r_["tls"]
            }
            printf "| **total** | **%d** | **%d** | **%d** | **%d** | **%d** | **%d** |\n", mf["cm4"], mr["cm4"], mf["rv32"], mr["rv32"], mf["tls"], mr["tls"]
            print ""
            printf "mbedtls es256_flash=%d es256_ram=%d tls_flash=%d tls_ram=%d\n", mf["cm4"], mr["cm4"], mf["tls"], mr["tls"] >> figures

            print "<details><summary>mbedTLS per object (Cortex-M4)</summary>"
            print ""
            print "| object | ES256 + SHA-256 flash | RAM | with TLS 1.2 flash | RAM |"
            print "|---|--:|--:|--:|--:|"
            for (j = 1; j <= nkeys; j++) {
                k = keys[j]
                if (k !~ /^mbedtls-/) continue
                if (flash("cm4", k) + ram("cm4", k) + flash("tls", k) + ram("tls", k) == 0) continue
                lib = k; sub(/:.*/, "", lib); sub(/^mbedtls-/, "", lib)
                printf "| %s %s | %d | %d | %d | %d |\n", lib, label(k), flash("cm4", k), ram("cm4", k), flash("tls", k), ram("tls", k)
            }
            print ""
            print "</details>"
        }' </dev/null
}

report >"$out/report.md"

# The verdicts and the last line, for the terminal and for the document.
# shellcheck disable=SC2046
set -- $(sed -n 's/^footprint mqtt_flash=\([0-9]*\) core_flash=\([0-9]*\) core_ram=\([0-9]*\)$/\1 \2 \3/p' "$out/figures")
mqtt_flash=$1 core_flash=$2 core_ram=$3
# shellcheck disable=SC2046
set -- $(sed -n 's/^rv32 mqtt_flash=\([0-9]*\) core_flash=\([0-9]*\) core_ram=\([0-9]*\)$/\1 \2 \3/p' "$out/figures")
rv_mqtt_flash=$1 rv_core_flash=$2 rv_core_ram=$3
# core_flash_of <image>: its flash without mbedTLS (the total the table gives for the
# full images: every row but mbedTLS, the C library members only it needs, its heap
# pool and the TLS transport).
core_flash_of() {
    awk -v owners="$gen/owners" '
        BEGIN { while ((getline l < owners) > 0) { split(l, f, " "); own[f[1]] = f[2] } }
        $1 ~ /^mbedtls-/ || own[$1] == "mbedtls-heap" || own[$1] == "tls" { next }
        $2 != "bss" { sum += $3 }
        END { print sum + 0 }' "$out/$1/parsed"
}
verdict() { # name, value, limit
    if [ "$2" -le "$3" ]; then
        echo "target: $1 $2 B <= $3 B: met ($(($3 - $2)) B to spare)"
    else
        echo "target: $1 $2 B > $3 B: MISSED by $(($2 - $3)) B"
    fi
}
{
    verdict "Cortex-M4 MQTT client flash" "$mqtt_flash" 8192
    verdict "Cortex-M4 whole configuration flash" "$core_flash" 24576
    verdict "Cortex-M4 whole configuration RAM" "$core_ram" 8192
    verdict "RV32IMC MQTT client flash" "$rv_mqtt_flash" 8192
    verdict "RV32IMC whole configuration flash" "$rv_core_flash" 24576
    verdict "RV32IMC whole configuration RAM" "$rv_core_ram" 8192
    [ -z "$missing" ] || echo "not landed yet, not measured:$missing"
    echo "with every device-size option at the SDK's default (FP_DEFAULT_OPTIONS=1): Cortex-M4 $(core_flash_of cm4-defaults) B, RV32IMC $(core_flash_of rv32-defaults) B flash"
} >"$out/verdicts"
last="footprint mqtt_flash=$mqtt_flash core_flash=$core_flash core_ram=$core_ram"

# The table and the verdicts go into docs/footprint.md between its markers, and the last
# line after them as the document's last line, as the last step.
begin="<!-- footprint:begin (generated by scripts/footprint.sh; edits here are overwritten) -->"
end="<!-- footprint:end -->"
{
    echo "Measured with $($cm4_cc --version | head -1) and $($rv32_cc --version | head -1):"
    echo "$cm4_name (\`$cm4_arch\`) and $rv32_name (\`$rv32_arch\`),"
    echo "\`$opt\`, linked with \`--gc-sections\`. Bytes; flash = text + rodata + data,"
    echo "RAM = data + bss."
    echo
    cat "$out/report.md"
    echo
    echo '```'
    cat "$out/verdicts"
    echo '```'
} >"$out/generated.md"
if [ -f "$doc" ] && grep -qF "$begin" "$doc" && grep -qF "$end" "$doc"; then
    awk -v begin="$begin" -v end="$end" -v gen="$out/generated.md" -v last="$last" '
        $0 == begin { print; while ((getline l < gen) > 0) print l; skip = 1; next }
        $0 == end { print; skip = 0; done = 1; next }
        done && /^footprint mqtt_flash=/ { next }
        !skip { print }
        END { print last }' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
else
    note "warning: $doc has no footprint markers; the table is only in $out/generated.md"
fi

cat "$out/generated.md"
echo
cat "$out/verdicts"
echo "$last"
