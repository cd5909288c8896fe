import json
import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
import torch
from zplan_train.__main__ import main
from zplan_train.config import TrainConfig
from zplan_train.data import BufferFormatError, read_buffer, read_buffers
from zplan_train.export import ExportError, export_bundle, jacobian_error
from zplan_train.jacobians import add_model_jacobians
from zplan_train.models import LatentModel
from zplan_train.train import train


@pytest.mark.parametrize("kind", ["e2c", "deterministic", "pc3"])
def test_a_tiny_run_exports_a_bundle_that_zplan_loads_and_that_matches_torch(kind, planar_buffer, zplan, tmp_path):
    data = read_buffer(planar_buffer)
    model, history, held_out, seconds = train(data, "planar", TrainConfig(kind=kind, epochs=2), log=lambda _: None)
    out = tmp_path / "bundle"
    errors = export_bundle(model, data, held_out, str(out), history, TrainConfig(kind=kind), seconds)
    assert all(e < 1e-4 for e in errors.values())

    inspect = subprocess.run([zplan, "inspect", str(out)], capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr
    manifest = json.loads((out / "zplan.json").read_text())
    assert manifest["jacobians"]["mode"] == "model" and errors["jacobians"] < 1e-6

    # The exported A and B are the derivatives of the exported z' (central differences of the
    # ONNX file itself, float32).
    session = ort.InferenceSession(str(out / "dynamics.onnx"))
    z = np.random.default_rng(0).uniform(-2, 2, (8, manifest["latent_dim"])).astype(np.float32)
    u = np.random.default_rng(1).uniform(-1, 1, (8, manifest["action"]["dim"])).astype(np.float32)
    _, a, b = session.run(["z_next", "A", "B"], {"z": z, "u": u})
    exact, h = np.concatenate([a, b], axis=2), 1e-2
    for i in range(exact.shape[2]):
        plus, minus = np.concatenate([z, u], 1), np.concatenate([z, u], 1)
        plus[:, i] += h
        minus[:, i] -= h
        nz = z.shape[1]
        (up,) = session.run(["z_next"], {"z": plus[:, :nz], "u": plus[:, nz:]})
        (down,) = session.run(["z_next"], {"z": minus[:, :nz], "u": minus[:, nz:]})
        central = (up - down) / (2 * h)
        assert np.max(np.abs(exact[:, :, i] - central) / (1 + np.abs(central))) < 2e-3
    assert manifest["provenance"]["seed"] == 0 and "reconstruction" in manifest["provenance"]["losses"]

    # Independently of the exporter's own check: ONNX Runtime = torch on other inputs.
    obs = data.obs[:5].astype(np.float32) / 255.0
    session = ort.InferenceSession(str(out / "encoder.onnx"))
    (z_onnx,) = session.run(None, {"obs": obs})
    with torch.no_grad():
        z_torch = model.encoder(torch.from_numpy(obs))[0].numpy()
    assert np.max(np.abs(z_onnx - z_torch)) < 1e-4


def test_finite_difference_bundles_get_the_exact_jacobians_of_their_weights(planar_buffer, zplan, tmp_path):
    data = read_buffer(planar_buffer)
    config = TrainConfig(kind="pc3", epochs=1, jacobians="forward")
    model, history, held_out, seconds = train(data, "planar", config, log=lambda _: None)
    out = tmp_path / "bundle"
    export_bundle(model, data, held_out, str(out), history, config, seconds)
    manifest = json.loads((out / "zplan.json").read_text())
    assert manifest["jacobians"] == {"mode": "finite_differences", "step": 0.01, "scheme": "forward"}
    (before,) = ort.InferenceSession(str(out / "dynamics.onnx")).run(
        None, {"z": np.ones((3, 2), np.float32), "u": np.zeros((3, 2), np.float32)}
    )

    errors = add_model_jacobians(str(out))
    assert errors["z_next"] <= 1e-5 and errors["jacobians"] < 1e-6
    manifest = json.loads((out / "zplan.json").read_text())
    assert manifest["jacobians"] == {"mode": "model"} and manifest["dynamics"]["a_output"] == "A"
    z_next, a, b = ort.InferenceSession(str(out / "dynamics.onnx")).run(
        None, {"z": np.ones((3, 2), np.float32), "u": np.zeros((3, 2), np.float32)}
    )
    assert np.array_equal(z_next, before) and a.shape == (3, 2, 2) and b.shape == (3, 2, 2)
    with torch.no_grad():
        _, a_torch, _ = model.jacobians(torch.ones(3, 2), torch.zeros(3, 2))
    assert np.max(np.abs(a - a_torch.numpy())) < 1e-5
    inspect = subprocess.run([zplan, "inspect", str(out)], capture_output=True, text=True)
    assert inspect.returncode == 0 and "exact A/B" in inspect.stdout, inspect.stdout + inspect.stderr

    # A second time there is nothing to do, and the bundle is left as it is.
    with pytest.raises(ExportError, match="already output Jacobians"):
        add_model_jacobians(str(out))


def test_jacobian_error_catches_a_wrong_derivative():
    model = LatentModel("planar", "deterministic", (1, 40, 40), 2)
    z, u = torch.randn(4, 2), torch.randn(4, 2)
    assert jacobian_error(model, z, u) < 1e-6

    class HalvedB(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def step(self, z, u):
            return self.model.step(z, u)

        def jacobians(self, z, u):
            z_next, a, b = self.model.jacobians(z, u)
            return z_next, a, 0.5 * b

    assert jacobian_error(HalvedB(model), z, u) > 1e-3


def test_the_objective_terms_decrease_on_a_toy_problem(planar_buffer):
    data = read_buffer(planar_buffer)
    _, history, _, _ = train(
        data, "planar", TrainConfig(kind="deterministic", epochs=12, seed=3, batch_size=64), log=lambda _: None
    )
    first, last = history[0], history[-1]
    for term in ("reconstruction", "next_reconstruction", "reward", "total"):
        assert last[term] < first[term], (term, first[term], last[term])
    # The latent prediction error starts near zero (all codes alike) and must stay small while
    # the codes spread out.
    assert last["prediction"] < 1.0


def test_the_pc3_terms_decrease_and_the_decoder_never_moves_the_encoder(planar_buffer):
    data = read_buffer(planar_buffer)
    _, history, _, _ = train(
        data,
        "planar",
        TrainConfig(kind="pc3", epochs=12, seed=3, batch_size=64, lr=1e-3, weight_decay=0.0),
        log=lambda _: None,
    )
    first, last = history[0], history[-1]
    for term in ("consistency", "reconstruction", "total"):
        assert last[term] < first[term], (term, first[term], last[term])

    # The reconstruction and reward terms are fitted on the detached latent: no gradient of
    # theirs reaches the encoder.
    from zplan_train.models import LatentModel
    from zplan_train.objectives import pc3_losses
    from zplan_train.train import to_tensors

    model = LatentModel("planar", "pc3", data.obs.shape[1:], data.action.shape[1])
    terms, _ = pc3_losses(model, *to_tensors(data, np.arange(32), "cpu"))
    (terms["reconstruction"] + terms["reward"]).backward()
    assert all(p.grad is None or float(p.grad.abs().max()) == 0.0 for p in model.encoder.parameters())
    assert any(p.grad is not None and float(p.grad.abs().max()) > 0.0 for p in model.decoder.parameters())


def test_a_corrupt_buffer_is_a_clear_error(planar_buffer, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text("{ not json")
    with pytest.raises(BufferFormatError, match="meta.json"):
        read_buffer(str(bad))
    assert main(["--data", str(bad), "--task", "planar", "--out", str(tmp_path / "x"), "--epochs", "1"]) == 2
    assert "meta.json" in capsys.readouterr().err

    truncated = tmp_path / "truncated"
    subprocess.run(["cp", "-r", planar_buffer, str(truncated)], check=True)
    os.truncate(truncated / "action.npy", 100)
    with pytest.raises(BufferFormatError, match="action.npy"):
        read_buffer(str(truncated))
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="session")
def planar_sequences(zplan, tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "planar-sequences"
    subprocess.run(
        [zplan, "collect", "--task", "planar", "--samples", "400", "--sequence", "8", "--seed", "1", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return str(out)


def test_windows_follow_one_episode_and_sequences_train_multistep(planar_sequences, planar_buffer):
    data = read_buffer(planar_sequences)
    windows = data.windows(4)
    # 50 sequences of 8 transitions: 5 windows of 4 in each, none across two sequences.
    assert windows.shape == (50 * 5, 4)
    for k in range(3):
        assert np.array_equal(data.next_obs[windows[:, k]], data.obs[windows[:, k + 1]])
    assert len(read_buffer(planar_buffer).windows(2)) == 0, "independent samples have no windows"

    _, history, _, _ = train(
        data,
        "planar",
        TrainConfig(kind="deterministic", epochs=12, seed=3, batch_size=64, horizon=4),
        log=lambda _: None,
    )
    first, last = history[0], history[-1]
    for term in ("reconstruction", "next_reconstruction", "total"):
        assert last[term] < first[term], (term, first[term], last[term])


def test_several_buffers_train_as_one_and_no_window_crosses_from_one_to_the_next(planar_sequences, zplan, tmp_path):
    one = read_buffer(planar_sequences)
    both = read_buffers([planar_sequences, planar_sequences])
    assert len(both) == 2 * len(one)
    assert np.array_equal(both.obs[len(one) :], one.obs) and np.array_equal(both.state[len(one) :], one.state)
    # Each copy keeps its own 5 windows of 4 per sequence, and none joins the two copies.
    windows = both.windows(4)
    assert windows.shape == (2 * 50 * 5, 4)
    for k in range(3):
        assert np.array_equal(both.next_obs[windows[:, k]], both.obs[windows[:, k + 1]])

    other = tmp_path / "swing"
    subprocess.run(
        [zplan, "collect", "--task", "swing", "--samples", "20", "--out", str(other)], check=True, capture_output=True
    )
    with pytest.raises(BufferFormatError, match="obs of shape"):
        read_buffers([planar_sequences, str(other)])


def test_a_horizon_without_sequences_is_a_clear_error(planar_buffer, tmp_path, capsys):
    code = main(
        [
            "--data",
            planar_buffer,
            "--task",
            "planar",
            "--out",
            str(tmp_path / "b"),
            "--model",
            "deterministic",
            "--epochs",
            "1",
            "--horizon",
            "3",
        ]
    )
    assert code == 2
    assert "no run of 3 transitions" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_prediction_check_compares_recorded_zero_and_negated_actions(
    planar_sequences, planar_buffer, tmp_path, capsys
):
    from zplan_train.prediction import main as prediction

    data = read_buffer(planar_sequences)
    config = TrainConfig(kind="deterministic", epochs=1, horizon=2)
    model, history, held_out, seconds = train(data, "planar", config, log=lambda _: None)
    export_bundle(model, data, held_out, str(tmp_path / "bundle"), history, config, seconds)
    assert prediction(["--model", str(tmp_path / "bundle"), "--data", planar_sequences, "--horizon", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "1..4 steps ahead" in lines[0]
    for name, line in zip(("recorded u", "u = 0", "-u"), lines[1:4], strict=True):
        assert line.split(":")[0].strip() == name and len(line.split(":")[1].split()) == 4

    assert prediction(["--model", str(tmp_path / "bundle"), "--data", planar_buffer, "--horizon", "4"]) == 2
    assert "no run of 4 transitions" in capsys.readouterr().err


def test_the_linear_probe_recovers_an_affine_target_and_not_an_independent_one():
    from zplan_train.probe import linear_probe

    rng = np.random.default_rng(0)
    features = rng.normal(size=(4000, 3))
    affine = features @ np.array([1.0, -2.0, 0.5]) + 3.0 + 0.1 * rng.normal(size=4000)
    independent = rng.normal(size=4000)
    spread, rms, r2 = linear_probe(features, np.stack([affine, independent], 1))
    assert abs(rms[0] - 0.1) < 0.01 and r2[0] > 0.99
    assert abs(rms[1] - spread[1]) < 0.05 and abs(r2[1]) < 0.02
    with pytest.raises(ValueError, match="at least 4"):
        linear_probe(features[:3], affine[:3, None])


def test_the_local_maps_find_a_latent_folded_through_a_pinch_and_not_a_sheet():
    from zplan_train.probe import local_maps, map_defects

    states = np.random.default_rng(1).uniform(-1.0, 1.0, size=(3000, 2))
    sheet = states @ np.array([[2.0, 0.5], [-0.3, 1.0]]) + 1.0
    jacobians = local_maps(states, sheet)
    # Standardised states: dz/ds is the matrix times the states' spread (1 / sqrt 3).
    assert np.allclose(jacobians, np.array([[2.0, -0.3], [0.5, 1.0]]) * states.std(0), atol=1e-6)
    median, pinched, folded = map_defects(jacobians)
    assert median > 0.3 and pinched == 0.0 and folded == 0.0

    # A sheet twisted through the line s_0 = 0: det dz/ds = s_0, so half the rows are mirrored.
    twisted = np.stack([states[:, 0], states[:, 0] * states[:, 1]], 1)
    median, pinched, folded = map_defects(local_maps(states, twisted))
    assert 0.45 < folded <= 0.5 and 0.01 < pinched < 0.2

    # A latent wider than the state has no orientation to compare.
    assert map_defects(local_maps(states, np.hstack([sheet, states[:, :1] ** 2])))[2] is None
    # Repeated states (a grid task's) share one fit: rows of one state get one Jacobian.
    # Their latents are averaged (here back to the sheet's).
    repeated = local_maps(
        np.vstack([states, states[:100], states[:100]]), np.vstack([sheet, sheet[:100] + 0.01, sheet[:100] - 0.01])
    )
    assert np.allclose(repeated[:3000], jacobians, atol=1e-6)
    assert np.array_equal(repeated[3000:3100], repeated[:100]) and np.array_equal(repeated[3100:], repeated[:100])
    with pytest.raises(ValueError, match="more than 2 neighbours"):
        local_maps(np.repeat(states[:5], 3, axis=0), np.repeat(sheet[:5], 3, axis=0))


def test_the_probe_reads_the_state_from_a_bundle_within_a_range(planar_buffer, tmp_path, capsys):
    from zplan_train.probe import main as probe

    data = read_buffer(planar_buffer)
    config = TrainConfig(kind="deterministic", epochs=1)
    model, history, held_out, seconds = train(data, "planar", config, log=lambda _: None)
    bundle = str(tmp_path / "bundle")
    export_bundle(model, data, held_out, bundle, history, config, seconds)
    assert probe(["--model", bundle, "--data", planar_buffer, "--task", "planar"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "200 rows fitted, 200 held out" in lines[0]
    for name, line in zip(("row", "col"), lines[2:4], strict=True):
        fields = line.split()
        assert fields[0] == name and len(fields) == 4 and float(fields[3]) <= 1.0
    assert "local map dz/ds" in lines[4] and "folded" in lines[4]

    assert probe(["--model", bundle, "--data", planar_buffer, "--task", "planar", "--range", "row=1.5:8"]) == 0
    fitted = int(capsys.readouterr().out.split(" rows fitted")[0].split()[-1])
    assert 0 < fitted < 200

    assert probe(["--model", bundle, "--data", planar_buffer, "--task", "planar", "--range", "row=100:200"]) == 2
    assert "no row lies in row=100:200" in capsys.readouterr().err
    assert probe(["--model", bundle, "--data", planar_buffer, "--task", "planar", "--range", "speed=0:1"]) == 2
    assert "NAME one of row, col" in capsys.readouterr().err
    no_states = tmp_path / "no-states"
    subprocess.run(["cp", "-r", planar_buffer, str(no_states)], check=True)
    # As a robot (the C ABI) writes it: no `state` field.
    meta = json.loads((no_states / "meta.json").read_text())
    meta["fields"] = [f for f in meta["fields"] if f["name"] != "state"]
    (no_states / "meta.json").write_text(json.dumps(meta))
    os.remove(no_states / "state.npy")
    assert probe(["--model", bundle, "--data", str(no_states), "--task", "planar"]) == 2
    assert "no `state` field" in capsys.readouterr().err


def test_checkpoints_are_whole_bundles_written_along_the_way(planar_buffer, zplan, tmp_path):
    out = tmp_path / "bundle"
    assert (
        main(
            [
                "--data",
                planar_buffer,
                "--task",
                "planar",
                "--out",
                str(out),
                "--model",
                "deterministic",
                "--epochs",
                "3",
                "--checkpoint-every",
                "2",
                "--batch-size",
                "64",
            ]
        )
        == 0
    )
    checkpoint = tmp_path / "bundle-e2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "bundle-e2"]
    with open(checkpoint / "zplan.json") as f:
        assert json.load(f)["provenance"]["losses"]
    with open(out / "zplan.json") as f:
        final = json.load(f)["provenance"]["training_seconds"]
    with open(checkpoint / "zplan.json") as f:
        assert json.load(f)["provenance"]["training_seconds"] <= final
    subprocess.run([zplan, "inspect", str(checkpoint)], check=True, capture_output=True)


def test_the_task_table_is_zplans_and_the_config_fills_the_kind_defaults(zplan):
    from zplan_train.config import ModelKind
    from zplan_train.tasks import TASKS

    listed = json.loads(subprocess.run([zplan, "tasks", "--json"], capture_output=True, check=True, text=True).stdout)
    assert sorted(TASKS) == sorted(listed)
    assert TASKS["swing"].planning_high == (0.65,) and TASKS["swing"].image == (2, 48, 48)
    assert TASKS["planar"].time_step == 0 and TASKS["planar"].bundle_time_step == 1.0
    assert TASKS["threepole"].state[0] == "theta_1"

    pc3, deterministic = TrainConfig(), TrainConfig(kind="deterministic", lr=0.01)
    assert pc3.kind is ModelKind.PC3 and (pc3.batch_size, pc3.lr, pc3.weight_decay) == (256, 5e-4, 1e-3)
    assert (deterministic.batch_size, deterministic.lr) == (128, 0.01)
    with pytest.raises(ValueError, match="deterministic or video kind"):
        TrainConfig(kind="e2c", horizon=2)
    video = TrainConfig(kind="video")
    assert (video.horizon, video.batch_size, pc3.horizon) == (10, 64, 1) and not video.kind.latent
    with pytest.raises(ValueError, match="tracking_weight"):
        TrainConfig(kind="video", tracking_weight=-1.0)
    with pytest.raises(ValueError, match="tracking_radius"):
        TrainConfig(kind="video", tracking_radius=float("nan"))
    with pytest.raises(ValueError):
        TrainConfig(kind="vae")
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(kind="video", lr_schedule="step")
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="sgd")
    assert (pc3.latent_noise, deterministic.latent_noise) == (0.1, None)
    with pytest.raises(ValueError, match="latent_noise applies to the pc3 kind, not deterministic"):
        TrainConfig(kind="deterministic", latent_noise=0.5)
    with pytest.raises(ValueError, match="latent_noise must be non-negative"):
        TrainConfig(latent_noise=-0.1)


def test_decoupled_weight_decay_shrinks_the_weights_by_lr_times_the_decay(planar_buffer):
    # Adam's L2 term goes through the gradient's running scale, so its step stays about lr
    # whatever the decay; AdamW multiplies every weight by 1 - lr decay = 0.9 per step: over
    # one epoch's 6 steps its weights end far smaller.
    data = read_buffer(planar_buffer)

    def weight_norm(optimizer):
        config = TrainConfig(
            kind="pc3", epochs=1, seed=3, batch_size=64, lr=1e-3, weight_decay=100.0, optimizer=optimizer
        )
        model, _, _, _ = train(data, "planar", config, log=lambda _: None)
        return float(sum(p.detach().pow(2).sum() for p in model.dynamics.parameters())) ** 0.5

    coupled = weight_norm("adam")
    decoupled = weight_norm("adamw")
    assert decoupled < 0.9 * coupled, (decoupled, coupled)


def test_the_cosine_schedule_falls_from_lr_to_nearly_zero_over_the_epochs():
    from zplan_train.train import learning_rate

    constant, cosine = TrainConfig(lr=1e-3, epochs=30), TrainConfig(lr=1e-3, epochs=30, lr_schedule="cosine")
    assert all(learning_rate(constant, e) == 1e-3 for e in range(30))
    rates = [learning_rate(cosine, e) for e in range(30)]
    assert rates[0] == 1e-3 and abs(rates[15] - 5e-4) < 1e-12 and 0.0 < rates[-1] < 1e-5
    assert np.all(np.diff(rates) < 0.0)


def test_a_run_continues_from_saved_weights_and_refuses_weights_of_another_size(planar_buffer, tmp_path, capsys):
    from zplan_train.train import WEIGHTS_FILE, load_weights

    first = tmp_path / "first"
    common = ["--data", planar_buffer, "--task", "planar", "--model", "deterministic", "--batch-size", "64"]
    assert main([*common, "--out", str(first), "--epochs", "2", "--checkpoint-every", "1", "--save-weights"]) == 0
    assert (first / WEIGHTS_FILE).is_file() and (tmp_path / "first-e1" / WEIGHTS_FILE).is_file()

    # The weights load into a fresh model of the same sizes and are the trained ones, not the
    # fresh model's draw.
    data = read_buffer(planar_buffer)
    model = LatentModel("planar", "deterministic", data.obs.shape[1:], data.action.shape[1], 64)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    load_weights(model, str(first))
    saved = torch.load(first / WEIGHTS_FILE, weights_only=True)
    assert all(torch.equal(model.state_dict()[k], saved[k]) for k in saved)
    assert any(not torch.equal(fresh[k], saved[k]) for k in saved)

    # A run from them goes on where the first ended: after its one epoch (the third in all) the
    # loss is below the first run's after its first epoch.
    second = tmp_path / "second"
    assert main([*common, "--out", str(second), "--epochs", "1", "--init-from", str(first)]) == 0

    def total(bundle):
        with open(bundle / "zplan.json") as f:
            return json.load(f)["provenance"]["losses"]["total"]

    assert total(second) < total(tmp_path / "first-e1")
    assert not (second / WEIGHTS_FILE).exists()

    capsys.readouterr()
    narrow = [*common, "--out", str(tmp_path / "narrow"), "--epochs", "1", "--transition-width", "32"]
    assert main([*narrow, "--init-from", str(first)]) == 2
    assert f"{first / WEIGHTS_FILE}: the weights do not fit" in capsys.readouterr().err
    assert main([*narrow, "--init-from", str(tmp_path / "second")]) == 2
    assert "no weights to start from" in capsys.readouterr().err


def test_the_pc3_objective_scores_the_next_latent_with_the_noise_asked_for(planar_buffer):
    from zplan_train.objectives import pc3_losses
    from zplan_train.train import to_tensors

    data = read_buffer(planar_buffer)
    torch.manual_seed(0)
    model = LatentModel("planar", "pc3", data.obs.shape[1:], data.action.shape[1], 64)
    batch = to_tensors(data, np.arange(64), "cpu")

    def consistency(noise):
        with torch.no_grad():
            return float(pc3_losses(model, *batch, latent_noise=noise)[0]["consistency"])

    # Without noise the term is a function of the batch; with it, it varies between draws.
    assert consistency(0.0) == consistency(0.0)
    assert consistency(0.5) != consistency(0.5)


@pytest.mark.parametrize("kind", ["pc3", "e2c"])
def test_the_latent_starts_centred_with_the_spread_asked_for(kind, planar_buffer):
    data = read_buffer(planar_buffer)
    obs = torch.from_numpy(data.obs[:256].astype(np.float32) / 255.0)
    torch.manual_seed(1)
    model = LatentModel("planar", kind, data.obs.shape[1:], data.action.shape[1], 64)
    with torch.no_grad():
        drawn, drawn_logvar = model.encoder(obs)
    assert float(drawn.std(0).max()) < 0.05
    model.encoder.rescale(obs, 1.0)
    with torch.no_grad():
        z, logvar = model.encoder(obs)
    assert torch.allclose(z.std(0), torch.ones(2), atol=1e-4)
    assert float(z.mean(0).abs().max()) < 1e-4
    # The same map up to a scale and shift per component; a Gaussian encoder's variance head
    # is left as drawn.
    k = z.std(0) / drawn.std(0)
    assert torch.allclose(z, (drawn - drawn.mean(0)) * k, atol=1e-4)
    if kind == "e2c":
        assert torch.equal(logvar, drawn_logvar)
    with pytest.raises(ValueError, match="latent_init_std"):
        TrainConfig(latent_init_std=0.0)
