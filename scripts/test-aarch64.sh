#!/usr/bin/env bash
# `make test-aarch64`: zplan-lqr's kernel checks (tests/isa_paths.rs: every product path and the
# fixed-size Riccati pass against naive loops and the general pass, and the fused kernels' digest)
# built for aarch64 and run under qemu-user, so that the NEON path is checked on an x86_64
# machine. On an aarch64 machine it runs them natively. Installs what it needs: the Rust target
# (rustup), Debian's aarch64 cross compiler, qemu-user and OpenBLAS for arm64 (multiarch).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
say() { printf 'test-aarch64: %s\n' "$*"; }

if [[ $(uname -m) == aarch64 ]]; then
    exec cargo test --locked --release -p zplan-lqr --test isa_paths
fi

target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target"; then
    say "adding the Rust target $target"
    rustup target add "$target"
fi

packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libopenblas-dev:arm64)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        say "missing Debian packages: ${missing[*]} (run as root, or install them)"
        exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# The emulated program runs on the main thread only: OpenBLAS starts no threads of its own
# (OPENBLAS_NUM_THREADS=1), and the checks run without libtest's per-test threads.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-L /usr/lib/aarch64-linux-gnu"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu \
-E LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu -E OPENBLAS_NUM_THREADS=1"
cargo test --locked --release -p zplan-lqr --target "$target" --test isa_paths
