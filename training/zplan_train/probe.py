"""How much of the true state a bundle's latent state holds, as a linear read-out.

    python -m zplan_train.probe --model DIR --data DIR --task T [--range NAME=LOW:HIGH ...] [--rows N]

Encodes observations of a buffer that has the true states (its `state` field, written by `zplan
collect` and `zplan mbrl`) with the bundle's ONNX encoder, fits s_i ~ w' [z; 1] by least squares
on one half of the rows and prints, per state component i, its spread and the RMS residual and
R^2 = 1 - residual^2 / spread^2 on the other half. `--range` keeps the rows whose state lies in
the given bounds (repeatable, e.g. `--range theta=-0.4:0.4`): a latent map is nonlinear over the
whole state space, and the read-out that matters is the one near where the planner works.

The planner sees only z: a component that no affine function of z recovers (R^2 near 0) is one
the quadratic latent cost cannot weigh and the locally linear plan cannot steer. A velocity
the two stacked frames show but the latent drops is the usual case: reconstructing both frames
needs each angle only to about a pixel, and a rate is the difference of two angles 1/50 s apart.

A latent can hold the whole state and still be a bad map to plan in: folded over itself or
pinched to a line somewhere. The probe also fits the local map dz/ds [nz, ns] of every row on
the 12 nearest distinct states in (standardised) state space and prints its smallest singular
value (median over the rows) and two shares of rows: "pinched", where that value is below a
tenth of the median, so that some direction of the state barely moves z; and, where latent and
state have one size, "folded", where det(dz/ds) has the sign of the minority, so that the map
there is a mirror image of the rest. A planar latent that is a sheet twisted through a line of
positions (z = (s_0, s_0 s_1) as the extreme) is about half folded, and plans that must cross
that line fail.
"""

import argparse
import sys

import numpy as np

from .bundle import OnnxBundle
from .data import read_buffer_or_report
from .tasks import TASKS


