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

# shellcheck source=scripts/debian.sh
source scripts/debian.sh
ensure_debian_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libopenblas-dev:arm64

# The emulated program runs on the main thread only: OpenBLAS starts no threads of its own
# (OPENBLAS_NUM_THREADS=1), and the checks run without libtest's per-test threads.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-L /usr/lib/aarch64-linux-gnu"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu \
-E LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu -E OPENBLAS_NUM_THREADS=1"
cargo test --locked --release -p zplan-lqr --target "$target" --test isa_paths
