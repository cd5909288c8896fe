"""Crocoddyl's side of `make bench-compare`.

Replays the seeded problems that `lqr-compare` wrote (zplan's timings and controls included)
through Crocoddyl's ActionModelLQR, SolverDDP and SolverBoxDDP, single thread; checks that both
return the same controls; prints one table and writes the summary JSON. Then solves the same
problems with zplan's sine term in the dynamics (x' = A x + B u + f + eps sin(x), a Python
action model around the LQR one, so only its iteration counts and costs compare, not its time)
and records the iterations each solver takes and the cost it ends at.

Usage: python lqr_crocoddyl.py ZPLAN.json OUT.json [--quick]
"""

import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
import crocoddyl  # noqa: E402

TOLERANCE = 1e-8

# Weight of the sine term of the nonlinear cases (lqr-compare's NONLINEARITY).
NONLINEARITY = 0.1


def array(value):
    """An ndarray serialised by Rust's ndarray (`{"v": 1, "dim": [...], "data": [...]}`)."""
    return np.asarray(value["data"], dtype=float).reshape(value["dim"])


def median_us(fn, budget_s):
    """Median wall time of `fn` in microseconds, after a warm-up, over about `budget_s`."""
    start = time.perf_counter()
    while time.perf_counter() - start < budget_s / 4:
        fn()
    probe = time.perf_counter()
    fn()
    once = max(time.perf_counter() - probe, 1e-7)
    runs = int(min(max(budget_s / once, 20), 200_000))
    samples = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter_ns()
        fn()
        samples[i] = (time.perf_counter_ns() - t) / 1e3
    return float(np.median(samples))


def build(problem, bounded):
    """The Crocoddyl shooting problem of one zplan case (time-invariant model, T copies)."""
    n, m, horizon = problem["n"], problem["m"], problem["horizon"]
    a, b, f = array(problem["a"]), array(problem["b"]), array(problem["f"])
    q, r = array(problem["q"]), array(problem["r"])
    # zplan writes the cross term as u'N x with N (m x n); Crocoddyl as x'N u with N (n x m).
    n_cross = array(problem["n_cross"]).T.copy()
    q_lin, r_lin = array(problem["q_lin"]), array(problem["r_lin"])
    model = crocoddyl.ActionModelLQR(a, b, q, r, n_cross, f, q_lin, r_lin)
    if bounded:
        model.u_lb = array(problem["lower"])
        model.u_ub = array(problem["upper"])
    x0 = array(problem["x0"])
    shooting = crocoddyl.ShootingProblem(x0, [model] * horizon, model)
    shooting.nthreads = 1
    zeros = [np.zeros(m)] * horizon
    return shooting, x0, zeros, n


class SineModel(crocoddyl.ActionModelAbstract):
    """An LQR action model with the sine term of zplan's nonlinear cases added to its dynamics:
    x' = A x + B u + f + eps sin(x), df/dx = A + eps diag(cos x); the cost is the LQR model's."""

    def __init__(self, lqr, eps):
        crocoddyl.ActionModelAbstract.__init__(self, crocoddyl.StateVector(lqr.state.nx), lqr.nu)
        self.lqr, self.eps = lqr, eps
        if lqr.has_control_limits:
            self.u_lb, self.u_ub = lqr.u_lb, lqr.u_ub

    def calc(self, data, x, u=None):
        if u is None:
            self.lqr.calc(data.lqr, x)
        else:
            self.lqr.calc(data.lqr, x, u)
            data.xnext = data.lqr.xnext + self.eps * np.sin(x)
        data.cost = data.lqr.cost

    def calcDiff(self, data, x, u=None):
        if u is None:
            self.lqr.calcDiff(data.lqr, x)
        else:
            self.lqr.calcDiff(data.lqr, x, u)
            data.Fx = data.lqr.Fx + self.eps * np.diag(np.cos(x))
            data.Fu = data.lqr.Fu
            data.Lu, data.Lxu, data.Luu = data.lqr.Lu, data.lqr.Lxu, data.lqr.Luu
        data.Lx, data.Lxx = data.lqr.Lx, data.lqr.Lxx

    def createData(self):
        return SineData(self)


class SineData(crocoddyl.ActionDataAbstract):
    def __init__(self, model):
        crocoddyl.ActionDataAbstract.__init__(self, model)
        self.lqr = model.lqr.createData()


def solve_nonlinear(problem, bounded, eps):
    """Crocoddyl's DDP (or BoxDDP) on the case with the sine term, from the rollout of zero
    controls and with its default stopping threshold: (iterations, converged, final cost)."""
    shooting, x0, zeros, _ = build(problem, bounded)
    lqr = shooting.runningModels[0]
    sine = SineModel(lqr, eps)
    nonlinear = crocoddyl.ShootingProblem(x0, [sine] * len(zeros), SineModel(lqr, eps))
    solver = (crocoddyl.SolverBoxDDP if bounded else crocoddyl.SolverDDP)(nonlinear)
    converged = solver.solve(nonlinear.rollout(zeros), zeros, 500, True, 1e-9)
    return solver.iter + 1, bool(converged), float(solver.cost)


