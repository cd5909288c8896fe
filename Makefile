# zplan: the two commands that matter are `make demo` and `make test`.

CARGO ?= cargo
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: all deps test lint rust-test demo clean

all: test

## deps: install what is missing (Debian packages, ONNX Runtime in .deps/, Python .venv)
deps:
	@scripts/deps.sh

## test: every check and test the project has
test: deps lint rust-test

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

rust-test:
	$(CARGO) test --workspace --locked

## demo: the main job on the shipped models
demo: deps
	$(CARGO) run --release --locked -p zplan-cli -- doctor

clean:
	$(CARGO) clean
