"""python -m zplan_train.jacobians BUNDLE [BUNDLE ...]: gives latent bundles whose planner takes
finite differences the exact Jacobians of their own dynamics, without retraining.

The dynamics' weights are read back from dynamics.onnx into the trainer's network of the kind
the provenance names (deterministic, pc3, e2c), the network is exported again with the outputs
"A" = dz'/dz and "B" = dz'/du beside "z_next", and the manifest then says
`"jacobians": {"mode": "model"}`. The new z' must equal the old file's to 1e-5 on random
latents and actions within the action limits, and the Jacobians must equal central differences
of z' (float64, `export.jacobian_error`); otherwise the bundle is left as it was."""

import argparse
import json
import os
import re
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from .config import ModelKind
from .export import JACOBIAN_TOLERANCE, ExportError, _Dynamics, _export, _parity, jacobian_error
from .models import GaussianResidualDynamics, LocallyLinearDynamics, ResidualDynamics

# z' of the re-exported graph against the original one (both float32 on ONNX Runtime).
SAME_OUTPUT_TOLERANCE = 1e-5
ROWS = 256


class _Stepper(torch.nn.Module):
    """A bare dynamics network with the `step` / `jacobians` interface of `LatentModel`."""

    def __init__(self, dynamics, kind):
        super().__init__()
        self.dynamics, self.kind = dynamics, kind

    def step(self, z, u):
        out = self.dynamics(z, u)
        return out if self.kind == ModelKind.E2C else (out[0] if self.kind == ModelKind.PC3 else out, None, None)

    def jacobians(self, z, u):
        return self.dynamics.jacobians(z, u)


def _kind(manifest):
    match = re.search(r"\((\w+)", manifest.get("provenance", {}).get("trainer", ""))
    if match is None or match.group(1) not in ("deterministic", "pc3", "e2c"):
        raise ExportError("provenance.trainer does not name the model kind (deterministic, pc3 or e2c)")
    return ModelKind(match.group(1))


def _network(weights, kind, nz, nu):
    """The dynamics network of `kind` holding `weights` ({parameter name: tensor})."""
    widths = [w.shape[0] for name, w in weights.items() if name.endswith(".weight") and w.dim() == 2]
    hidden = widths[0]
    dynamics = {
        ModelKind.DETERMINISTIC: ResidualDynamics,
        ModelKind.PC3: GaussianResidualDynamics,
        ModelKind.E2C: LocallyLinearDynamics,
    }[kind](nz, nu, hidden)
    state = dynamics.state_dict()
    # pc3's log-std head does not reach z' and is not in the file: it keeps its initial values.
    missing = [name for name in state if name not in weights and not name.startswith("logstd.")]
    unknown = [name for name in weights if name not in state]
    if missing or unknown:
        raise ExportError(f"the file's weights do not fit a {kind.value} network: missing {missing}, unknown {unknown}")
    state.update({name: weights[name] for name in state if name in weights})
    dynamics.load_state_dict(state)
    return dynamics.eval()


def add_model_jacobians(bundle, seed=0):
    """Rewrites `bundle`'s dynamics.onnx with A/B outputs and its manifest with model Jacobians;
    returns {"z_next": largest |new - old|, "jacobians": relative error against central
    differences}."""
    manifest_path = os.path.join(bundle, "zplan.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    if manifest.get("kind", "latent") != "latent":
        raise ExportError(f"{bundle}: a {manifest['kind']} bundle has no latent dynamics")
    spec = manifest["dynamics"]
    if spec.get("a_output"):
        raise ExportError(f"{bundle}: the dynamics already output Jacobians")
    kind, nz, nu = _kind(manifest), manifest["latent_dim"], manifest["action"]["dim"]
    path = os.path.join(bundle, spec["file"])
    graph = onnx.load(path)
    weights = {
        re.sub(r"^(model\.)?dynamics\.", "", t.name): torch.from_numpy(numpy_helper.to_array(t).copy())
        for t in graph.graph.initializer
    }
    model = _Stepper(_network(weights, kind, nz, nu), kind).eval()

    rng = np.random.default_rng(seed)
    low, high = np.array(manifest["action"]["low"]), np.array(manifest["action"]["high"])
    z = rng.uniform(-3.0, 3.0, (ROWS, nz)).astype(np.float32)
    u = rng.uniform(low, high, (ROWS, nu)).astype(np.float32)
    (old,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        [spec["output"]], {spec["state_input"]: z, spec["action_input"]: u}
    )
    z_t, u_t = torch.from_numpy(z), torch.from_numpy(u)
    error = jacobian_error(model, z_t, u_t)
    if not error < JACOBIAN_TOLERANCE:
        raise ExportError(f"{bundle}: the Jacobians differ from central differences by {error:.3g} (relative)")

    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        module = _Dynamics(model, True).eval()
        _export(module, (z_t, u_t), tmp, ["z", "u"], ["z_next", "A", "B"])
        _parity(module, tmp, {"z": z_t, "u": u_t})
        (new,) = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"]).run(["z_next"], {"z": z, "u": u})
        same = float(np.max(np.abs(new - old)))
        if not same <= SAME_OUTPUT_TOLERANCE:
            raise ExportError(f"{bundle}: the re-exported z' differs from the file's by {same:.3g}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    manifest["dynamics"] = {**spec, "state_input": "z", "action_input": "u", "output": "z_next"}
    manifest["dynamics"].update(a_output="A", b_output="B")
    manifest["jacobians"] = {"mode": "model"}
    tmp = f"{manifest_path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(tmp, manifest_path)
    return {"z_next": same, "jacobians": error}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m zplan_train.jacobians", description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="+", metavar="BUNDLE")
    args = parser.parse_args(argv)
    for bundle in args.bundles:
        try:
            errors = add_model_jacobians(bundle)
        except (ExportError, OSError, KeyError, ValueError) as e:
            print(f"zplan_train.jacobians: {e}", file=sys.stderr)
            return 1
        same, error = errors["z_next"], errors["jacobians"]
        print(f"{bundle}: z' unchanged to {same:.2g}, Jacobians = central differences to {error:.2g} (relative)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
