# zplan: the two commands that matter are `make demo` and `make test`.

CARGO ?= cargo
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: all deps deps-runtime test lint rust-test python-test test-aarch64 demo install header tasks-json bench bench-compare bench-report fuzz clean

all: test

## deps: install what is missing (Debian packages, ONNX Runtime in .deps/, Python .venv)
deps:
	@scripts/deps.sh

## deps-runtime: only what planning needs (OpenBLAS, a C/C++ toolchain, ONNX Runtime in .deps/):
## no Python environment
deps-runtime:
	@scripts/deps.sh runtime

## test: every check and test the project has
test: deps lint rust-test python-test

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

rust-test:
	$(CARGO) test --workspace --locked

python-test:
	.venv/bin/python -m pytest training/tests -q -p no:cacheprovider

## demo: the main job on the shipped models: the pendulum swing-up planned from images, pictures in demo/
demo: deps-runtime
	$(CARGO) build --release --locked -p zplan-cli
	./target/release/zplan doctor
	./target/release/zplan demo

## install: libzplan (shared libzplan.so.ABI and static), include/zplan.h and zplan.hpp, the
## CMake package (find_package(zplan), target zplan::zplan), zplan.pc, ONNX Runtime in
## PREFIX/lib/zplan/ and the zplan command under PREFIX (layout: scripts/install.sh)
PREFIX ?= /usr/local
install: deps-runtime
	$(CARGO) build --release --locked -p zplan-ffi -p zplan-cli
	scripts/install.sh $(PREFIX) target/release

## test-aarch64: zplan-lqr's kernel checks (tests/isa_paths.rs) built for aarch64 and run under
## qemu-user, the NEON path checked on an x86_64 machine (installs the Rust target, the cross
## compiler, qemu-user and arm64 OpenBLAS); natively on aarch64
test-aarch64:
	scripts/test-aarch64.sh

## header: regenerate include/zplan.h from crates/zplan-ffi (make test fails when it drifts)
header:
	ZPLAN_BLESS=1 $(CARGO) test --locked -p zplan-ffi --test header

## tasks-json: regenerate the trainer's task table training/zplan_train/tasks.json from the Rust
## tasks (`zplan tasks --json`; make test fails when it drifts)
tasks-json:
	ZPLAN_BLESS=1 $(CARGO) test --locked -p zplan-cli --test cli tasks_json

## bench: the criterion benches (single thread)
bench: deps
	$(CARGO) bench --locked -p zplan-benches

## bench-compare: zplan against Crocoddyl 3.2 (own venv .deps/bench-venv), same problems, same run
BENCH_VENV := .deps/bench-venv
CROCODDYL_VERSION := 3.2.1
bench-compare: deps
	@if ! $(BENCH_VENV)/bin/python -c "import crocoddyl, sys; sys.exit(crocoddyl.__version__ != '$(CROCODDYL_VERSION)')" 2>/dev/null; then \
		echo "bench-compare: installing crocoddyl==$(CROCODDYL_VERSION) into $(BENCH_VENV)"; \
		python3 -m venv $(BENCH_VENV) && \
		$(BENCH_VENV)/bin/python -m pip install --quiet crocoddyl==$(CROCODDYL_VERSION) numpy; \
	fi
	$(CARGO) build --release --locked -p zplan-benches --bin lqr-compare
	mkdir -p target/bench-compare
	OMP_NUM_THREADS=1 ./target/release/lqr-compare target/bench-compare/zplan-lqr.json $(QUICK)
	OMP_NUM_THREADS=1 $(BENCH_VENV)/bin/python benches/compare/lqr_crocoddyl.py \
		target/bench-compare/zplan-lqr.json target/bench-compare/lqr.json $(QUICK)

## bench-report: the solver grid, the Crocoddyl comparison and the MPC step against the numpy
## reference planner, written to docs/benchmarks.md with plots in docs/benchmarks/
bench-report: deps
	$(CARGO) build --release --locked -p zplan-cli
	scripts/bench-report.sh

## fuzz: each fuzz target (crates/zplan-fuzz) under libFuzzer for FUZZ_SECONDS seconds, with
## cargo-fuzz (installed when missing; RUSTC_BOOTSTRAP=1 lets the stable toolchain take its
## nightly flags). New inputs go to target/fuzz-corpus/TARGET; a crash, hang or out-of-memory
## stops the run with its input in fuzz/artifacts/TARGET: copy it into fuzz/corpus/TARGET, where
## `make test` replays it, and fix it.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := manifest onnx_header native_graph native_encoder buffer
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz-corpus/$$t && \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s" && \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir fuzz $$t target/fuzz-corpus/$$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 || exit 1; \
	done

clean:
	$(CARGO) clean
