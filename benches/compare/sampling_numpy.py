"""The CEM planner in numpy on the same ONNX dynamics through onnxruntime, and the arithmetic limit
of the dynamics network, beside zplan's CEM step.

CEM as zplan runs it (crates/zplan-mpc/src/sampling.rs) at PlaNet's settings: N = 1000 action
sequences (the first the current mean), K = 10 iterations, the 100 of lowest cost refit the mean
and standard deviation (diagonal), J = sum_t 1/2 q |z_t - z_g|^2 + 1/2 r |u_t|^2 + 1/2 q |z_T - z_g|^2
(r = 1), one dynamics call of batch N per time step (onnxruntime, one thread, no spinning).

The arithmetic limit: the network's flops per row (2 k n for every MatMul or Gemm with a k x n
weight, in the model cut down to z_next) times rows per second, as a fraction of the
single-thread float32 GEMM peak that numpy's BLAS reaches on this machine now (best of 512 x 512
products). It is reported for whole plans and for the dynamics calls of the rollouts alone
(zplan's `sampled_dynamics_us_median`; here the time inside the onnxruntime calls).

Usage: python sampling_numpy.py --bundle DIR --task TASK --zplan ZPLAN.json
           [--zplan-onnxruntime ZPLAN_ORT.json] --out OUT.json [--plans N]
ZPLAN.json is what `zplan bench mpc --planner cem --json` wrote for the same bundle and horizon;
ZPLAN_ORT.json the same with `--evaluator onnxruntime`.
"""

import argparse
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from mpc_numpy import REFERENCE, Networks  # noqa: E402
from onnx import numpy_helper  # noqa: E402

SAMPLES, ITERATIONS, ELITES = 1000, 10, 100


def flops_per_row(model):
    """2 k n for every MatMul / Gemm whose weight is a k x n initializer."""
    weights = {init.name: numpy_helper.to_array(init).shape for init in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type in ("MatMul", "Gemm"):
            for name in node.input[1:2]:
                shape = weights.get(name)
                if shape is not None and len(shape) == 2:
                    total += 2 * shape[0] * shape[1]
    return total


def sgemm_peak(seconds=1.0):
    """Best single-thread float32 GEMM rate, GFLOP/s."""
    a = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    best, end = np.inf, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * 512**3 / best / 1e9


def cem_plan(net, z0, zg, horizon, q, rng, dynamics_s):
    """One CEM plan from z0; returns the first action. Adds the time in dynamics calls to
    dynamics_s[0]."""
    m = net.nu
    half = 0.5 * (net.high - net.low)
    mean = np.tile(0.5 * (net.low + net.high), (horizon, 1))
    std = np.tile(half, (horizon, 1))
    for _ in range(ITERATIONS):
        u = np.clip(mean + std * rng.standard_normal((SAMPLES, horizon, m)), net.low, net.high)
        u[0] = mean
        z = np.tile(z0, (SAMPLES, 1))
        cost = np.zeros(SAMPLES)
        for t in range(horizon):
            cost += 0.5 * q * ((z - zg) ** 2).sum(1) + 0.5 * (u[:, t] ** 2).sum(1)
            began = time.perf_counter()
            z = net.step(z, u[:, t])
            dynamics_s[0] += time.perf_counter() - began
        cost += 0.5 * q * ((z - zg) ** 2).sum(1)
        elite = u[np.argpartition(cost, ELITES)[:ELITES]]
        mean, std = elite.mean(0), np.maximum(elite.std(0), 1e-9 * half)
    return mean[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--task", required=True, choices=sorted(REFERENCE))
    parser.add_argument("--zplan", required=True, help="zplan bench mpc --planner cem --json output")
    parser.add_argument("--zplan-onnxruntime", help="the same with --evaluator onnxruntime")
    parser.add_argument("--out", required=True)
    parser.add_argument("--plans", type=int, default=5)
    args = parser.parse_args()
    with open(args.zplan) as f:
        ours = json.load(f)
    horizon, q = ours["horizon"], REFERENCE[args.task][1]
    net = Networks(args.bundle)
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal(net.nz) * 0.5
    zg = rng.standard_normal(net.nz) * 0.5
    cem_plan(net, z0, zg, horizon, q, rng, [0.0])  # warm-up
    times, dynamics = [], []
    for _ in range(args.plans):
        start, spent = time.perf_counter(), [0.0]
        cem_plan(net, z0, zg, horizon, q, rng, spent)
        times.append(time.perf_counter() - start)
        dynamics.append(spent[0])
    numpy_us = 1e6 * float(np.median(times))
    numpy_dynamics_us = 1e6 * float(np.median(dynamics))
    model_steps = SAMPLES * ITERATIONS * horizon
    flops = flops_per_row(net.dynamics_model)
    peak = sgemm_peak()
    zplan_us = ours["step_us_median"]
    zplan_dynamics_us = ours["sampled_dynamics_us_median"]

    def limit(us):
        return model_steps / (us * 1e-6) * flops / (peak * 1e9)

    record = {
        "task": args.task,
        "horizon": horizon,
        "model_steps_per_plan": model_steps,
        "flops_per_row": flops,
        "sgemm_peak_gflops": peak,
        "zplan_step_us": zplan_us,
        "numpy_step_us": numpy_us,
        "zplan_model_steps_per_s": model_steps / (zplan_us * 1e-6),
        "numpy_model_steps_per_s": model_steps / (numpy_us * 1e-6),
        "zplan_fraction_of_limit": limit(zplan_us),
        "numpy_fraction_of_limit": limit(numpy_us),
        "ratio": numpy_us / zplan_us,
        "zplan_dynamics_us": zplan_dynamics_us,
        "numpy_dynamics_us": numpy_dynamics_us,
        "zplan_dynamics_fraction_of_limit": limit(zplan_dynamics_us),
        "numpy_dynamics_fraction_of_limit": limit(numpy_dynamics_us),
    }
    if args.zplan_onnxruntime:
        with open(args.zplan_onnxruntime) as f:
            theirs = json.load(f)
        record["zplan_onnxruntime_step_us"] = theirs["step_us_median"]
        record["zplan_onnxruntime_dynamics_us"] = theirs["sampled_dynamics_us_median"]
        record["zplan_onnxruntime_dynamics_fraction_of_limit"] = limit(theirs["sampled_dynamics_us_median"])
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    print(
        f"{args.task}: CEM {model_steps} model steps per plan: zplan {zplan_us / 1e3:.1f} ms, "
        f"numpy/onnxruntime {numpy_us / 1e3:.1f} ms ({numpy_us / zplan_us:.1f}x); "
        f"{flops} flops per row, sgemm peak {peak:.0f} GFLOP/s: zplan at "
        f"{100 * limit(zplan_us):.1f} % of the arithmetic limit (its rollouts' dynamics calls "
        f"{100 * limit(zplan_dynamics_us):.1f} %)"
    )


if __name__ == "__main__":
    main()
