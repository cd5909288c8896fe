"""python -m zplan_train --data DIR --task T --out DIR [--epochs N] [--seed S] [--device cpu|cuda]"""

import argparse
import os
import sys

from .data import BufferError, read_buffer
from .export import ExportError, export_bundle
from .models import KINDS, TASKS
from .plots import latent_space, reconstructions
from .train import train


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m zplan_train", description=__doc__)
    parser.add_argument("--data", required=True, help="a zplan buffer directory (zplan collect)")
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--out", required=True, help="bundle directory to write")
    parser.add_argument("--model", default="pc3", choices=KINDS)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, help="default 256 for pc3, else 128")
    parser.add_argument("--lr", type=float, help="default 5e-4 for pc3, else 1e-3")
    parser.add_argument("--weight-decay", type=float, help="default 1e-3 for pc3, else 0")
    parser.add_argument("--transition-width", type=int, default=64,
                        help="hidden width of the latent dynamics (the planner calls it most)")
    parser.add_argument("--horizon", type=int, default=1,
                        help="prediction steps of the deterministic kind's loss (data from `zplan collect --sequence`)")
    parser.add_argument("--differences", default="central", choices=("central", "forward"),
                        help="finite-difference scheme of the planner's Jacobians (models without A/B heads)")
    parser.add_argument("--checkpoint-every", type=int, metavar="N",
                        help="also write the bundle after every N epochs, to OUT-eEPOCH (without the pictures)")
    args = parser.parse_args(argv)
    pc3 = args.model == "pc3"
    batch_size = args.batch_size or (256 if pc3 else 128)
    lr = args.lr or (5e-4 if pc3 else 1e-3)
    weight_decay = args.weight_decay if args.weight_decay is not None else (1e-3 if pc3 else 0.0)

    if args.horizon < 1 or (args.horizon > 1 and args.model != "deterministic"):
        parser.error("--horizon must be 1, or above 1 with --model deterministic")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        parser.error("--checkpoint-every must be at least 1")
    try:
        data = read_buffer(args.data)
    except BufferError as e:
        print(f"zplan_train: {e}", file=sys.stderr)
        return 2
    print(f"zplan_train: {len(data)} transitions of {args.task} from {args.data}, model {args.model}, seed {args.seed}")

    def checkpoint(epoch, model, history, held_out, seconds):
        if args.checkpoint_every and epoch % args.checkpoint_every == 0 and epoch < args.epochs:
            export_bundle(model, data, held_out, f"{args.out}-e{epoch}", history, args.seed, seconds,
                          differences=args.differences, horizon=args.horizon)
            print(f"zplan_train: wrote the checkpoint {args.out}-e{epoch}", flush=True)

    try:
        model, history, held_out, seconds = train(
            data, args.task, args.model, args.epochs, args.seed, args.device, batch_size, lr, weight_decay=weight_decay,
            transition=args.transition_width, horizon=args.horizon, after_epoch=checkpoint,
        )
    except ExportError as e:
        print(f"zplan_train: refusing to write a checkpoint: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"zplan_train: {e}", file=sys.stderr)
        return 2
    try:
        errors = export_bundle(model, data, held_out, args.out, history, args.seed, seconds,
                               differences=args.differences, horizon=args.horizon)
    except ExportError as e:
        print(f"zplan_train: refusing to write {args.out}: {e}", file=sys.stderr)
        return 1
    reconstructions(model, data, held_out, os.path.join(args.out, "reconstructions.png"))
    latent_space(model, data, held_out, os.path.join(args.out, "latent.png"))
    print(f"zplan_train: wrote {args.out} in {seconds:.1f} s of training; ONNX/torch max errors "
          + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
