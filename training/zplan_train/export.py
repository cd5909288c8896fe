"""Writes a trained model as a zplan bundle, after checking that ONNX Runtime reproduces torch.

Latent models (encoder, dynamics, decoder, reward) are written as manifest format version 1,
video predictors as version 2 with `"kind": "video"` (docs/model-bundle.md).

The bundle is written to a temporary directory beside the target and moved into place only when
every network's ONNX outputs match torch on held-out data to 1e-4 (max abs error)."""

import copy
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
from .tasks import TASKS
from .video import object_columns, object_pixels, one_hot_maps

PARITY_TOLERANCE = 1e-4
# Largest relative difference of the exported Jacobians from central differences (float64).
JACOBIAN_TOLERANCE = 1e-6

# Designated-pixel maps a video bundle's predictor takes at most in one call (its maps axis is
# dynamic, 1 to this).
MAX_MAPS = 16

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
    """z' of a model's dynamics (`model.step`), or (z', dz'/dz, dz'/du) (`model.jacobians`)."""

    def __init__(self, model, jacobians):
        super().__init__()
        self.model, self.jacobians = model, jacobians

    def forward(self, z, u):
        return self.model.jacobians(z, u) if self.jacobians else self.model.step(z, u)[0]


def jacobian_error(model, z, u, step=1e-6):
    """Largest |exact - central difference| / (1 + |central difference|) over the rows of (z, u)
    and the entries of dz'/dz and dz'/du, in float64: `model.jacobians` against
    (z'(x + h e_i) - z'(x - h e_i)) / 2h of `model.step` (h = `step`)."""
    model = copy.deepcopy(model).double()
    z, u = z.double(), u.double()
    nz = z.shape[1]
    with torch.no_grad():
        _, a, b = model.jacobians(z, u)
        exact = torch.cat([a, b], dim=2)
        error = 0.0
        for i in range(exact.shape[2]):
            x = torch.cat([z, u], dim=1)
            plus, minus = x.clone(), x.clone()
            plus[:, i] += step
            minus[:, i] -= step
            difference = (model.step(plus[:, :nz], plus[:, nz:])[0] - model.step(minus[:, :nz], minus[:, nz:])[0]) / (
                2 * step
            )
            error = max(error, float(((exact[:, :, i] - difference).abs() / (1 + difference.abs())).max()))
    return error


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


def _export(module, args, path, inputs, outputs, extra_axes=None):
    """Exports with a dynamic batch axis on every input, plus `extra_axes` ({input: {axis: Dim}})."""
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    shapes = {name: {0: batch, **(extra_axes or {}).get(name, {})} for name in inputs}
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


def _checked_jacobians(model, z, u):
    error = jacobian_error(model, z, u)
    if not error < JACOBIAN_TOLERANCE:
        raise ExportError(f"the dynamics' Jacobians differ from central differences by {error:.3g} (relative)")
    return error


def _provenance(kind, data, history, seed, seconds, detail=""):
    final = {k: float(v) for k, v in history[-1].items()} if history else {}
    provenance = {
        "trainer": f"zplan_train {__version__} ({kind}{detail})",
        "dataset": f"{os.path.abspath(data.path)} ({len(data)} transitions)",
        "losses": final,
        "seed": int(seed),
        "training_seconds": round(float(seconds), 3),
    }
    revision = _git_revision()
    if revision:
        provenance["git_revision"] = revision
    return provenance