def linear_probe(features, targets):
    """Fits targets [N, k] ~ [features, 1] w on the first half of the rows; returns per column
    (spread, RMS residual, R^2) on the second half, spread being the held-out standard deviation."""
    features, targets = np.asarray(features, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    if len(features) < 4 or len(features) != len(targets):
        raise ValueError(
            f"a probe needs matching rows of features and targets, at least 4 (got {len(features)} and {len(targets)})"
        )
    design = np.hstack([features, np.ones((len(features), 1))])
    half = len(design) // 2
    weights = np.linalg.lstsq(design[:half], targets[:half], rcond=None)[0]
    residual = targets[half:] - design[half:] @ weights
    spread = targets[half:].std(0)
    rms = np.sqrt((residual**2).mean(0))
    r2 = 1.0 - rms**2 / np.maximum(spread**2, 1e-300)
    return spread, rms, r2


def local_maps(states, latents, neighbours=12):
    """Least-squares local Jacobians dz/ds [N, nz, ns] of latents [N, nz] against states [N, ns]
    (each state component standardised), each fitted on the `neighbours` nearest distinct states
    (itself included; rows of one state share their mean latent), centred on their means."""
    states, latents = np.asarray(states, dtype=np.float64), np.asarray(latents, dtype=np.float64)
    n, ns = states.shape
    if len(latents) != n:
        raise ValueError(f"local maps need matching rows of states and latents (got {n} and {len(latents)})")
    # Grid tasks (planar) repeat states: fit on the distinct ones.
    distinct, row_state = np.unique(states, axis=0, return_inverse=True)
    row_state = row_state.reshape(-1)
    if not ns < neighbours <= len(distinct):
        raise ValueError(
            f"local maps need more than {ns} neighbours among the distinct states (got {len(distinct)} states, "
            f"{neighbours} neighbours)"
        )
    means = np.zeros((len(distinct), latents.shape[1]))
    np.add.at(means, row_state, latents)
    means /= np.bincount(row_state, minlength=len(distinct))[:, None]
    scaled = (distinct - distinct.mean(0)) / np.maximum(distinct.std(0), 1e-300)
    squared = (scaled**2).sum(1)
    jacobians = np.empty((len(distinct), latents.shape[1], ns))
    for start in range(0, len(distinct), 512):
        block = slice(start, min(start + 512, len(distinct)))
        distance = squared[block, None] + squared[None, :] - 2.0 * scaled[block] @ scaled.T
        nearest = np.argpartition(distance, neighbours - 1, axis=1)[:, :neighbours]
        ds = scaled[nearest] - scaled[nearest].mean(1, keepdims=True)  # [b, k, ns]
        dz = means[nearest] - means[nearest].mean(1, keepdims=True)  # [b, k, nz]
        # dz ~ ds J' on each state's neighbours: J' = (ds' ds)^-1 ds' dz.
        jacobians[block] = np.linalg.solve(ds.transpose(0, 2, 1) @ ds, ds.transpose(0, 2, 1) @ dz).transpose(0, 2, 1)
    return jacobians[row_state]


def map_defects(jacobians):
    """(median smallest singular value, pinched share, folded share or None) of local Jacobians
    [N, nz, ns]: pinched rows have a smallest singular value below a tenth of the median; folded
    rows (nz = ns only) have det of the minority's sign."""
    smallest = np.linalg.svd(jacobians, compute_uv=False)[:, -1]
    median = float(np.median(smallest))
    pinched = float((smallest < 0.1 * median).mean())
    folded = None
    if jacobians.shape[1] == jacobians.shape[2]:
        positive = float((np.linalg.det(jacobians) > 0.0).mean())
        folded = min(positive, 1.0 - positive)
    return median, pinched, folded


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m zplan_train.probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a bundle directory")
    parser.add_argument("--data", required=True, help="a zplan buffer with the true states")
    parser.add_argument("--task", required=True, choices=sorted(TASKS), help="names the state's components")
    parser.add_argument(
        "--range",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH",
        help="keep the rows whose state component NAME lies in [LOW, HIGH]",
    )
    parser.add_argument("--rows", type=int, default=10000, help="rows drawn evenly over the kept ones")
    args = parser.parse_args(argv)
    data = read_buffer_or_report(args.data, "zplan_train.probe")
    if data is None:
        return 2
    names = TASKS[args.task].state
    if data.state is None:
        print(
            f"zplan_train.probe: {args.data}: the buffer holds no true states (no `state` field), the probe needs them",
            file=sys.stderr,
        )
        return 2
    if data.state.shape[1] != len(names):
        print(
            f"zplan_train.probe: {args.data}: true states of {data.state.shape[1]} values, a {args.task} state has "
            f"{len(names)}",
            file=sys.stderr,
        )
        return 2
    kept = np.ones(len(data), dtype=bool)
    for bound in args.range:
        try:
            name, interval = bound.split("=")
            low, high = (float(v) for v in interval.split(":"))
            column = names.index(name)
        except ValueError:
            print(
                f"zplan_train.probe: --range {bound}: expected NAME=LOW:HIGH with NAME one of {', '.join(names)}",
                file=sys.stderr,
            )
            return 2
        kept &= (data.state[:, column] >= low) & (data.state[:, column] <= high)
    kept = np.flatnonzero(kept)
    if len(kept) == 0:
        print(f"zplan_train.probe: {args.data}: no row lies in {', '.join(args.range)}", file=sys.stderr)
        return 2
    # Evenly spread rows, shuffled so that both halves cover the whole selection.
    rows = kept[np.linspace(0, len(kept) - 1, min(args.rows, len(kept))).astype(int)] if len(kept) else kept
    rows = np.random.default_rng(0).permutation(rows)
    try:
        latents = OnnxBundle(args.model).encode(data.obs[rows])
        spread, rms, r2 = linear_probe(latents, data.state[rows])
    except (OSError, ValueError) as e:
        print(f"zplan_train.probe: {e}", file=sys.stderr)
        return 2
    try:
        median, pinched, folded = map_defects(local_maps(data.state[rows], latents))
        folded = "" if folded is None else f", folded {100.0 * folded:.1f} %"
        local = f"smallest singular value {median:.4g} (median), pinched {100.0 * pinched:.1f} %{folded}"
    except np.linalg.LinAlgError:
        local = "not fitted: the nearest states of some row span less than the state space (a narrow --range?)"
    except ValueError as e:
        local = f"not fitted: {e}"
    where = f" ({', '.join(args.range)})" if args.range else ""
    print(
        f"{args.model} on {args.data}{where}: true state from the latent, affine least squares, {len(rows) // 2} rows "
        f"fitted, {len(rows) - len(rows) // 2} held out"
    )
    print(f"  {'component':>12} {'spread':>9} {'residual':>9} {'R^2':>6}")
    for name, s, r, q in zip(names, spread, rms, r2, strict=True):
        print(f"  {name:>12} {s:9.4g} {r:9.4g} {q:6.3f}")
    print(f"  local map dz/ds on the 12 nearest distinct states: {local}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
