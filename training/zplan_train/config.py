"""One training run's settings, with every default in one place."""

from dataclasses import dataclass
from enum import StrEnum


class ModelKind(StrEnum):
    """The model kinds of the trainer (models.py describes each)."""

    DETERMINISTIC = "deterministic"
    E2C = "e2c"
    PC3 = "pc3"
    VIDEO = "video"

    @property
    def latent(self):
        """Whether the kind is a latent model (encoder, dynamics, decoder, reward), not a video
        predictor."""
        return self != ModelKind.VIDEO


# Defaults per kind: PC3's published optimiser settings for pc3, those of the E2C family for the
# latent kinds, and 10-step fed-back rollouts for the video predictor.
KIND_DEFAULTS = {
    ModelKind.PC3: dict(batch_size=256, lr=5e-4, weight_decay=1e-3, horizon=1, latent_noise=0.1),
    ModelKind.DETERMINISTIC: dict(batch_size=128, lr=1e-3, weight_decay=0.0, horizon=1),
    ModelKind.E2C: dict(batch_size=128, lr=1e-3, weight_decay=0.0, horizon=1),
    ModelKind.VIDEO: dict(batch_size=64, lr=1e-3, weight_decay=0.0, horizon=10),
}


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run. `batch_size`, `lr`, `weight_decay` and `horizon` left None
    take the kind's defaults (KIND_DEFAULTS)."""

    kind: ModelKind = ModelKind.PC3
    epochs: int = 50
    seed: int = 0
    device: str = "cpu"
    batch_size: int = None
    lr: float = None
    weight_decay: float = None
    # Hidden width of the latent dynamics (the planner calls it most).
    transition_width: int = 64
    # Prediction steps of the deterministic kind's loss (data from `zplan collect --sequence`),
    # and the fed-back rollout length of the video predictor's.
    horizon: int = None
    # Weight of the video predictor's tracking term (px^2) against its image term (video.py).
    tracking_weight: float = 3e-3
    # Radius (px) around the object's true centre beyond which the carried map's mass is
    # charged by its squared distance (video.py's "outside" term; push: the object's radius,
    # 3.5). None: no such term.
    tracking_radius: float = None
    # Weight of the video predictor's keypoint term (px^2): its first keypoints supervised by the
    # true positions in the buffer's states (video.py). 0: unsupervised keypoints.
    keypoint_weight: float = 0.0
    # Learning rate over the epochs: "constant", or "cosine" (from lr down to 0 at the end of
    # the last epoch, following half a cosine, set at every epoch's start).
    lr_schedule: str = "constant"
    # Share of the transitions held out of training (for the exported parity check and plots).
    held_out: float = 0.1
    # The planner's Jacobians: "model" (the exact dz'/dz and dz'/du, computed in the exported
    # dynamics graph beside z'), or finite differences of z', "central" or "forward".
    jacobians: str = "model"
    # Also write the bundle after every N epochs (None: only at the end).
    checkpoint_every: int = None
    # "adam": weight decay as an L2 term of the loss, so inside the gradient that is clipped and
    # scaled per parameter (PC3's setting); "adamw": decoupled, w <- w (1 - lr weight_decay)
    # at each step, untouched by clipping and by Adam's scaling.
    optimizer: str = "adam"
    # PC3's latent noise: the standard deviation of the Gaussian noise added to the encoded next
    # latent before it is scored against the predicted transition (pc3 kind only; PC3: 0.1).
    # The planar recipe's 0.5 leaves fewer latents folded over themselves than 0.1, 1 or 2
    # (docs/results.md, "Across training seeds").
    latent_noise: float = None
    # Scale the fresh encoder's last layer so that the latent of the training images starts
    # centred with this spread in each component (None: as drawn). A start far below PC3's
    # latent noise (0.1) gives its contrastive term no signal to spread a collapsed latent.
    latent_init_std: float = None
    # Start from the torch weights of an earlier run of the same kind and sizes: a bundle
    # directory written with save_weights (its weights.pt). None: weights drawn from `seed`.
    init_from: str = None
    # Also write the torch weights (weights.pt) into the bundle and into each checkpoint, so that
    # a later run can continue from them (init_from).
    save_weights: bool = False

    def __post_init__(self):
        kind = ModelKind(self.kind)
        object.__setattr__(self, "kind", kind)
        for name, value in KIND_DEFAULTS[kind].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.latent_noise is not None and kind != ModelKind.PC3:
            raise ValueError(f"latent_noise applies to the pc3 kind, not {kind.value}")
        if self.latent_noise is not None and not self.latent_noise >= 0.0:
            raise ValueError(f"latent_noise must be non-negative, not {self.latent_noise}")
        if self.horizon < 1 or (self.horizon > 1 and kind not in (ModelKind.DETERMINISTIC, ModelKind.VIDEO)):
            raise ValueError(
                f"a prediction horizon of {self.horizon} needs the deterministic or video kind, not {kind.value}"
            )
        if not self.tracking_weight >= 0.0:
            raise ValueError(f"tracking_weight must be non-negative, not {self.tracking_weight}")
        if self.tracking_radius is not None and not self.tracking_radius >= 0.0:
            raise ValueError(f"tracking_radius must be non-negative, not {self.tracking_radius}")
        if not self.keypoint_weight >= 0.0:
            raise ValueError(f"keypoint_weight must be non-negative, not {self.keypoint_weight}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be constant or cosine, not {self.lr_schedule!r}")
        if self.latent_init_std is not None and not self.latent_init_std > 0.0:
            raise ValueError(f"latent_init_std must be positive, not {self.latent_init_std}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be adam or adamw, not {self.optimizer!r}")
        if self.jacobians not in ("model", "central", "forward"):
            raise ValueError(f"jacobians must be model, central or forward, not {self.jacobians!r}")
