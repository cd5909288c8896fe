#!/usr/bin/env bash
# Installs libzplan, its headers, the CMake package (zplan::zplan), zplan.pc and the zplan
# command under PREFIX:
#   scripts/install.sh PREFIX [LIBDIR [BINDIR]]
# LIBDIR holds the built libzplan.so and libzplan.a (default target/release), BINDIR the built
# zplan command (default LIBDIR). The layout:
#   PREFIX/lib/libzplan.so.N          the shared library, SONAME libzplan.so.N for ABI version
#                                     N (ZPLAN_ABI_VERSION), with libzplan.so linking to it
#   PREFIX/lib/libzplan.a             the static library
#   PREFIX/lib/zplan/                 ONNX Runtime, which libzplan loads at run time: where
#                                     zp_runtime_init(NULL) and the zplan command look first
#   PREFIX/include/zplan.h, zplan.hpp
#   PREFIX/lib/cmake/zplan/           find_package(zplan)
#   PREFIX/lib/pkgconfig/zplan.pc     pkg-config zplan (links with an rpath to PREFIX/lib)
#   PREFIX/share/zplan/valgrind.supp  suppressions for ONNX Runtime's own valgrind reports
#   PREFIX/bin/zplan                  the command line (zplan doctor, eval, bench, ...)
# Libraries and the command are installed without debug information.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:?usage: scripts/install.sh PREFIX [LIBDIR [BINDIR]]}
libdir=${2:-$root/target/release}
bindir=${3:-$libdir}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

version=$(awk -F'"' '/^\[workspace.package\]/ {p = 1} p && /^version/ {print $2; exit}' "$root/Cargo.toml")
abi=$(awk '/^pub const ZPLAN_ABI_VERSION: u32 = / {sub(";", "", $6); print $6}' "$root/crates/zplan-ffi/src/lib.rs")
soname=libzplan.so.$abi
ort_version=$(cat "$root/.deps/onnxruntime/VERSION")
ort_lib=libonnxruntime.so.$ort_version

for f in "$libdir/libzplan.so" "$libdir/libzplan.a" "$bindir/zplan"; do
    [[ -f $f ]] || { echo "install: $f is missing: build zplan-ffi and zplan-cli first" >&2; exit 1; }
done
built_soname=$(readelf -d "$libdir/libzplan.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [[ $built_soname != "$soname" ]]; then
    echo "install: $libdir/libzplan.so has SONAME '$built_soname', not $soname: rebuild zplan-ffi" >&2
    exit 1
fi

install -d "$prefix/lib/zplan" "$prefix/include" "$prefix/lib/cmake/zplan" "$prefix/lib/pkgconfig" \
    "$prefix/share/zplan" "$prefix/bin"
install -m 0755 "$libdir/libzplan.so" "$prefix/lib/$soname"
strip --strip-unneeded "$prefix/lib/$soname"
ln -sfn "$soname" "$prefix/lib/libzplan.so"
install -m 0644 "$libdir/libzplan.a" "$prefix/lib/libzplan.a"
strip --strip-debug "$prefix/lib/libzplan.a"
install -m 0755 "$bindir/zplan" "$prefix/bin/zplan"
strip "$prefix/bin/zplan"
install -m 0755 "$root/.deps/onnxruntime/$ort_lib" "$prefix/lib/zplan/$ort_lib"
install -m 0644 "$root/include/zplan.h" "$root/include/zplan.hpp" "$prefix/include/"
install -m 0644 "$root/ffi-tests/valgrind.supp" "$prefix/share/zplan/valgrind.supp"

fill() {
    sed -e "s|@VERSION@|$version|g" -e "s|@PREFIX@|$prefix|g" -e "s|@ORT_LIB@|$ort_lib|g" \
        -e "s|@SONAME@|$soname|g" "$1" >"$2"
}
fill "$root/cmake/zplanConfig.cmake.in" "$prefix/lib/cmake/zplan/zplanConfig.cmake"
fill "$root/cmake/zplanConfigVersion.cmake.in" "$prefix/lib/cmake/zplan/zplanConfigVersion.cmake"
fill "$root/cmake/zplan.pc.in" "$prefix/lib/pkgconfig/zplan.pc"
echo "install: zplan $version ($soname) in $prefix"
