"""The training loop."""

import functools
import os
import time

import numpy as np
import torch

from .config import ModelKind, TrainConfig
from .models import LatentModel
from .objectives import losses, multistep_losses, pc3_losses
from .tasks import TASKS
from .video import VideoPredictor, object_columns, position_columns, video_losses, window_positions, windows_as_tensors


def to_tensors(data, index, device):
    """A batch of transitions as float tensors, images scaled to [0, 1]. For a batch of windows
    (index [B, H]) the actions are [B, H, nu] and the next observations [B, H, C, H, W]."""
    index = np.asarray(index)
    first = index if index.ndim == 1 else index[:, 0]
    obs = torch.from_numpy(data.obs[first].astype(np.float32) / 255.0).to(device)
    next_obs = torch.from_numpy(data.next_obs[index].astype(np.float32) / 255.0).to(device)
    action = torch.from_numpy(data.action[index]).to(device)
    reward = torch.from_numpy(data.reward[first]).to(device)
    return obs, action, reward, next_obs


def _log(message):
    print(message, flush=True)


def train(data, task, config=None, log=_log, after_epoch=None):
    """Trains a model of `task` on `data` as `config` says; returns (model, history, held-out
    indices, seconds).

    `history` holds, per epoch, the mean of every loss term over the training batches; a
    `config.horizon` > 1 trains the deterministic kind on predictions that many steps ahead
    (windows of one episode), and the video kind (a `VideoPredictor`) always trains on windows
    of `config.horizon` fed-back predictions. `after_epoch(epoch, model, history, held-out
    indices, seconds)`, when given, runs after every epoch (1-based) with the model in eval
    mode, e.g. to export checkpoints."""
    config = config or TrainConfig()
    kind, seed, device, horizon, epochs = config.kind, config.seed, config.device, config.horizon, config.epochs
    # Subnormal floats (below 1.2e-38) are flushed to zero: x86 cores compute with them slowly.
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    np.random.seed(seed)
    train_rows, test_rows = data.split(config.held_out, seed)
    if horizon > 1 or not kind.latent:
        train_rows = _windows_outside(data, horizon, test_rows)
    nu = data.action.shape[1]
    if kind.latent:
        model = LatentModel(task, kind, data.obs.shape[1:], nu, config.transition_width).to(device)
        if horizon > 1:
            objective = multistep_losses
        elif kind == ModelKind.PC3:
            objective = functools.partial(pc3_losses, latent_noise=config.latent_noise)
        else:
            objective = losses

        def step(index):
            return objective(model, *to_tensors(data, index, device))
    else:
        spec = TASKS[task]
        model = VideoPredictor(data.obs.shape[1:], nu, spec.planning_high).to(device)
        columns = object_columns(spec.state)
        pairs = position_columns(spec.state) if config.keypoint_weight > 0.0 else []
        if config.keypoint_weight > 0.0 and (not pairs or data.state is None):
            raise ValueError(
                f"keypoint_weight {config.keypoint_weight} needs true positions: {data.path} has no states"
                if pairs
                else f"keypoint_weight {config.keypoint_weight}: {task}'s state has no NAME_x, NAME_y pair"
            )
        if len(pairs) > model.keypoint_count:
            raise ValueError(
                f"{task} has {len(pairs)} positions to supervise, the predictor only {model.keypoint_count} keypoints"
            )

        def step(index):
            batch = windows_as_tensors(data, index, columns, device)
            positions = window_positions(data, index, pairs, device) if pairs else None
            return video_losses(
                model, *batch, config.tracking_weight, config.tracking_radius, positions, config.keypoint_weight
            )

    if config.latent_init_std is not None and kind.latent:
        first = train_rows if train_rows.ndim == 1 else train_rows[:, 0]
        rows = np.sort(np.random.default_rng([seed, 1]).choice(first, min(len(first), 1024), replace=False))
        obs = torch.from_numpy(data.obs[rows].astype(np.float32) / 255.0).to(device)
        model.encoder.rescale(obs, config.latent_init_std)
    if config.init_from is not None:
        load_weights(model, config.init_from)
    optimiser = (torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam)(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    rng = np.random.default_rng(seed)
    history = []
    start = time.time()
    for epoch in range(epochs):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, epoch)
        model.train()
        order = rng.permutation(train_rows)
        sums, batches = {}, 0
        for begin in range(0, len(order), config.batch_size):
            terms, total = step(order[begin : begin + config.batch_size])
            optimiser.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            optimiser.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            sums["total"] = sums.get("total", 0.0) + float(total.detach())
            batches += 1
        means = {name: value / batches for name, value in sums.items()}
        history.append(means)
        if (epoch + 1) % max(1, epochs // 100) == 0 or epoch + 1 == epochs:
            log(
                f"epoch {epoch + 1}/{epochs} ({time.time() - start:.0f} s): "
                + ", ".join(f"{k} {v:.4g}" for k, v in means.items())
            )
        if after_epoch is not None:
            after_epoch(epoch + 1, model.eval(), history, test_rows, time.time() - start)
            model.to(device)
    return model.eval(), history, test_rows, time.time() - start


# The torch weights of a bundle trained with `save_weights`, beside its ONNX files.
WEIGHTS_FILE = "weights.pt"


def save_weights(model, bundle_dir):
    """Writes the model's weights into `bundle_dir` (through a temporary file and a rename)."""
    path = os.path.join(bundle_dir, WEIGHTS_FILE)
    torch.save(model.state_dict(), path + ".tmp")
    os.replace(path + ".tmp", path)


def load_weights(model, bundle_dir):
    """Loads the weights `save_weights` wrote into `bundle_dir` into `model`; a ValueError
    names the file when there are none or when they belong to another kind or size of model."""
    path = os.path.join(bundle_dir, WEIGHTS_FILE)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no weights to start from (a bundle trained with --save-weights has them)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        detail = " ".join(str(e).split())
        raise ValueError(f"{path}: the weights do not fit the model being trained: {detail}") from None


def learning_rate(config, epoch):
    """The learning rate of epoch `epoch` (0-based) under `config.lr_schedule`: constant, or
    lr (1 + cos(pi e / E)) / 2 for E epochs."""
    if config.lr_schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1.0 + np.cos(np.pi * epoch / config.epochs))


def _windows_outside(data, horizon, held_out):
    """The windows of `horizon` transitions of one episode that hold no held-out transition."""
    windows = data.windows(horizon)
    held = np.zeros(len(data), dtype=bool)
    held[held_out] = True
    windows = windows[~held[windows].any(1)]
    if len(windows) == 0:
        raise ValueError(
            f"{data.path}: no run of {horizon} transitions in one episode (collect with `zplan collect --sequence`)"
        )
    return windows
