"""A bundle's encoder and dynamics run through ONNX Runtime, as the planner runs them."""

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
