"""How well a video bundle predicts frames and carries a designated pixel, and what it costs.

    python -m zplan_train.video_report --model DIR --data DIR [--horizon H] [--windows N]
        [--json FILE] [--picture FILE]

Runs the bundle's exported predictor (ONNX Runtime, one thread, as the planner runs it) over
windows of H transitions of one episode in a buffer of held-out episodes (`zplan collect --task
push --policy random --seed S` with a seed the training data did not use), keeping the windows
in which the pusher moves the object (contact). From the two frames before each window and the
recorded actions it predicts H frames, each fed back as context for the next, and carries a
one-hot map on the pixel under the object's centre at the window's start. It prints, for k = 1..H:

- PSNR of the predicted frame against the true one, 10 log10(1 / MSE) with images in [0, 1],
  averaged over the windows, against copying the last context frame;
- the designated-pixel tracking error: the distance (px) between the carried map's mean and the
  object's true centre, against leaving the pixel where it was (its centre, col + 0.5, row + 0.5);

the response to contact: from held-out states with the pusher touching the object, how far the
object's carried map moves in 5 steps when the pusher moves away from it, into it, along its
rim, or stays; and the cost of one predictor call at the planner's batch (200 samples, one
map; in 16-row ONNX Runtime calls, as zplan runs it): median time, the multiply-adds x 2 per
predicted frame counted on the ONNX graph (Conv, MatMul, Gemm), and that work per second as a share of ONNX
Runtime's own single-thread float32 MatMul peak measured in the same run.
"""

import argparse
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

from .bundle import OnnxVideoBundle
from .data import read_buffer_or_report
from .tasks import TASKS
from .video import object_columns

PLANNER_BATCH = 200
# A window counts as contact when the object's centre moves more than this (px) inside it.
CONTACT_MOVE = 0.05


def contact_windows(data, horizon, columns, count):
    """Up to `count` windows [N, horizon] (drawn evenly) in which the object moves."""
    windows = data.windows(horizon)
    start = np.asarray(data.state)[windows[:, 0]][:, list(columns)]
    path = np.asarray(data.next_state)[windows][:, :, list(columns)]
    moved = np.linalg.norm(path - start[:, None], axis=2).max(1) > CONTACT_MOVE
    windows = windows[moved]
    if len(windows) > count:
        windows = windows[np.linspace(0, len(windows) - 1, count).astype(int)]
    return windows


def rollouts(bundle, data, windows, columns, batch=PLANNER_BATCH):
    """Predicted frames [N, H, h, w] and carried maps [N, H, h, w] of every window, fed back."""
    _, height, width = data.obs.shape[1:]
    frames_out, maps_out = [], []
    for begin in range(0, len(windows), batch):
        index = windows[begin : begin + batch]
        frames = data.obs[index[:, 0]].astype(np.float32) / 255.0
        pixel = np.floor(np.asarray(data.state)[index[:, 0]][:, list(columns)]).astype(int)
        maps = np.zeros((len(index), 1, height, width), dtype=np.float32)
        maps[np.arange(len(index)), 0, pixel[:, 1], pixel[:, 0]] = 1.0
        predicted, carried = [], []
        for k in range(index.shape[1]):
            frame, maps = bundle.predict(frames, data.action[index[:, k]], maps)
            frames = np.concatenate([frames[:, 1:], frame], 1)
            predicted.append(frame[:, 0])
            carried.append(maps[:, 0])
        frames_out.append(np.stack(predicted, 1))
        maps_out.append(np.stack(carried, 1))
    return np.concatenate(frames_out), np.concatenate(maps_out)


def psnr(predicted, target):
    """Mean over windows of 10 log10(1 / MSE) per step: [N, H, h, w] -> [H]."""
    mse = ((predicted - target) ** 2).mean((2, 3))
    return (10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))).mean(0)


def map_means(maps):
    """[..., h, w] -> [..., 2]: each map's expected (x, y), pixel centres at (col + 0.5, row + 0.5)."""
    h, w = maps.shape[-2:]
    xs, ys = np.arange(w) + 0.5, np.arange(h) + 0.5
    return np.stack([(maps.sum(-2) * xs).sum(-1), (maps.sum(-1) * ys).sum(-1)], -1)


