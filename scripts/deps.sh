#!/usr/bin/env bash
# Installs what zplan needs and is missing; changes nothing when everything is in place.
#   scripts/deps.sh [runtime]
# What planning needs (`make deps-runtime`, for `make demo` and `make install`):
#   - Debian packages: libopenblas-dev (BLAS for the solver), g++, cmake and pkg-config (building
#     against libzplan)
#   - ONNX Runtime 1.31.1, the shared library alone, taken from the PyPI wheel (pip downloads
#     the wheel; nothing is installed into a Python environment) into .deps/onnxruntime/
# and, unless `runtime` is given, what training and the tests need (`make deps`):
#   - Debian packages valgrind and strace (the memcheck run, the no-network test)
#   - the Python environment .venv from training/requirements.txt (PyTorch, about 6 GB)
set -euo pipefail

case ${1:-all} in
    runtime) runtime_only=1 ;;
    all) runtime_only=0 ;;
    *) echo "usage: scripts/deps.sh [runtime]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

ORT_VERSION=1.31.1
ORT_DIR=.deps/onnxruntime
ORT_LIB=libonnxruntime.so.$ORT_VERSION
PYTHON=${PYTHON:-python3}

changed=0
say() { printf 'deps: %s\n' "$*"; }
# shellcheck source=scripts/debian.sh
source scripts/debian.sh

# --- Debian packages ---------------------------------------------------------------------------
debian_packages=(libopenblas-dev pkg-config g++ cmake)
((runtime_only)) || debian_packages+=(valgrind strace)
ensure_debian_packages "${debian_packages[@]}"
if ((${#debian_installed[@]})); then
    changed=1
else
    say "Debian packages present: ${debian_packages[*]}"
fi

# --- ONNX Runtime shared library ---------------------------------------------------------------
if [[ -f $ORT_DIR/$ORT_LIB && $(cat "$ORT_DIR/VERSION" 2>/dev/null) == "$ORT_VERSION" ]]; then
    say "ONNX Runtime $ORT_VERSION present: $ORT_DIR/$ORT_LIB"
else
    say "installing ONNX Runtime $ORT_VERSION from the PyPI wheel onnxruntime==$ORT_VERSION into $ORT_DIR/"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        "onnxruntime==$ORT_VERSION" -d "$tmp"
    wheel=$(ls "$tmp"/onnxruntime-"$ORT_VERSION"-*.whl)
    "$PYTHON" - "$wheel" "$tmp" "$ORT_LIB" <<'PY'
import sys, zipfile
wheel, dest, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extract(f"onnxruntime/capi/{name}", dest)
PY
    mkdir -p "$ORT_DIR"
    rm -f "$ORT_DIR/VERSION"
    install -m 0755 "$tmp/onnxruntime/capi/$ORT_LIB" "$ORT_DIR/$ORT_LIB"
    ln -sf "$ORT_LIB" "$ORT_DIR/libonnxruntime.so"
    echo "$ORT_VERSION" >"$ORT_DIR/VERSION"
    changed=1
fi

# --- Python environment (training, fixtures, Python tests) --------------------------------------
requirements=training/requirements.txt
if ((runtime_only)); then
    say "Python environment left alone (runtime only; \`make deps\` installs it)"
elif [[ -f $requirements ]]; then
    stamp=.venv/.zplan-requirements.sha256
    want=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ -x .venv/bin/python && $(cat "$stamp" 2>/dev/null) == "$want" ]]; then
        say "Python environment .venv matches $requirements"
    else
        say "installing the Python environment .venv from $requirements"
        # torch with its CUDA libraries takes about 6 GB.
        free_kb=$(df --output=avail -k . | tail -1)
        if ((free_kb < 7 * 1024 * 1024)); then
            say "only $((free_kb / 1024)) MB free on $(df --output=target . | tail -1); .venv needs about 7 GB"
            exit 1
        fi
        [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -r "$requirements"
        echo "$want" >"$stamp"
        changed=1
    fi
fi

if ((changed)); then
    say "done"
else
    say "nothing to do: everything is installed"
fi
