"""The training loop."""

import time

import numpy as np
import torch

from .models import LatentModel
from .objectives import losses, multistep_losses, pc3_losses


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


def train(data, task, kind, epochs, seed, device="cpu", batch_size=128, lr=1e-3, held_out=0.1, log=_log, weight_decay=0.0,
          transition=64, horizon=1, after_epoch=None):
    """Trains a model on `data`; returns (model, history, held-out indices, seconds).

    `history` holds, per epoch, the mean of every loss term over the training batches;
    `transition` is the width of the latent dynamics' hidden layers; `horizon` > 1 trains the
    deterministic kind on predictions `horizon` steps ahead (windows of one episode).
    `after_epoch(epoch, model, history, held-out indices, seconds)`, when given, runs after every
    epoch (1-based) with the model in eval mode, e.g. to export checkpoints."""
    # Subnormal floats (below 1.2e-38) are flushed to zero: x86 cores compute with them slowly.
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    np.random.seed(seed)
    train_rows, test_rows = data.split(held_out, seed)
    model = LatentModel(task, kind, data.obs.shape[1:], data.action.shape[1], transition).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    objective = pc3_losses if kind == "pc3" else losses
    if horizon > 1:
        if kind != "deterministic":
            raise ValueError(f"a prediction horizon of {horizon} needs the deterministic kind, not {kind!r}")
        windows = data.windows(horizon)
        held = np.zeros(len(data), dtype=bool)
        held[test_rows] = True
        train_rows = windows[~held[windows].any(1)]
        if len(train_rows) == 0:
            raise ValueError(f"{data.path}: no run of {horizon} transitions in one episode "
                             "(collect with `zplan collect --sequence`)")
        objective = multistep_losses
    rng = np.random.default_rng(seed)
    history = []
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(train_rows)
        sums, batches = {}, 0
        for begin in range(0, len(order), batch_size):
            batch = to_tensors(data, order[begin : begin + batch_size], device)
            terms, total = objective(model, *batch)
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
            log(f"epoch {epoch + 1}/{epochs} ({time.time() - start:.0f} s): " + ", ".join(f"{k} {v:.4g}" for k, v in means.items()))
        if after_epoch is not None:
            after_epoch(epoch + 1, model.eval(), history, test_rows, time.time() - start)
            model.to(device)
    return model.eval(), history, test_rows, time.time() - start
