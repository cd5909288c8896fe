"""python -m zplan_train --data DIR [DIR ...] --task T --out DIR [--model KIND] [--epochs N] [--seed S]
[--device cpu|cuda]"""

import argparse
import os
import sys

from .config import KIND_DEFAULTS, ModelKind, TrainConfig
from .data import read_buffer_or_report
from .export import ExportError, export_bundle
from .plots import latent_space, reconstructions
from .tasks import TASKS
from .train import save_weights, train

DEFAULTS = TrainConfig()


def _kind_default(name):
    return ", ".join(f"{kind.value} {values[name]}" for kind, values in KIND_DEFAULTS.items())


def parse(argv):
    """The command line as (args, TrainConfig)."""
    parser = argparse.ArgumentParser(prog="python -m zplan_train", description=__doc__)
    parser.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="DIR",
        help="zplan buffer directories (zplan collect), trained on together",
    )
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--out", required=True, help="bundle directory to write")
    parser.add_argument("--model", default=DEFAULTS.kind, type=ModelKind, choices=list(ModelKind))
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--device", default=DEFAULTS.device, choices=("cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, help=f"default: {_kind_default('batch_size')}")
    parser.add_argument("--lr", type=float, help=f"default: {_kind_default('lr')}")
    parser.add_argument("--weight-decay", type=float, help=f"default: {_kind_default('weight_decay')}")
    parser.add_argument(
        "--transition-width",
        type=int,
        default=DEFAULTS.transition_width,
        help="hidden width of the latent dynamics (the planner calls it most)",
    )
    parser.add_argument(
        "--horizon",
        type=int,
        help="prediction steps of the deterministic kind's loss (data from `zplan collect --sequence`), "
        f"fed-back rollout steps of the video kind's; default: {_kind_default('horizon')}",
    )
    parser.add_argument(
        "--tracking-weight",
        type=float,
        default=DEFAULTS.tracking_weight,
        help="video kind: weight of the designated-pixel tracking terms (px^2) against the image term",
    )
    parser.add_argument(
        "--tracking-radius",
        type=float,
        default=DEFAULTS.tracking_radius,
        help="video kind: also charge the carried map's mass farther than this (px) from the object's "
        "true centre by its squared distance beyond it (push: the object's radius, 3.5); default: no such term",
    )
    parser.add_argument(
        "--keypoint-weight",
        type=float,
        default=DEFAULTS.keypoint_weight,
        help="video kind: supervise the predictor's first keypoints by the true positions in the buffer's "
        "states (every NAME_x, NAME_y pair; push: pusher, object) with this weight (px^2); default: unsupervised",
    )
    parser.add_argument(
        "--lr-schedule",
        default=DEFAULTS.lr_schedule,
        choices=("constant", "cosine"),
        help="learning rate over the epochs: constant, or half a cosine from --lr down to 0",
    )
    parser.add_argument(
        "--jacobians",
        default=DEFAULTS.jacobians,
        choices=("model", "central", "forward"),
        help="the planner's Jacobians: exact ones computed in the exported dynamics (model), or "
        "finite differences of its z' (central, forward)",
    )
    parser.add_argument(
        "--optimizer",
        default=DEFAULTS.optimizer,
        choices=("adam", "adamw"),
        help="adam: weight decay as an L2 term inside the clipped gradient (PC3's); adamw: decoupled from it",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="also write the bundle after every N epochs, to OUT-eEPOCH (without the pictures)",
    )
    parser.add_argument(
        "--latent-noise",
        type=float,
        help="pc3 kind: standard deviation of the noise on the encoded next latent (default: PC3's 0.1)",
    )
    parser.add_argument(
        "--latent-init-std",
        type=float,
        help="scale the fresh encoder's last layer so that the training images' latent starts centred "
        "with this spread per component (default: as drawn)",
    )
    parser.add_argument(
        "--save-weights",
        action="store_true",
        help="also write the torch weights (weights.pt) into the bundle and its checkpoints, for --init-from",
    )
    parser.add_argument(
        "--init-from",
        metavar="BUNDLE",
        help="start from the weights of a bundle written with --save-weights (same kind and sizes) "
        "instead of fresh ones; its held-out rows may differ from this run's",
    )
    args = parser.parse_args(argv)
    try:
        config = TrainConfig(
            kind=args.model,
            epochs=args.epochs,
            seed=args.seed,
            device=args.device,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            transition_width=args.transition_width,
            horizon=args.horizon,
            tracking_weight=args.tracking_weight,
            tracking_radius=args.tracking_radius,
            keypoint_weight=args.keypoint_weight,
            lr_schedule=args.lr_schedule,
            jacobians=args.jacobians,
            checkpoint_every=args.checkpoint_every,
            optimizer=args.optimizer,
            latent_noise=args.latent_noise,
            latent_init_std=args.latent_init_std,
            init_from=args.init_from,
            save_weights=args.save_weights,
        )
    except ValueError as e:
        parser.error(str(e))
    return args, config


def main(argv=None):
    args, config = parse(argv)
    data = read_buffer_or_report(args.data, "zplan_train")
    if data is None:
        return 2
    print(
        f"zplan_train: {len(data)} transitions of {args.task} from {data.path}, model {config.kind}, seed {config.seed}"
    )
    if config.init_from is not None:
        print(f"zplan_train: starting from the weights of {config.init_from}")

    def checkpoint(epoch, model, history, held_out, seconds):
        every = config.checkpoint_every
        if every and epoch % every == 0 and epoch < config.epochs:
            out = f"{args.out}-e{epoch}"
            export_bundle(model, data, held_out, out, history, config, seconds, task=args.task)
            if config.save_weights:
                save_weights(model, out)
            print(f"zplan_train: wrote the checkpoint {out}", flush=True)

    try:
        model, history, held_out, seconds = train(data, args.task, config, after_epoch=checkpoint)
    except ExportError as e:
        print(f"zplan_train: refusing to write a checkpoint: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"zplan_train: {e}", file=sys.stderr)
        return 2
    try:
        errors = export_bundle(model, data, held_out, args.out, history, config, seconds, task=args.task)
        if config.save_weights:
            save_weights(model, args.out)
    except ExportError as e:
        print(f"zplan_train: refusing to write {args.out}: {e}", file=sys.stderr)
        return 1
    if config.kind.latent:
        reconstructions(model, data, held_out, os.path.join(args.out, "reconstructions.png"))
        latent_space(model, data, held_out, os.path.join(args.out, "latent.png"))
    else:
        print(f"zplan_train: the predictor computes {model.flops() / 1e6:.2f} MFLOP per predicted frame (one map)")
    print(
        f"zplan_train: wrote {args.out} in {seconds:.1f} s of training; ONNX/torch max errors "
        + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
