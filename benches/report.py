"""Writes docs/benchmarks.md and its plots from the JSON files of scripts/bench-report.sh.

Usage: python report.py RESULTS_DIR OUT.md PLOT_DIR
"""

import glob
import json
import os
import platform
import subprocess
import sys
from datetime import date

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TASKS = ["planar", "swing", "balance", "cartpole", "threepole"]
GRID = [(4, 1, 30), (8, 2, 50), (16, 4, 50), (32, 8, 100), (64, 8, 50)]


def load(path):
    with open(path) as f:
        return json.load(f)


def machine(results):
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    # One line per installed architecture of the package; the first is the native one.
    blas = version(["dpkg-query", "-W", "-f=${Version}\\n", "libopenblas0-pthread"]).split("\n")[0]
    # `zplan doctor` names the ISA of zplan's kernels and the core OpenBLAS loaded.
    doctor = version(["./target/release/zplan", "doctor"]).splitlines()
    kernels = next(
        (line.split("kernels:", 1)[1].strip() for line in doctor if "zplan-lqr kernels:" in line),
        "unknown",
    )
    core = next(
        (
            line.split("(core ", 1)[1].split(",", 1)[0]
            for line in doctor
            if line.strip().startswith("BLAS") and "(core " in line
        ),
        "unknown",
    )
    rustc = version(["rustc", "--version"])
    grid = [load(p) for p in glob.glob(os.path.join(results, "solver", "grid-*.json"))]
    peaks = [r["peak_gflops"] for r in grid]
    dgemms = [r["dgemm_gflops"] for r in grid]
    with open(".deps/onnxruntime/VERSION") as f:
        ort = f.read().strip()
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; every number single-threaded "
        "(`OPENBLAS_NUM_THREADS=1`, one ONNX Runtime intra-op thread)",
        f"- single-thread double-precision peak measured in the same runs (independent FMA chains "
        f"on the widest vectors): median {np.median(peaks):.1f} GFLOP/s; OpenBLAS {blas}'s "
        f"256 x 256 DGEMM with the core it loads: median {np.median(dgemms):.1f} GFLOP/s",
        f"- zplan-lqr's kernels: {kernels}; OpenBLAS's core: {core} (`zplan doctor`)",
        f"- {platform.system()} {platform.release()}, {rustc}, ONNX Runtime {ort}",
        f"- measured on {date.today().isoformat()}; the machine is shared, so the ratios measured "
        "side by side in one run are the numbers to trust, not the absolute times",
    ]


