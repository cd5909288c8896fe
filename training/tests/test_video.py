import subprocess
import warnings

import numpy as np
import onnxruntime as ort
import torch
from zplan_train.data import read_buffer
from zplan_train.tasks import TASKS
from zplan_train.video import (
    VideoPredictor,
    map_mean,
    object_columns,
    one_hot_maps,
    rollout,
    video_losses,
    windows_as_tensors,
)


def _model():
    torch.manual_seed(0)
    model = VideoPredictor((2, 32, 32), 2, [1.0, 1.0]).eval()
    # Random weights large enough that masks and kernels are far from uniform.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return model


def _inputs(batch, maps, seed):
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(batch, 2, 32, 32, generator=g)
    u = torch.rand(batch, 2, generator=g) * 2 - 1
    m = torch.rand(batch, maps, 32, 32, generator=g) ** 4
    return frames, u, m / m.sum((2, 3), keepdim=True)


def test_the_exported_predictor_matches_torch_with_any_batch_and_number_of_maps(tmp_path):
    model = _model()
    path = str(tmp_path / "predictor.onnx")
    batch, maps = torch.export.Dim("batch", min=1, max=1 << 20), torch.export.Dim("maps", min=1, max=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            _inputs(3, 2, 0),
            path,
            input_names=["frames", "u", "maps"],
            output_names=["next_frame", "next_maps"],
            dynamic_shapes={"frames": {0: batch}, "u": {0: batch}, "maps": {0: batch, 1: maps}},
            external_data=False,
        )
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for b, p, seed in [(1, 1, 1), (7, 3, 2), (200, 1, 3)]:
        frames, u, m = _inputs(b, p, seed)
        frame, next_maps = session.run(None, {"frames": frames.numpy(), "u": u.numpy(), "maps": m.numpy()})
        with torch.no_grad():
            want_frame, want_maps = model(frames, u, m)
        assert frame.shape == (b, 1, 32, 32) and next_maps.shape == (b, p, 32, 32)
        assert np.max(np.abs(frame - want_frame.numpy())) < 1e-4
        assert np.max(np.abs(next_maps - want_maps.numpy())) < 1e-4
        # The maps stay distributions through the exported network.
        assert next_maps.min() >= 0.0
        assert np.max(np.abs(next_maps.sum((2, 3)) - 1.0)) < 1e-4


def test_maps_stay_normalised_over_a_rollout_and_a_one_hot_map_has_its_pixel_as_mean():
    model = _model()
    maps = one_hot_maps(np.array([[3, 5], [20, 30]]), 32, 32)
    assert torch.allclose(map_mean(maps)[:, 0], torch.tensor([[3.5, 5.5], [20.5, 30.5]]))
    frames, _, _ = _inputs(2, 1, 4)
    actions = torch.rand(2, 10, 2) * 2 - 1
    with torch.no_grad():
        predicted, carried = rollout(model, frames, actions, maps)
    assert predicted.shape == (2, 10, 32, 32) and carried.shape == (2, 10, 1, 32, 32)
    assert carried.min() >= 0.0
    assert torch.allclose(carried.sum((3, 4)), torch.ones(2, 10, 1), atol=1e-5)
    assert model.flops() > 0


def test_a_few_epochs_on_push_episodes_lower_both_losses(zplan, tmp_path):
    out = tmp_path / "push"
    subprocess.run(
        [zplan, "collect", "--task", "push", "--policy", "random", "--episodes", "8", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    data = read_buffer(str(out))
    columns = object_columns(TASKS["push"].state)
    windows = data.windows(10)
    assert columns == (2, 3) and len(windows) > 100
    torch.manual_seed(0)
    model = VideoPredictor(data.obs.shape[1:], 2, TASKS["push"].planning_high)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    history = []
    for _ in range(6):
        batches = []
        for index in np.array_split(rng.permutation(windows), 8):
            terms, total = video_losses(model, *windows_as_tensors(data, index, columns), 1e-3)
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
            batches.append({k: float(v.detach()) for k, v in terms.items()})
        history.append({k: np.mean([b[k] for b in batches]) for k in batches[0]})
    assert history[-1]["image"] < 0.9 * history[0]["image"], history
    assert history[-1]["tracking"] < history[0]["tracking"], history
