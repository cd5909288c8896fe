#!/usr/bin/env bash
# `make bench-report`: the solver grid and scaling sweeps (`zplan bench`), the Crocoddyl
# comparison (`make bench-compare`), zplan's MPC step beside the numpy reference planner on the
# same ONNX models, ONNX Runtime's session settings, the sampling planners, then
# docs/benchmarks.md and its plots. Single thread throughout.
set -euo pipefail

#
# `scripts/bench-report.sh planner` runs only the planner parts (MPC step, session settings,
# sampling planners) and keeps the solver results of the previous run in target/bench-report.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=target/bench-report
zplan=./target/release/zplan
parts=${1:-all}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

if [ "$parts" = planner ]; then
    [ -f "$out/crocoddyl.json" ] || { echo "bench-report: no solver results in $out: run it whole first" >&2; exit 1; }
    rm -rf "$out/mpc" "$out/sessions" "$out/sampling"
    mkdir -p "$out/mpc"
else
rm -rf "$out"
mkdir -p "$out/solver" "$out/mpc"

echo "bench-report: solver grid"
for size in "4 1 30" "8 2 50" "16 4 50" "32 8 100" "64 8 50"; do
    read -r n m t <<<"$size"
    for kind in lqr ilqr boxddp; do
        "$zplan" bench "$kind" --n "$n" --m "$m" --horizon "$t" --json "$out/solver/grid-$kind-$n-$m-$t.json" | tail -2
    done
done

echo "bench-report: scaling in T (n 16, m 4) and in n (m 4, T 50)"
for kind in lqr boxddp; do
    for t in 10 20 50 100 200 400; do
        "$zplan" bench "$kind" --n 16 --m 4 --horizon "$t" --runs 100 --json "$out/solver/T-$kind-$t.json" >/dev/null
    done
    for n in 4 8 16 32 64 128; do
        "$zplan" bench "$kind" --n "$n" --m 4 --horizon 50 --runs 100 --json "$out/solver/n-$kind-$n.json" >/dev/null
    done
done

echo "bench-report: box-DDP's cold start"
cargo run --quiet --release --locked -p zplan-benches --example cold_start >"$out/solver/cold-start.md"

echo "bench-report: zplan against Crocoddyl"
make --no-print-directory bench-compare
cp target/bench-compare/lqr.json "$out/crocoddyl.json"
fi

echo "bench-report: MPC step, zplan and the numpy reference planner"
for task in planar swing balance cartpole threepole; do
    "$zplan" bench mpc --task "$task" --episodes 2 --json "$out/mpc/zplan-$task.json" | tail -1
    "$zplan" bench mpc --task "$task" --episodes 2 --evaluator onnxruntime \
        --json "$out/mpc/zplan-onnxruntime-$task.json" | tail -1
    "$zplan" collect --task "$task" --samples 40 --seed 1 --out "$out/mpc/data-$task" >/dev/null
    .venv/bin/python benches/compare/mpc_numpy.py --bundle "models/$task" --task "$task" \
        --data "$out/mpc/data-$task" --steps 20 --out "$out/mpc/numpy-$task.json"
done

echo "bench-report: ONNX Runtime session settings"
mkdir -p "$out/sessions"
for task in planar swing balance cartpole threepole; do
    "$zplan" bench sessions --task "$task" --json "$out/sessions/$task.json" | tail -1
done

echo "bench-report: sampling planners, zplan and a numpy/onnxruntime CEM"
mkdir -p "$out/sampling"
for task in planar swing cartpole; do
    for planner in cem mppi; do
        "$zplan" bench mpc --task "$task" --planner "$planner" --horizon 12 --episodes 1 \
            --json "$out/sampling/zplan-$planner-$task.json" | tail -1
    done
    "$zplan" bench mpc --task "$task" --planner cem --horizon 12 --episodes 1 --evaluator onnxruntime \
        --json "$out/sampling/zplan-onnxruntime-cem-$task.json" | tail -1
    .venv/bin/python benches/compare/sampling_numpy.py --bundle "models/$task" --task "$task" \
        --zplan "$out/sampling/zplan-cem-$task.json" \
        --zplan-onnxruntime "$out/sampling/zplan-onnxruntime-cem-$task.json" \
        --out "$out/sampling/numpy-cem-$task.json"
done

.venv/bin/python benches/report.py "$out" docs/benchmarks.md docs/benchmarks