def graph_flops(path, feeds):
    """Multiply-adds x 2 of the Conv, MatMul and Gemm nodes of the ONNX model at `path` for the
    inputs `feeds` (the tensor shapes come from one ONNX Runtime run)."""
    model = onnx.load(path)
    graph = model.graph
    weights = {i.name: list(i.dims) for i in graph.initializer}
    counted = [n for n in graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    wanted = {t for n in counted for t in n.input[:2] if t and t not in weights} | {n.output[0] for n in counted}
    for name in sorted(wanted - {o.name for o in graph.output}):
        graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    shapes = {name: list(v.shape) for name, v in zip(names, session.run(None, feeds), strict=True)} | weights
    total = 0
    for node in counted:
        out, a = shapes[node.output[0]], shapes[node.input[0]]
        if node.op_type == "Conv":
            total += 2 * np.prod(out) * np.prod(shapes[node.input[1]][1:])
        elif node.op_type == "MatMul":
            total += 2 * np.prod(out) * a[-1]
        else:
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            total += 2 * np.prod(out) * (a[0] if trans_a else a[-1])
    return int(total)


def _median_seconds(call, repeats):
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_peak_gflops(size=512, repeats=20):
    """ONNX Runtime's single-thread float32 MatMul rate (GFLOP/s) on size x size matrices."""
    x = onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [size, size])
    y = onnx.helper.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [size, size])
    graph = onnx.helper.make_graph([onnx.helper.make_node("MatMul", ["a", "a"], ["c"])], "peak", [x], [y])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    seconds = _median_seconds(lambda: session.run(None, {"a": a}), repeats)
    return 2 * size**3 / seconds / 1e9


def contact_responses(bundle, data, columns, steps=5, count=200):
    """Median move (px) of the object's carried map after `steps` steps from held-out states with
    the pusher touching the object (centres within 5.5 to 6 px), when the pusher moves away from
    the object, into it, along its rim (perpendicular to the centre line, a graze), or stays:
    {"away": px, "into": px, "along": px, "still": px}. In the simulator moving away or along the
    rim never moves the object (a tangent step from contact opens the gap), and moving into it
    moves it 5.2 px (median over such states). Needs the pusher's (x, y) as the
    state's first two values."""
    state = np.asarray(data.state)
    pusher, obj = state[:, :2], state[:, list(columns)]
    gap = np.linalg.norm(pusher - obj, axis=1)
    rows = np.flatnonzero((gap > 5.5) & (gap < 6.0))[:count]
    if len(rows) == 0:
        return None
    away = pusher[rows] - obj[rows]
    away = (away / np.abs(away).max(1, keepdims=True)).astype(np.float32)
    along = np.stack([-away[:, 1], away[:, 0]], 1)
    pixel = np.floor(obj[rows]).astype(int)
    _, height, width = data.obs.shape[1:]
    moves = {}
    for name, u in (("away", away), ("into", -away), ("along", along), ("still", 0 * away)):
        frames = data.obs[rows].astype(np.float32) / 255.0
        maps = np.zeros((len(rows), 1, height, width), dtype=np.float32)
        maps[np.arange(len(rows)), 0, pixel[:, 1], pixel[:, 0]] = 1.0
        for _ in range(steps):
            frame, maps = bundle.predict(frames, u, maps)
            frames = np.concatenate([frames[:, 1:], frame], 1)
        moves[name] = float(np.median(np.linalg.norm(map_means(maps[:, 0]) - (pixel + 0.5), axis=1)))
    return moves


def predictor_cost(bundle, shape, actions, repeats=30):
    """Median seconds of one call at PLANNER_BATCH with one map, FLOPs per predicted frame, and
    the share of the MatMul peak."""
    frames_count, height, width = shape
    rng = np.random.default_rng(0)
    frames = rng.random((PLANNER_BATCH, frames_count, height, width), dtype=np.float32)
    u = rng.uniform(-1, 1, (PLANNER_BATCH, actions)).astype(np.float32)
    maps = np.full((PLANNER_BATCH, 1, height, width), 1.0 / (height * width), dtype=np.float32)
    seconds = _median_seconds(lambda: bundle.predict(frames, u, maps), repeats)
    spec = bundle.spec
    one = {spec["frames_input"]: frames[:1], spec["action_input"]: u[:1], spec["maps_input"]: maps[:1]}
    flops = graph_flops(bundle.path, one)
    peak = matmul_peak_gflops()
    share = flops * PLANNER_BATCH / seconds / 1e9 / peak
    return {"seconds": seconds, "flops_per_frame": flops, "peak_gflops": peak, "share_of_peak": share}


def report(model_dir, data, horizon, count):
    """The report as a dict (see the module docs)."""
    bundle = OnnxVideoBundle(model_dir)
    task = bundle.manifest["name"].split("-")[0]
    columns = object_columns(TASKS[task].state) if task in TASKS else None
    if columns is None or data.state is None:
        raise ValueError(f"{data.path}: needs a task with an object and a buffer with true states")
    windows = contact_windows(data, horizon, columns, count)
    if len(windows) == 0:
        raise ValueError(f"{data.path}: no window of {horizon} transitions in which the object moves")
    predicted, carried = rollouts(bundle, data, windows, columns)
    targets = data.next_obs[windows][:, :, -1].astype(np.float32) / 255.0
    last = data.obs[windows[:, 0]][:, -1].astype(np.float32) / 255.0
    copy = np.broadcast_to(last[:, None], targets.shape)
    centres = np.asarray(data.next_state)[windows][:, :, list(columns)]
    start = np.floor(np.asarray(data.state)[windows[:, 0]][:, list(columns)]) + 0.5
    model_distance = np.linalg.norm(map_means(carried) - centres, axis=2)
    static_distance = np.linalg.norm(start[:, None] - centres, axis=2)
    moved = np.linalg.norm(centres[:, -1] - np.asarray(data.state)[windows[:, 0]][:, list(columns)], axis=1)
    obs = bundle.manifest["observation"]
    cost = predictor_cost(bundle, (obs["frames"] * obs["channels"], obs["height"], obs["width"]), data.action.shape[1])
    return {
        "model": model_dir,
        "data": data.path,
        "windows": int(len(windows)),
        "horizon": horizon,
        "object_moved_px_median": float(np.median(moved)),
        "psnr_model": psnr(predicted, targets).tolist(),
        "psnr_copy_last": psnr(copy, targets).tolist(),
        "tracking_px_median_model": np.median(model_distance, 0).tolist(),
        "tracking_px_median_static": np.median(static_distance, 0).tolist(),
        "tracking_px_mean_model": model_distance.mean(0).tolist(),
        "tracking_px_mean_static": static_distance.mean(0).tolist(),
        "within_2px_model": float((model_distance[:, -1] <= 2.0).mean()),
        "within_2px_static": float((static_distance[:, -1] <= 2.0).mean()),
        "contact_map_move_px_median": contact_responses(bundle, data, columns),
        "predictor": cost,
        "_arrays": (windows, predicted, carried, targets),
    }


