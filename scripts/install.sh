#!/usr/bin/env bash
# Installs libzplan, its headers, the CMake package (zplan::zplan) and zplan.pc under PREFIX.
#   scripts/install.sh PREFIX [LIBDIR]
# LIBDIR holds the built libzplan.so and libzplan.a (default target/release). ONNX Runtime,
# which libzplan loads at run time, goes to PREFIX/lib/zplan/; the CMake variable
# zplan_ONNXRUNTIME_LIBRARY and the pkg-config variable onnxruntime_library name it, for
# zp_runtime_init().
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:?usage: scripts/install.sh PREFIX [LIBDIR]}
libdir=${2:-$root/target/release}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

version=$(awk -F'"' '/^\[workspace.package\]/ {p = 1} p && /^version/ {print $2; exit}' "$root/Cargo.toml")
ort_version=$(cat "$root/.deps/onnxruntime/VERSION")
ort_lib=libonnxruntime.so.$ort_version

for f in libzplan.so libzplan.a; do
    [[ -f $libdir/$f ]] || { echo "install: $libdir/$f is missing: build zplan-ffi first" >&2; exit 1; }
done

install -d "$prefix/lib/zplan" "$prefix/include" "$prefix/lib/cmake/zplan" "$prefix/lib/pkgconfig"
install -m 0755 "$libdir/libzplan.so" "$prefix/lib/libzplan.so"
install -m 0644 "$libdir/libzplan.a" "$prefix/lib/libzplan.a"
install -m 0755 "$root/.deps/onnxruntime/$ort_lib" "$prefix/lib/zplan/$ort_lib"
install -m 0644 "$root/include/zplan.h" "$root/include/zplan.hpp" "$prefix/include/"

fill() {
    sed -e "s|@VERSION@|$version|g" -e "s|@PREFIX@|$prefix|g" -e "s|@ORT_LIB@|$ort_lib|g" "$1" >"$2"
}
fill "$root/cmake/zplanConfig.cmake.in" "$prefix/lib/cmake/zplan/zplanConfig.cmake"
fill "$root/cmake/zplanConfigVersion.cmake.in" "$prefix/lib/cmake/zplan/zplanConfigVersion.cmake"
fill "$root/cmake/zplan.pc.in" "$prefix/lib/pkgconfig/zplan.pc"
echo "install: zplan $version in $prefix"
