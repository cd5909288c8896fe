import json
import subprocess
import warnings

import numpy as np
import onnxruntime as ort
import torch
from zplan_train import video_report
from zplan_train.bundle import OnnxVideoBundle
from zplan_train.config import TrainConfig
from zplan_train.data import read_buffer
from zplan_train.export import export_bundle
from zplan_train.tasks import TASKS
from zplan_train.train import train
from zplan_train.video import (
    VideoPredictor,
    map_mean,
    object_columns,
    one_hot_maps,
    position_columns,
    rollout,
    video_losses,
    window_positions,
    windows_as_tensors,
)


def _model():
    torch.manual_seed(0)
    model = VideoPredictor((2, 32, 32), 2, [1.0, 1.0]).eval()
    # Random weights large enough that masks and kernels are far from uniform (logits of a few
    # units: each weight's noise scaled by 1 / sqrt(fan-in), so that depth does not blow them up).
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.add_(2.0 * torch.randn_like(p) / fan_in**0.5)
    return model


def _inputs(batch, maps, seed):
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(batch, 2, 32, 32, generator=g)
    u = torch.rand(batch, 2, generator=g) * 2 - 1
    m = torch.rand(batch, maps, 32, 32, generator=g) ** 4
    return frames, u, m / m.sum((2, 3), keepdim=True)


def _push_buffer(zplan, tmp_path, episodes):
    """`episodes` random-policy push episodes recorded by `zplan collect`, read back."""
    out = tmp_path / "push"
    subprocess.run(
        [zplan, "collect", "--task", "push", "--policy", "random", "--episodes", str(episodes), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return read_buffer(str(out))


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


def test_the_outside_term_charges_map_mass_beyond_the_radius_by_its_squared_distance():
    model = _model()
    frames, _, _ = _inputs(1, 1, 5)
    actions = torch.zeros(1, 2, 2)
    targets = torch.zeros(1, 2, 32, 32)
    pixels = np.array([[10, 10]])
    with torch.no_grad():
        _, carried = rollout(model, frames, actions, one_hot_maps(pixels, 32, 32))
    maps = carried[0, :, 0]  # [T, H, W]
    xs = torch.arange(32.0) + 0.5
    for radius, shift in [(3.5, 0.0), (3.5, 6.0), (0.0, 2.0)]:
        centres = torch.tensor([[10.5 + shift, 10.5]]).repeat(2, 1)
        with torch.no_grad():
            terms, total = video_losses(model, frames, actions, targets, pixels, centres[None], 0.5, radius)
        distance = torch.sqrt((xs[None, :] - centres[0, 0]) ** 2 + (xs[:, None] - centres[0, 1]) ** 2)
        want = (maps * torch.relu(distance - radius) ** 2).sum((1, 2)).sum()
        assert torch.allclose(terms["outside"], want, rtol=1e-5, atol=1e-6)
        assert torch.allclose(total, terms["image"] + 0.5 * (terms["tracking"] + terms["outside"]))
    # No mass beyond the radius costs nothing; mass 6 px away costs more than its mean's shift.
    with torch.no_grad():
        near, _ = video_losses(model, frames, actions, targets, pixels, torch.full((1, 2, 2), 10.5), 1.0, 31.0)
        far, _ = video_losses(model, frames, actions, targets, pixels, torch.tensor([[[16.5, 10.5]] * 2]), 1.0, 3.5)
    assert float(near["outside"]) == 0.0 and float(far["outside"]) > 0.0
    # Without a radius there is no such term.
    with torch.no_grad():
        plain, total = video_losses(model, frames, actions, targets, pixels, centres[None], 0.5, None)
    assert "outside" not in plain and torch.allclose(total, plain["image"] + 0.5 * plain["tracking"])


def test_the_keypoint_term_compares_the_first_keypoints_with_the_true_positions_at_each_step(zplan, tmp_path):
    data = _push_buffer(zplan, tmp_path, 2)
    pairs = position_columns(TASKS["push"].state)
    assert pairs == [(0, 1), (2, 3)] and position_columns(["x", "y", "angle"]) == []
    windows = data.windows(4)[::7][:6]
    positions = window_positions(data, windows, pairs)
    # Step k's context ends with the frame of the state k transitions into the window.
    assert positions.shape == (6, 4, 2, 2)
    for k in range(4):
        assert np.array_equal(positions[:, k].numpy(), data.state[windows[:, k]].reshape(6, 2, 2).astype(np.float32))

    model = _model()
    frames, actions, targets, pixels, centres = windows_as_tensors(data, windows, (2, 3))
    with torch.no_grad():
        terms, total = video_losses(model, frames, actions, targets, pixels, centres, 0.0, None, positions, 0.25)
        _, _, points = rollout(model, frames, actions, one_hot_maps(pixels, 32, 32), keypoints=True)
    assert points.shape == (6, 4, model.keypoint_count, 2)
    assert float(points.min()) >= 0.0 and float(points.max()) <= 32.0
    want = ((points[:, :, :2] - positions) ** 2).sum((2, 3)).mean() * 4
    assert torch.allclose(terms["keypoints"], want) and float(want) > 0.0
    assert torch.allclose(total, terms["image"] + 0.25 * want)

    # train() supervises the keypoints when given a weight, and only then.
    for weight in (0.0, 1e-3):
        config = TrainConfig(kind="video", epochs=1, batch_size=48, keypoint_weight=weight)
        _, history, _, _ = train(data, "push", config, log=lambda _: None)
        assert ("keypoints" in history[0]) == (weight > 0.0) and np.isfinite(history[0]["total"])


def test_a_few_epochs_on_push_episodes_lower_both_losses_and_export_a_bundle_zplan_loads(zplan, tmp_path):
    data = _push_buffer(zplan, tmp_path, 8)
    assert object_columns(TASKS["push"].state) == (2, 3) and len(data.windows(10)) > 100
    config = TrainConfig(kind="video", epochs=9, batch_size=48, lr=3e-3)
    model, history, held_out, seconds = train(data, "push", config, log=lambda _: None)
    assert history[-1]["image"] < 0.9 * history[0]["image"], history
    assert history[-1]["tracking"] < history[0]["tracking"], history

    bundle = tmp_path / "bundle"
    errors = export_bundle(model, data, held_out, str(bundle), history, config, seconds, task="push")
    assert errors["predictor"] < 1e-4
    manifest = json.loads((bundle / "zplan.json").read_text())
    assert (manifest["format_version"], manifest["kind"], manifest["predictor"]["max_maps"]) == (2, "video", 16)
    inspect = subprocess.run([zplan, "inspect", str(bundle)], capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr
    assert "video" in inspect.stdout and "batch 200" in inspect.stdout

    # The exported predictor, fed back for 10 steps, gives torch's rollout.
    windows = data.windows(10)[:5]
    columns = object_columns(TASKS["push"].state)
    report = video_report.report(str(bundle), data, 10, 50)
    frames, actions, _, pixels, _ = windows_as_tensors(data, windows, columns)
    with torch.no_grad():
        want, want_maps = rollout(model, frames, actions, one_hot_maps(pixels, 32, 32))
    got, got_maps = video_report.rollouts(OnnxVideoBundle(str(bundle)), data, windows, columns)
    assert np.max(np.abs(got - want.numpy())) < 1e-4
    assert np.max(np.abs(got_maps - want_maps[:, :, 0].numpy())) < 1e-4
    assert 0 < report["windows"] <= 50 and len(report["psnr_model"]) == 10
    assert np.all(np.isfinite(report["psnr_model"])) and report["predictor"]["flops_per_frame"] == model.flops()