def slope(xs, ys):
    """Exponent p of y ~ x^p, least squares on log-log."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main():
    results, out_md, plot_dir = sys.argv[1:4]
    os.makedirs(plot_dir, exist_ok=True)
    md = [
        "# Benchmarks",
        "",
        "Produced by `make bench-report` (scripts/bench-report.sh, benches/report.py); every "
        "number below comes from that run.",
        "",
        "## Machine",
        "",
    ]
    md += machine(results)

    # --- solver grid ---------------------------------------------------------------------------
    md += [
        "",
        "## Solver grid",
        "",
        "`zplan bench lqr|ilqr|boxddp --n N --m M --horizon T --system unstable`: seeded "
        "problems whose open-loop dynamics A = 1.05 U (U random orthogonal: every eigenvalue "
        "of modulus 1.05), a quadratic cost with cross terms; `ilqr` and `boxddp` add a sine "
        "term, x' = A x + B u + f + 0.1 sin(x), and solve from zero controls to convergence "
        "(`boxddp` with |u_i| <= 0.5). Medians over 200 runs after a warm-up. GFLOP/s counts "
        "the Riccati recursion and one rollout per iteration.",
        "",
        "| n | m | T | LQR us | LQR GFLOP/s | % of core peak | iLQR us (iterations) | box-DDP us (iterations) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, m, t in GRID:
        r = {k: load(os.path.join(results, "solver", f"grid-{k}-{n}-{m}-{t}.json")) for k in ("lqr", "ilqr", "boxddp")}
        md.append(
            f"| {n} | {m} | {t} | {r['lqr']['median_us']:.1f} | {r['lqr']['gflops']:.2f} | "
            f"{100 * r['lqr']['gflops'] / r['lqr']['peak_gflops']:.0f} % | "
            f"{r['ilqr']['median_us']:.0f} ({r['ilqr']['iterations']}) | "
            f"{r['boxddp']['median_us']:.0f} ({r['boxddp']['iterations']}) |"
        )

    # --- Crocoddyl ----------------------------------------------------------------------------
    croc = load(os.path.join(results, "crocoddyl.json"))
    md += [
        "",
        "## Against Crocoddyl",
        "",
        "`make bench-compare`: the seeded problems of the criterion benches (A = 0.98 I + "
        "noise, some modes unstable) solved by zplan and by Crocoddyl 3.2.1 "
        "(ActionModelLQR, SolverDDP, SolverBoxDDP from its Python package), single thread, "
        "in one run; both return the same controls to 1e-8 (checked). Ratio = Crocoddyl / "
        "zplan: above 1, zplan is faster.",
        "",
        "| n | m | T | backward pass us: zplan / Crocoddyl (ratio) | DDP solve us (ratio) "
        "| box-DDP solve us (ratio) | box-DDP iterations: zplan / Crocoddyl |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in croc:
        md.append(
            f"| {r['n']} | {r['m']} | {r['T']} | "
            f"{r['zplan_backward_us']:.1f} / {r['crocoddyl_backward_us']:.1f} "
            f"({r['crocoddyl_backward_us'] / r['zplan_backward_us']:.1f}x) | "
            f"{r['zplan_solve_us']:.0f} / {r['crocoddyl_solve_us']:.0f} "
            f"({r['crocoddyl_solve_us'] / r['zplan_solve_us']:.1f}x) | "
            f"{r['zplan_boxddp_us']:.0f} / {r['crocoddyl_boxddp_us']:.0f} "
            f"({r['crocoddyl_boxddp_us'] / r['zplan_boxddp_us']:.1f}x) | "
            f"{r['zplan_boxddp_iterations']} / {r['crocoddyl_boxddp_iterations']} |"
        )

    md += [
        "",
        "The same problems with a sine term in the dynamics, x' = A x + B u + f + 0.1 sin(x) (the "
        "`mixed` problems of `zplan bench ilqr|boxddp`), each solver from zero controls with its "
        "own default stopping rule (zplan: `Settings::default()`; Crocoddyl: its threshold 1e-9), "
        "at most 500 iterations; Crocoddyl runs them through a Python action model around "
        "ActionModelLQR, so its times are not comparable and only iterations and final costs "
        "are shown, with zplan's time.",
        "",
        "| n | m | T | DDP iterations: zplan / Crocoddyl | final cost: zplan / Crocoddyl "
        "| zplan DDP us | box-DDP iterations: zplan / Crocoddyl | final cost: zplan / Crocoddyl "
        "| zplan box-DDP us |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def iterations(r, solver, key):
        count = r[f"{solver}_{key}_iterations"]
        return f"{count}" if r[f"{solver}_{key}_converged"] else f"{count} (not converged)"

    for r in croc:
        cells = [f"| {r['n']} | {r['m']} | {r['T']} |"]
        for key in ("sine_ddp", "sine_boxddp"):
            cells.append(
                f" {iterations(r, 'zplan', key)} / {iterations(r, 'crocoddyl', key)} | "
                f"{r[f'zplan_{key}_cost']:.6g} / {r[f'crocoddyl_{key}_cost']:.6g} | "
                f"{r[f'zplan_{key}_us']:.0f} |"
            )
        md.append("".join(cells))
    fewer = {
        key: sum(r[f"zplan_{key}_iterations"] <= r[f"crocoddyl_{key}_iterations"] for r in croc)
        for key in ("sine_ddp", "sine_boxddp")
    }
    apart = [
        f"({r['n']}, {r['m']}, {r['T']}) {'DDP' if key == 'sine_ddp' else 'box-DDP'}"
        for r in croc
        for key in ("sine_ddp", "sine_boxddp")
        if abs(r[f"zplan_{key}_cost"] - r[f"crocoddyl_{key}_cost"]) > 1e-3 * abs(r[f"crocoddyl_{key}_cost"])
    ]
    md += [
        "",
        f"zplan takes as many iterations as Crocoddyl or fewer in {fewer['sine_ddp']} of "
        f"{len(croc)} DDP solves and {fewer['sine_boxddp']} of {len(croc)} box-DDP solves. "
        "Both need dozens to hundreds of iterations on the larger of these problems. "
        + (
            "The two end at costs more than 0.1 % apart in " + "; ".join(apart) + "."
            if apart
            else "Both end at the same costs to 0.1 %."
        ),
    ]
    cold_start = os.path.join(results, "solver", "cold-start.md")
    if os.path.exists(cold_start):
        with open(cold_start) as f:
            table = f.read().strip().splitlines()
        md += [
            "",
            "### Box-DDP's cold start",
            "",
            "zplan's box-DDP makes the first iteration of a bounded solve an unconstrained DDP "
            "step whose rollouts clamp the controls into the box (`Settings::"
            "unbounded_first_iteration`, on by default; the MPC planner turns it off, as its warm "
            "start is already near the plan). From zero controls on dynamics with unstable modes "
            "the rollout has grown large, and a box QP around it saturates most stages: a bounded "
            "first iteration then takes short steps for dozens of iterations. "
            "`cargo run --release -p zplan-benches --example cold_start`: iterations from zero "
            "controls with and without it on the seeded problems of the grid (eight seeds each; "
            "`mixed`, `stable`, `unstable` as in `zplan bench`; with or without the sine term).",
            "",
            *table,
        ]

    # --- scaling ------------------------------------------------------------------------------
    def sweep(prefix, kind):
        rows = [load(p) for p in glob.glob(os.path.join(results, "solver", f"{prefix}-{kind}-*.json"))]
        key = "T" if prefix == "T" else "n"
        rows.sort(key=lambda r: r[key])
        return np.array([r[key] for r in rows]), np.array([r["median_us"] for r in rows]), rows

    md += ["", "## How the cost grows", ""]
    for prefix, label, expected in (("T", "horizon T (n 16, m 4)", 1), ("n", "states n (m 4, T 50)", 3)):
        fig, ax = plt.subplots(figsize=(6, 4))
        fits = {}
        for kind, marker in (("lqr", "o"), ("boxddp", "s")):
            xs, ys, rows = sweep(prefix, kind)
            per_iteration = ys / np.array([max(r["iterations"], 1) for r in rows])
            ax.loglog(xs, ys, marker=marker, label=f"{kind} solve")
            if kind == "boxddp":
                ax.loglog(xs, per_iteration, marker=marker, linestyle="--", label="boxddp per iteration")
            fits[kind] = (slope(xs, ys), slope(xs[-3:], ys[-3:]), xs, ys, rows)
        ax.set_xlabel(label)
        ax.set_ylabel("median time (us), log scale")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        name = f"time-vs-{prefix}.png"
        fig.tight_layout()
        fig.savefig(os.path.join(plot_dir, name), dpi=100)
        plt.close(fig)
        lqr_all, lqr_top, xs, ys, _ = fits["lqr"]
        local = [slope(xs[i : i + 2], ys[i : i + 2]) for i in range(len(xs) - 1)]
        md += [
            f"![time against {label}](benchmarks/{name})",
            "",
            f"LQR time against {label}: fitted exponent {lqr_all:.2f} over the whole sweep, "
            f"{lqr_top:.2f} over its three largest sizes (expected {expected}); "
            + ", ".join(f"{int(x)}: {y:.1f} us" for x, y in zip(xs, ys, strict=True))
            + ". Exponent between neighbouring sizes: "
            + ", ".join(f"{int(xs[i])}->{int(xs[i + 1])}: {p:.2f}" for i, p in enumerate(local))
            + ".",
        ]
        if prefix == "n":
            md += [
                "",
                "The cubic terms (n^2 (n + m) per stage) dominate only between the largest "
                f"sizes (exponent {local[-1]:.2f} there); at small n the terms in m (fixed at "
                "4) and the per-stage overhead weigh as much, and the exponent stays near 2.",
            ]
        _, _, bxs, bys, brows = fits["boxddp"]
        per_iteration = bys / np.array([max(r["iterations"], 1) for r in brows])
        md += [
            "",
            "box-DDP (dashed: time per iteration): exponent per iteration "
            f"{slope(bxs, per_iteration):.2f}; iterations "
            + ", ".join(f"{r['iterations']} ({r['status']})" for r in brows)
            + ". The solve time follows the iteration count"
            + (
                ": on the larger problems the solver stops at its 50-iteration limit."
                if any(r["status"] == "MaxIterations" for r in brows)
                else "."
            ),
            "",
        ]

    # --- MPC ----------------------------------------------------------------------------------
    md += [
        "## The MPC step",
        "",
        "`zplan bench mpc --task TASK` (2 episodes, reference settings of docs/tasks.md: 6 "
        "candidates and the warm start, up to 4 iterations, solved together by "
        "`solve_batch`) beside the numpy version of the reference planner "
        "(benches/compare/mpc_numpy.py: the same 6 x 4 iLQR loop, candidates one after "
        "another, one dynamics call per time step, central-difference Jacobians batched per "
        "time step) on the same ONNX files through onnxruntime, 20 steps from collected "
        "observations. Medians; ratio = numpy / zplan.",
        "",
        "| task | zplan step us | encode | linearise | backward | line search | "
        "zplan step us, dynamics on onnxruntime | numpy reference ms | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    dominant = []
    speedups = []
    conv_encode = []
    for task in TASKS:
        z = load(os.path.join(results, "mpc", f"zplan-{task}.json"))
        o = load(os.path.join(results, "mpc", f"zplan-onnxruntime-{task}.json"))
        p = load(os.path.join(results, "mpc", f"numpy-{task}.json"))
        step = z["step_us_median"]
        phases = {k: z[f"{k}_us_median"] for k in ("encode", "linearize", "backward", "forward")}
        share = {k: 100 * v / step for k, v in phases.items()}
        speedups.append(o["step_us_median"] / step)
        md.append(
            f"| {task} | {step:.0f} | {phases['encode']:.0f} ({share['encode']:.0f} %) | "
            f"{phases['linearize']:.0f} ({share['linearize']:.0f} %) | "
            f"{phases['backward']:.0f} ({share['backward']:.0f} %) | "
            f"{phases['forward']:.0f} ({share['forward']:.0f} %) | "
            f"{o['step_us_median']:.0f} | "
            f"{p['step_us_median'] / 1e3:.1f} | {p['step_us_median'] / step:.0f}x |"
        )
        if task in ("cartpole", "threepole"):
            conv_encode.append(phases["encode"])
        top = max(phases, key=phases.get)
        names = {
            "encode": "encoding",
            "linearize": "linearisation",
            "backward": "backward passes",
            "forward": "line search",
        }
        dominant.append(f"{task}: {names[top]} ({share[top]:.0f} %)")
    md += [
        "",
        "Phase times are medians of each phase separately, so they need not add up to "
        "the step. The largest phase per task: " + "; ".join(dominant) + ". The dynamics run "
        "on zplan's native kernels (the default, `--evaluator native`); with ONNX Runtime for "
        f"every dynamics call (`--evaluator onnxruntime`) the step takes {min(speedups):.1f} to "
        f"{max(speedups):.1f} times as long, the cost of ONNX Runtime's per-call work on calls "
        "of a few hundred rows. The Riccati recursion over latent states of size 2 to 8 is a "
        "small share, and the conv encoders of cartpole and threepole (on zplan's native "
        f"kernels, the default) cost {min(conv_encode):.0f} to {max(conv_encode):.0f} us a frame. "
        "The ratio to the reference "
        "loop comes from calling each network once per time step for all candidates and "
        "line-search steps together, and from the native dynamics.",
        "",
    ]

    # --- ONNX Runtime session settings ---------------------------------------------------------
    sessions = {t: load(os.path.join(results, "sessions", f"{t}.json")) for t in TASKS}
    first = sessions[TASKS[0]]
    names = [r["setting"] for r in first["settings"]]

    def cell(task, name, key):
        rows = {r["setting"]: r for r in sessions[task]["settings"]}
        value, base = rows[name][key], rows["default"][key]
        return value, base / value

    def table(key, title):
        lines = [
            f"{title}, us (ratio default / setting):",
            "",
            "| setting | " + " | ".join(TASKS) + " |",
            "|---|" + "---|" * len(TASKS),
        ]
        for name in names:
            cells = [cell(t, name, key) for t in TASKS]
            lines.append(f"| {name} | " + " | ".join(f"{v:.1f} ({r:.2f}x)" for v, r in cells) + " |")
        return lines + [""]

    def geomean(name, key):
        return float(np.exp(np.mean([np.log(cell(t, name, key)[1]) for t in TASKS])))

    rows_text = ", ".join(f"{t} {sessions[t]['dynamics_rows']} / {sessions[t]['linearisation_points']}" for t in TASKS)
    md += [
        "## ONNX Runtime session settings",
        "",
        "`zplan bench sessions --task TASK`: zplan's default session settings (graph "
        "optimisation `all`, memory pattern on, CPU arena on, `Run` on the caller's buffers) "
        "and one change at a time: the other graph optimisation levels, the memory pattern off, "
        "the CPU arena off, and I/O binding (`RunWithBinding` on inputs and outputs bound once "
        "per batch size, the inputs copied in). Each round loads fresh sessions for every "
        "setting (timings also differ between two sessions of the same settings), times 200 "
        "calls of each network at the MPC step's batch sizes (the encoder at batch 1; the "
        "dynamics on ONNX Runtime at the planner's candidate rows and at its linearisation "
        f"points, rows / points: {rows_text}) and one episode of MPC steps with the dynamics on "
        f"ONNX Runtime and on the native kernels; {first['rounds']} rounds, the settings in "
        "rotated order, medians of the rounds' medians.",
        "",
    ]
    md += table("encoder_us", "The encoder at batch 1")
    md += table("mpc_step_native_us", "The MPC step (zplan's settings, native dynamics)")
    md += table("z_next_us", "The dynamics' z_next on ONNX Runtime at the candidate rows")
    md += table("jacobians_us", "The dynamics' A and B on ONNX Runtime at the linearisation points")
    md += table("mpc_step_onnxruntime_us", "The MPC step with every dynamics call on ONNX Runtime")
    conv = [t for t in TASKS if t in ("cartpole", "threepole")]
    level_ratios = [cell(t, n, "encoder_us")[1] for t in conv for n in names if n.startswith("graph optimisation")]
    others = [n for n in names if n != "default"]
    means = {
        n: (geomean(n, "encoder_us"), geomean(n, "mpc_step_native_us"), geomean(n, "mpc_step_onnxruntime_us"))
        for n in others
    }
    summary = "; ".join(f"{n}: {e:.2f}x, {m:.2f}x, {o:.2f}x" for n, (e, m, o) in means.items())
    md += [
        "Geometric means over the five tasks of the ratio default / setting for the encoder, the "
        f"native MPC step and the MPC step on ONNX Runtime: {summary}. The one large effect is the "
        "graph optimisation level on the conv encoders of cartpole and threepole: below `all` "
        f"they run at {min(level_ratios):.2f} to {max(level_ratios):.2f} of the default's speed, "
        "as `all` rewrites the convolutions to ONNX Runtime's blocked NCHWc layout. The other "
        "settings change a call by a few microseconds, within what two sessions of the same "
        "settings differ by, so zplan keeps ONNX Runtime's defaults for them; I/O binding saves "
        "the per-call wrapping of the inputs but adds their copy, and stays an option "
        "(`SessionSettings::io_binding`).",
        "",
    ]

    # --- Sampling planners -------------------------------------------------------------------
    md += [
        "## The sampling planners",
        "",
        "`zplan bench mpc --task TASK --planner cem|mppi --horizon 12` (1 episode; CEM at PlaNet's "
        "settings, 1000 samples x 10 iterations x 12 steps = 120 000 model steps per plan; MPPI at "
        "TD-MPC2's, 512 x 6 x 12 = 36 864), the CEM once more with `--evaluator onnxruntime`, and "
        "the same CEM in numpy with onnxruntime (benches/compare/sampling_numpy.py: one dynamics "
        "call of batch 1000 per time step, the same cost and refit) on the same ONNX file. The "
        "arithmetic limit is the network's flops per row times rows per second as a share of the "
        "single-thread float32 GEMM peak measured in the same run, for the whole plan and for the "
        "rollouts' dynamics calls alone. Medians; ratio = numpy / zplan.",
        "",
        "| task | flops per row | CEM step ms | % of limit | its dynamics calls ms | % of limit | "
        "CEM ms, dynamics on onnxruntime | numpy CEM ms | its onnxruntime calls ms | ratio | MPPI step ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task in ("planar", "swing", "cartpole"):
        n = load(os.path.join(results, "sampling", f"numpy-cem-{task}.json"))
        mppi = load(os.path.join(results, "sampling", f"zplan-mppi-{task}.json"))
        md.append(
            f"| {task} | {n['flops_per_row']} | {n['zplan_step_us'] / 1e3:.1f} | "
            f"{100 * n['zplan_fraction_of_limit']:.0f} % | {n['zplan_dynamics_us'] / 1e3:.1f} | "
            f"{100 * n['zplan_dynamics_fraction_of_limit']:.0f} % | "
            f"{n['zplan_onnxruntime_step_us'] / 1e3:.1f} | "
            f"{n['numpy_step_us'] / 1e3:.1f} | {n['numpy_dynamics_us'] / 1e3:.1f} | "
            f"{n['ratio']:.1f}x | {mppi['step_us_median'] / 1e3:.1f} |"
        )
    records = [load(os.path.join(results, "sampling", f"numpy-cem-{t}.json")) for t in ("planar", "swing", "cartpole")]
    peak = records[1]["sgemm_peak_gflops"]
    ratios = [r["ratio"] for r in records]
    native = [r["zplan_dynamics_fraction_of_limit"] for r in records]
    onnx = [r["zplan_onnxruntime_dynamics_fraction_of_limit"] for r in records]
    numpy_share = [r["numpy_fraction_of_limit"] for r in records]
    tasks = ("planar", "swing", "cartpole")
    native_ahead = [t for t, n, o in zip(tasks, native, onnx, strict=True) if n > o]
    onnx_ahead = [t for t, n, o in zip(tasks, native, onnx, strict=True) if n <= o]
    if not onnx_ahead:
        kernels = (
            "the native kernels are ahead on every task: they keep each 64-row tile in cache "
            "through every layer, fold biases and sums of products into the matrix products, and "
            "evaluate tanh as a rational function with a reciprocal estimate."
        )
    else:
        kernels = (
            f"the native kernels are ahead on {' and '.join(native_ahead) or 'no task'}, ONNX "
            f"Runtime's on {' and '.join(onnx_ahead)}. zplan runs the native kernels whenever they "
            "compile the graph and agree with ONNX Runtime at load, not by speed; "
            "`--evaluator onnxruntime` (`NetworkOptions::native = false`) is the choice where "
            "ONNX Runtime is faster on the machine at hand."
        )
    md += [
        "",
        f"The float32 GEMM peak measured: {peak:.0f} GFLOP/s. The dynamics networks are small "
        "(latent 2 to 8, hidden 64; most flops are the 64 x 64 layer). zplan's native kernels run "
        f"the rollouts' dynamics calls at {100 * min(native):.0f} to {100 * max(native):.0f} % of "
        f"the arithmetic limit, ONNX Runtime at {100 * min(onnx):.0f} to {100 * max(onnx):.0f} %: "
        + kernels
        + " The rest of a plan (drawing, costs, refits, copies) is the difference between a "
        "plan's share and its dynamics calls' share. numpy's CEM spends most of its time in the "
        f"same onnxruntime calls; zplan's plan takes {1 / max(ratios):.2f} to "
        f"{1 / min(ratios):.2f} times numpy's time. The arithmetic bounds that ratio: numpy's "
        f"whole plan runs at {100 * min(numpy_share):.0f} to {100 * max(numpy_share):.0f} % of "
        "the limit, so no plan of these settings on this machine can be more than "
        f"{1 / max(numpy_share):.1f} to {1 / min(numpy_share):.1f} times as fast as numpy's.",
        "",
    ]

    with open(out_md, "w") as f:
        f.write("\n".join(md))
    print(f"report: wrote {out_md} and {plot_dir}/")


if __name__ == "__main__":
    main()
