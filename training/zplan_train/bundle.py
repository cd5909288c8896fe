"""A bundle's networks run through ONNX Runtime, as the planner runs them: the encoder and
dynamics of a latent bundle, the predictor of a video bundle."""

import json
import os

import numpy as np
import onnxruntime as ort


class OnnxBundle:
    """The networks of the bundle in `model_dir`, named as its zplan.json names them."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "zplan.json")) as f:
            manifest = json.load(f)
        self.encoder_spec, self.dynamics_spec = manifest["encoder"], manifest["dynamics"]
        self.encoder = ort.InferenceSession(os.path.join(model_dir, self.encoder_spec["file"]))
        self.dynamics = ort.InferenceSession(os.path.join(model_dir, self.dynamics_spec["file"]))

    def encode(self, obs, batch=512):
        """z [N, nz] of uint8 observations [N, C, H, W] (scaled to [0, 1]), `batch` rows a call."""
        spec = self.encoder_spec
        return np.concatenate(
            [
                self.encoder.run([spec["output"]], {spec["input"]: obs[b : b + batch].astype(np.float32) / 255.0})[0]
                for b in range(0, len(obs), batch)
            ]
        )

    def step(self, z, u):
        """z' [N, nz] = f(z, u)."""
        spec = self.dynamics_spec
        return self.dynamics.run(
            [spec["output"]], {spec["state_input"]: z, spec["action_input"]: u.astype(np.float32)}
        )[0]


# Rows per ONNX Runtime call of a video predictor (crates/zplan-onnx PredictorNet's CHUNK_ROWS).
CHUNK_ROWS = 16


class OnnxVideoBundle:
    """The predictor of the video bundle in `model_dir` (manifest kind "video"), on ONNX Runtime
    with `threads` intra-op threads."""

    def __init__(self, model_dir, threads=1):
        with open(os.path.join(model_dir, "zplan.json")) as f:
            self.manifest = json.load(f)
        if self.manifest.get("kind") != "video":
            raise ValueError(f"{model_dir}: not a video bundle (zplan.json kind is {self.manifest.get('kind')!r})")
        self.spec = self.manifest["predictor"]
        self.path = os.path.join(model_dir, self.spec["file"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])

    def predict(self, frames, u, maps):
        """(next frame [B, C, H, W], next maps [B, P, H, W]) of float32 frames [B, frames * C, H,
        W] in [0, 1], actions [B, nu] and maps [B, P, H, W]; run in calls of CHUNK_ROWS rows, as
        zplan's PredictorNet runs it (the activations of a few rows stay in cache)."""
        spec = self.spec
        outputs = [spec["frame_output"], spec["maps_output"]]
        parts = [
            self.session.run(
                outputs,
                {
                    spec["frames_input"]: np.ascontiguousarray(frames[b : b + CHUNK_ROWS], dtype=np.float32),
                    spec["action_input"]: np.ascontiguousarray(u[b : b + CHUNK_ROWS], dtype=np.float32),
                    spec["maps_input"]: np.ascontiguousarray(maps[b : b + CHUNK_ROWS], dtype=np.float32),
                },
            )
            for b in range(0, len(frames), CHUNK_ROWS)
        ]
        return [np.concatenate(column) for column in zip(*parts, strict=True)]