def solve(solver, shooting, zeros):
    """Solves from the rollout of zero controls, the start zplan uses."""
    solver.th_stop = 1e-20
    converged = solver.solve(shooting.rollout(zeros), zeros, 500, True, 1e-9)
    return converged, np.array(solver.us)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    budget = 0.1 if "--quick" in sys.argv else 1.0
    with open(args[0]) as f:
        cases = json.load(f)["cases"]
    rows, failures = [], []
    for case in cases:
        n, m, horizon = case["n"], case["m"], case["horizon"]
        problem = case["problem"]

        shooting, x0, zeros, _ = build(problem, bounded=False)
        ddp = crocoddyl.SolverDDP(shooting)
        ddp.setCandidate([x0] * (horizon + 1), zeros, False)
        ddp.calcDiff()
        backward_us = median_us(ddp.backwardPass, budget)
        solve_us = median_us(lambda ddp=ddp, shooting=shooting, zeros=zeros: solve(ddp, shooting, zeros), budget)
        _, us = solve(ddp, shooting, zeros)

        shooting_box, _, _, _ = build(problem, bounded=True)
        box = crocoddyl.SolverBoxDDP(shooting_box)
        box_us = median_us(
            lambda box=box, shooting_box=shooting_box, zeros=zeros: solve(box, shooting_box, zeros), budget
        )
        _, us_box = solve(box, shooting_box, zeros)

        for name, ours, theirs in (
            ("LQR solve", array(case["lqr_controls"]), us),
            ("DDP solve", array(case["ddp_controls"]), us),
            ("box-DDP solve", array(case["boxddp_controls"]), us_box),
        ):
            diff = float(np.max(np.abs(ours - theirs)))
            if not diff <= TOLERANCE:
                failures.append(f"n={n} m={m} T={horizon} {name}: controls differ by {diff:.3e}")

        nonlinear = {}
        for key, bounded in (("sine_ddp", False), ("sine_boxddp", True)):
            iterations, converged, cost = solve_nonlinear(problem, bounded, NONLINEARITY)
            ours = case[key]
            nonlinear.update(
                {
                    f"zplan_{key}_iterations": ours["iterations"],
                    f"zplan_{key}_converged": ours["converged"],
                    f"zplan_{key}_cost": ours["costs"][-1],
                    f"zplan_{key}_us": ours["solve"]["median_us"],
                    f"crocoddyl_{key}_iterations": iterations,
                    f"crocoddyl_{key}_converged": converged,
                    f"crocoddyl_{key}_cost": cost,
                }
            )

        rows.append(
            {
                **nonlinear,
                "n": n,
                "m": m,
                "T": horizon,
                "zplan_backward_us": case["backward"]["median_us"],
                "crocoddyl_backward_us": backward_us,
                "zplan_solve_us": case["ddp_solve"]["median_us"],
                "crocoddyl_solve_us": solve_us,
                "zplan_boxddp_us": case["boxddp_solve"]["median_us"],
                "crocoddyl_boxddp_us": box_us,
                "zplan_lqr_solve_us": case["lqr_solve"]["median_us"],
                "zplan_backward_gflops": case["backward_gflops"],
                "zplan_ddp_iterations": case["ddp_iterations"],
                "crocoddyl_ddp_iterations": ddp.iter + 1,
                "zplan_boxddp_iterations": case["boxddp_iterations"],
                "crocoddyl_boxddp_iterations": box.iter + 1,
            }
        )

    header = (
        f"{'n':>3} {'m':>2} {'T':>4} | {'backward us':>22} {'ratio':>6} | {'DDP solve us':>22} {'ratio':>6}"
        f" | {'box-DDP solve us':>24} {'ratio':>6} | {'GFLOP/s':>7}"
    )
    print("zplan vs Crocoddyl " + crocoddyl.__version__ + ", medians, single thread (ratio = Crocoddyl / zplan)")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['n']:>3} {r['m']:>2} {r['T']:>4} | "
            f"{r['zplan_backward_us']:>10.1f} {r['crocoddyl_backward_us']:>11.1f} "
            f"{r['crocoddyl_backward_us'] / r['zplan_backward_us']:>6.2f} | "
            f"{r['zplan_solve_us']:>10.1f} {r['crocoddyl_solve_us']:>11.1f} "
            f"{r['crocoddyl_solve_us'] / r['zplan_solve_us']:>6.2f} | "
            f"{r['zplan_boxddp_us']:>11.1f} {r['crocoddyl_boxddp_us']:>12.1f} "
            f"{r['crocoddyl_boxddp_us'] / r['zplan_boxddp_us']:>6.2f} | "
            f"{r['zplan_backward_gflops']:>7.2f}"
        )
    print(f"with the sine term ({NONLINEARITY} sin(x)): iterations (final cost), zplan / Crocoddyl")
    for r in rows:
        print(
            f"{r['n']:>3} {r['m']:>2} {r['T']:>4} | DDP "
            f"{r['zplan_sine_ddp_iterations']} ({r['zplan_sine_ddp_cost']:.6g}) / "
            f"{r['crocoddyl_sine_ddp_iterations']} ({r['crocoddyl_sine_ddp_cost']:.6g}) | box-DDP "
            f"{r['zplan_sine_boxddp_iterations']} ({r['zplan_sine_boxddp_cost']:.6g}) / "
            f"{r['crocoddyl_sine_boxddp_iterations']} ({r['crocoddyl_sine_boxddp_cost']:.6g})"
        )
    with open(args[1], "w") as f:
        json.dump(rows, f, indent=2)
    if failures:
        print("\n".join(["controls disagree:"] + failures), file=sys.stderr)
        sys.exit(1)
    print(f"controls agree to {TOLERANCE:g} in every case; written {args[1]}")


if __name__ == "__main__":
    main()