def _write_manifest_and_move(manifest, tmp, out):
    with open(os.path.join(tmp, "zplan.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def _scratch(out):
    tmp = f"{os.path.abspath(out)}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def export_bundle(model, data, held_out, out, history, config, seconds, name=None, task=None):
    """Exports a trained model, latent (`export_latent_bundle`) or video predictor
    (`export_video_bundle`, which needs `task`); returns the parity errors."""
    if config.kind.latent:
        return export_latent_bundle(model, data, held_out, out, history, config, seconds, name)
    return export_video_bundle(model, task, data, held_out, out, history, config, seconds, name)


def export_video_bundle(model, task, data, held_out, out, history, config, seconds, name=None):
    """Exports a `VideoPredictor` of `task` to the bundle directory `out` (manifest format
    version 2, kind "video"); returns the parity error of its predictor.

    The batch axis and the maps axis (1 to MAX_MAPS designated pixels) stay dynamic. Parity is
    checked on held-out frames with two maps: one-hot at the object's centre and at the image
    centre."""
    model = model.cpu().eval()
    spec = TASKS[task]
    frames_count, height, width = model.shape
    tmp = _scratch(out)
    try:
        rows = np.sort(held_out[:256])
        frames = torch.from_numpy(data.obs[rows].astype(np.float32) / 255.0)
        u = torch.from_numpy(data.action[rows])
        columns = object_columns(spec.state)
        if columns is not None and data.state is not None:
            pixels = object_pixels(data.state[rows], columns)
        else:
            pixels = np.zeros((len(rows), 2), dtype=np.int64)
        centre = np.tile([[width // 2, height // 2]], (len(rows), 1))
        maps = torch.cat([one_hot_maps(pixels, height, width), one_hot_maps(centre, height, width)], 1)
        path = os.path.join(tmp, "predictor.onnx")
        maps_axis = {"maps": {1: torch.export.Dim("maps", min=1, max=MAX_MAPS)}}
        inputs, outputs = ["frames", "u", "maps"], ["next_frame", "next_maps"]
        _export(model, (frames, u, maps), path, inputs, outputs, maps_axis)
        error = _parity(model, path, dict(zip(inputs, (frames, u, maps), strict=True)))
        manifest = {
            "format_version": 2,
            "kind": "video",
            "name": name or f"{task}-video-seed{config.seed}",
            "observation": {"frames": frames_count, "channels": 1, "height": height, "width": width},
            "action": {"dim": model.actions, "low": list(spec.planning_low), "high": list(spec.planning_high)},
            "time_step": spec.bundle_time_step,
            "predictor": {
                "file": "predictor.onnx",
                "frames_input": "frames",
                "action_input": "u",
                "maps_input": "maps",
                "frame_output": "next_frame",
                "maps_output": "next_maps",
                "max_maps": MAX_MAPS,
            },
            "provenance": _provenance(
                config.kind, data, history, config.seed, seconds, f", {config.horizon}-step rollouts"
            ),
        }
        _write_manifest_and_move(manifest, tmp, out)
        return {"predictor": error}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export_latent_bundle(model, data, held_out, out, history, config, seconds, name=None):
    """Exports `model` (on the CPU), trained as `config` says, to the bundle directory `out`;
    returns the parity errors.

    With `config.jacobians` "model" the dynamics graph also outputs the exact dz'/dz ("A") and
    dz'/du ("B"), checked against central differences of z' (`jacobian_error`); with "central"
    or "forward" the planner takes finite differences of that scheme (docs/model-bundle.md).
    The seed and `config.horizon` (the prediction steps it was trained on) go into the
    provenance."""
    seed, jacobians, horizon = config.seed, config.jacobians, config.horizon
    exact = jacobians == "model"
    model = model.cpu().eval()
    task, kind = model.task, model.kind
    spec = TASKS[task]
    frames, height, width = model.shape
    nz, nu = model.latent, model.actions
    tmp = _scratch(out)
    try:
        rows = held_out[:256]
        obs = torch.from_numpy(data.obs[rows].astype(np.float32) / 255.0)
        u = torch.from_numpy(data.action[rows])
        with torch.no_grad():
            z = model.encoder(obs)[0]
        networks = {
            "encoder": (_Encoder(model), {"obs": obs}, ["z"]),
            "dynamics": (_Dynamics(model, exact), {"z": z, "u": u}, ["z_next", "A", "B"] if exact else ["z_next"]),
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
        if exact:
            errors["jacobians"] = _checked_jacobians(model, z, u)
            dynamics.update(a_output="A", b_output="B")
        provenance = _provenance(
            kind, data, history, seed, seconds, f", {horizon}-step prediction" if horizon > 1 else ""
        )
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
            if exact
            else {"mode": "finite_differences", "step": 0.01, "scheme": jacobians},
            "provenance": provenance,
        }
        _write_manifest_and_move(manifest, tmp, out)
        return errors
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
