"""How well a bundle predicts ahead, and how much its predictions depend on the action.

    python -m zplan_train.prediction --model DIR --data DIR [--horizon H] [--windows N]

Runs the bundle's ONNX encoder and dynamics (ONNX Runtime, as the planner does) over windows of
H consecutive transitions of one episode in a buffer: z_0 = g(o_0), z_k = f(z_{k-1}, u_{k-1}),
and prints the RMS distance ||z_k - g(o_k)|| for k = 1..H with the recorded actions, with
u = 0 and with -u. A model whose three rows agree ignores its action, and a planner on it cannot
steer. Needs data with several transitions per episode (`zplan collect --sequence`, episodes).
"""

import argparse
import sys

import numpy as np

from .bundle import OnnxBundle
from .data import read_buffer_or_report


def rollout_errors(model_dir, data, horizon, windows):
    """{"recorded u" | "u = 0" | "-u": RMS error per step [H]} and the mean one-step latent move."""
    bundle = OnnxBundle(model_dir)
    index = data.windows(horizon)
    index = index[np.linspace(0, len(index) - 1, min(windows, len(index))).astype(int)]
    z0 = bundle.encode(data.obs[index[:, 0]])
    targets = np.stack([bundle.encode(data.next_obs[index[:, k]]) for k in range(horizon)], 1)
    errors = {}
    for name, sign in (("recorded u", 1.0), ("u = 0", 0.0), ("-u", -1.0)):
        z, rows = z0, []
        for k in range(horizon):
            z = bundle.step(z, sign * data.action[index[:, k]])
            rows.append(np.sqrt(((z - targets[:, k]) ** 2).sum(1)).mean())
        errors[name] = np.array(rows)
    move = np.sqrt(((targets[:, 0] - z0) ** 2).sum(1)).mean()
    return errors, move


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m zplan_train.prediction",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="a bundle directory")
    parser.add_argument("--data", required=True, help="a zplan buffer with episodes of several transitions")
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--windows", type=int, default=2000, help="windows drawn evenly over the buffer")
    args = parser.parse_args(argv)
    data = read_buffer_or_report(args.data, "zplan_train.prediction")
    if data is None:
        return 2
    if len(data.windows(args.horizon)) == 0:
        print(
            f"zplan_train.prediction: {args.data}: no run of {args.horizon} transitions in one episode", file=sys.stderr
        )
        return 2
    errors, move = rollout_errors(args.model, data, args.horizon, args.windows)
    print(
        f"{args.model} on {args.data}: RMS latent error k = 1..{args.horizon} steps ahead "
        f"(mean one-step move {move:.3g})"
    )
    for name, row in errors.items():
        print(f"  {name:>10}: " + " ".join(f"{v:.3g}" for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
