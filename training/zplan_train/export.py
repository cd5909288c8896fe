"""Writes a trained model as a zplan bundle, after checking that ONNX Runtime reproduces torch.

The bundle is written to a temporary directory beside the target and moved into place only when
every network's ONNX outputs match torch on held-out data to 1e-4 (max abs error)."""

import json
import logging
import os
import shutil
import subprocess
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from . import __version__
from .config import ModelKind
from .tasks import TASKS

PARITY_TOLERANCE = 1e-4

# The exporter reports every torchvision operator it skips; none of them is used here.
logging.getLogger("torch.onnx").setLevel(logging.ERROR)


class ExportError(Exception):
    """The exported networks disagree with torch (or cannot be exported)."""


class _Encoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, obs):
        return self.encoder(obs)[0]


class _Decoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, z):
        return torch.sigmoid(self.decoder(z))


class _Dynamics(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, z, u):
        z_next, a, b = self.model.step(z, u)
        return (z_next, a, b) if a is not None else z_next


def _git_revision():
    """The trainer's commit, with "-dirty" when its own files differ from that commit."""
    here = os.path.dirname(os.path.abspath(__file__))

    def git(*args):
        return subprocess.run(["git", "-C", here, *args], capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        revision = git("rev-parse", "--short", "HEAD")
        if revision and git("status", "--porcelain", "--", "."):
            revision += "-dirty"
        return revision or None
    except (OSError, subprocess.SubprocessError):
        return None


def _export(module, args, path, inputs, outputs):
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    shapes = {name: {0: batch} for name in inputs}
    with torch.no_grad(), warnings.catch_warnings():
        # Every input shares the one batch axis, which the exporter remarks on.
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints.*")
        torch.onnx.export(
            module,
            args,
            path,
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes=shapes,
            external_data=False,
            verbose=False,
        )
    model = onnx.load(path)
    if model.ir_version > 13 or any(o.version > 26 for o in model.opset_import if o.domain in ("", "ai.onnx")):
        opsets = [o.version for o in model.opset_import]
        raise ExportError(f"{path}: IR {model.ir_version} / opset {opsets} is newer than ONNX Runtime 1.31 loads")


def _parity(module, path, feeds):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in feeds.items()})
    with torch.no_grad():
        want = module(*feeds.values())
    want = want if isinstance(want, tuple) else (want,)
    error = max(float(np.max(np.abs(g - w.numpy()))) for g, w in zip(got, want, strict=True))
    if not error < PARITY_TOLERANCE:
        raise ExportError(f"{path}: ONNX Runtime differs from torch by {error:.3g} (limit {PARITY_TOLERANCE:g})")
    return error


def export_bundle(model, data, held_out, out, history, config, seconds, name=None):
    """Exports `model` (on the CPU), trained as `config` says, to the bundle directory `out`;
    returns the parity errors.

    Models without A/B heads get finite-difference Jacobians of the `config.differences` scheme
    (central or forward, docs/model-bundle.md); the seed and `config.horizon` (the prediction
    steps it was trained on) go into the provenance."""
    seed, differences, horizon = config.seed, config.differences, config.horizon
    model = model.cpu().eval()
    task, kind = model.task, model.kind
    spec = TASKS[task]
    frames, height, width = model.shape
    nz, nu = model.latent, model.actions
    tmp = f"{os.path.abspath(out)}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        rows = held_out[:256]
        obs = torch.from_numpy(data.obs[rows].astype(np.float32) / 255.0)
        u = torch.from_numpy(data.action[rows])
        with torch.no_grad():
            z = model.encoder(obs)[0]
        networks = {
            "encoder": (_Encoder(model), {"obs": obs}, ["z"]),
            "dynamics": (
                _Dynamics(model),
                {"z": z, "u": u},
                ["z_next", "A", "B"] if kind == ModelKind.E2C else ["z_next"],
            ),
            "decoder": (_Decoder(model), {"z": z}, ["obs"]),
            "reward": (model.reward, {"z": z, "u": u}, ["r"]),
        }
        errors = {}
        for net, (module, feeds, outputs) in networks.items():
            path = os.path.join(tmp, f"{net}.onnx")
            module.eval()
            _export(module, tuple(feeds.values()), path, list(feeds), outputs)
            errors[net] = _parity(module, path, feeds)
        dynamics = {"file": "dynamics.onnx", "state_input": "z", "action_input": "u", "output": "z_next"}
        if kind == ModelKind.E2C:
            dynamics.update(a_output="A", b_output="B")
        final = {k: float(v) for k, v in history[-1].items()} if history else {}
        provenance = {
            "trainer": f"zplan_train {__version__} ({kind}" + (f", {horizon}-step prediction)" if horizon > 1 else ")"),
            "dataset": f"{os.path.abspath(data.path)} ({len(data)} transitions)",
            "losses": final,
            "seed": int(seed),
            "training_seconds": round(float(seconds), 3),
        }
        revision = _git_revision()
        if revision:
            provenance["git_revision"] = revision
        manifest = {
            "format_version": 1,
            "name": name or f"{task}-{kind.value}-seed{seed}",
            "observation": {"frames": frames, "channels": 1, "height": height, "width": width},
            "latent_dim": nz,
            "action": {"dim": nu, "low": list(spec.planning_low), "high": list(spec.planning_high)},
            "time_step": spec.bundle_time_step,
            "encoder": {"file": "encoder.onnx", "input": "obs", "output": "z"},
            "dynamics": dynamics,
            "decoder": {"file": "decoder.onnx", "input": "z", "output": "obs"},
            "reward": {"file": "reward.onnx", "state_input": "z", "action_input": "u", "output": "r"},
            "jacobians": {"mode": "model"}
            if kind == ModelKind.E2C
            else {"mode": "finite_differences", "step": 0.01, "scheme": differences},
            "provenance": provenance,
        }
        with open(os.path.join(tmp, "zplan.json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        return errors
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