def picture(result, data, path, count=4):
    """True frames (odd rows) against predicted ones with the carried map's mean (even rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows, predicted, carried, targets = result["_arrays"]
    picks = np.linspace(0, len(windows) - 1, count).astype(int)
    horizon = predicted.shape[1]
    fig, axes = plt.subplots(2 * count, horizon, figsize=(1.2 * horizon, 2.5 * count), squeeze=False)
    means = map_means(carried)
    for r, i in enumerate(picks):
        for k in range(horizon):
            for row, image in ((2 * r, targets[i, k]), (2 * r + 1, predicted[i, k])):
                ax = axes[row, k]
                ax.imshow(image, cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            x, y = means[i, k]
            axes[2 * r + 1, k].plot([x - 0.5], [y - 0.5], "r+", markersize=8)
        axes[2 * r, 0].set_ylabel("true", fontsize=8)
        axes[2 * r + 1, 0].set_ylabel("predicted", fontsize=8)
    for k in range(horizon):
        axes[0, k].set_title(f"k = {k + 1}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m zplan_train.video_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="a video bundle directory")
    parser.add_argument("--data", required=True, help="a zplan buffer of held-out episodes with true states")
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--windows", type=int, default=1000, help="contact windows drawn evenly over the buffer")
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--picture", help="also draw true against predicted frames here (PNG)")
    args = parser.parse_args(argv)
    data = read_buffer_or_report(args.data, "zplan_train.video_report")
    if data is None:
        return 2
    try:
        result = report(args.model, data, args.horizon, args.windows)
    except (ValueError, OSError, KeyError) as e:
        print(f"zplan_train.video_report: {e}", file=sys.stderr)
        return 2
    h = args.horizon
    print(
        f"{args.model} on {args.data}: {result['windows']} windows of {h} steps with contact "
        f"(object moved {result['object_moved_px_median']:.2f} px median)"
    )
    print("  k                       " + " ".join(f"{k:>6}" for k in range(1, h + 1)))
    rows = [
        ("PSNR dB, model", result["psnr_model"]),
        ("PSNR dB, copy last frame", result["psnr_copy_last"]),
        ("tracking px median, model", result["tracking_px_median_model"]),
        ("tracking px median, static", result["tracking_px_median_static"]),
        ("tracking px mean, model", result["tracking_px_mean_model"]),
        ("tracking px mean, static", result["tracking_px_mean_static"]),
    ]
    for name, row in rows:
        print(f"  {name:<27}" + " ".join(f"{v:6.2f}" for v in row))
    gain = result["psnr_model"][-1] - result["psnr_copy_last"][-1]
    print(f"  PSNR gain at k = {h}: {gain:.2f} dB")
    print(
        f"  within 2 px of the object's centre at k = {h}: model {100 * result['within_2px_model']:.1f} %, "
        f"static {100 * result['within_2px_static']:.1f} %"
    )
    contact = result["contact_map_move_px_median"]
    if contact:
        print(
            "  pusher touching the object, 5 steps: the object's map moves (median) "
            f"{contact['away']:.2f} px when the pusher moves away, {contact['into']:.2f} px into it, "
            f"{contact['along']:.2f} px along its rim, {contact['still']:.2f} px still "
            "(simulator: 0 away and along, 5.2 into)"
        )
    cost = result["predictor"]
    print(
        f"  predictor at batch {PLANNER_BATCH}, one map, one thread: {1e3 * cost['seconds']:.2f} ms median; "
        f"{cost['flops_per_frame'] / 1e6:.2f} MFLOP per frame = "
        f"{100 * cost['share_of_peak']:.1f} % of the MatMul peak measured now ({cost['peak_gflops']:.1f} GFLOP/s)"
    )
    if args.picture:
        picture(result, data, args.picture)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: v for k, v in result.items() if not k.startswith("_")}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
