"""An action-conditioned video predictor for observation-space planning.

A CDNA-style predictor (Finn, Goodfellow & Levine 2016; Visual Foresight, Finn & Levine 2017):
from the two context frames (o_{t-1}, o_t) and the action u_t it predicts M normalised K x K
transformation kernels k_m (a softmax over the K^2 taps) and M + 1 compositing masks
(a softmax over the M + 1 channels at every pixel), and forms

    o_{t+1} = mask_0 * o_{t-1} + sum_m mask_m * (k_m conv o_t)

(mask_0 selects the background, taken from the first context frame). The same kernels and masks
carry P pixel-probability maps (a designated pixel's distribution), without the background term,
renormalised to sum 1:

    c = sum_m mask_m * (k_m conv map),   map_{t+1} = (c + eps map) / (sum(c) + eps),

so a map stays non-negative and normalised, and moves exactly as the image does.

Shapes: frames [B, 2, H, W] and maps [B, P, H, W] in [0, 1], u [B, nu] in the task's units.
The kernels are applied as patches and a batched MatMul (the K^2 shifted copies of the padded
frame, [B, C, K^2, H W], times the per-sample kernels [B, 1, M, K^2]): a grouped convolution
would fix the batch size in ONNX, this keeps the batch axis (and the maps axis) dynamic.

The network: a strided-convolution encoder of (frames, u broadcast to planes) to H/8; keypoints,
the expected (x, y) under a spatial softmax of each channel of a small full-resolution network
of the frames (3 x 3 convolution, ReLU, 1 x 1 convolution; Levine et al. 2016's spatial
soft-argmax: sub-pixel positions of what is in the scene, which a contact's direction depends on
and which the strided encoder blurs); an MLP head from the encoder's flattened features, the
keypoints and u to the kernels; and a U-Net decoder with skips up to H/2 whose mask logits are
upsampled and added to a per-pixel linear map of the full-resolution frames and u.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# eps of the maps' renormalisation: a map whose mass all went to the background stays put.
MAP_EPS = 1e-6


class VideoPredictor(nn.Module):
    """p(o_{t+1} | o_t, o_{t-1}, u_t), with the designated-pixel maps carried along."""

    def __init__(
        self, shape, actions, action_high, kernels=4, kernel_size=3, widths=(8, 16, 16), hidden=128, keypoints=8
    ):
        super().__init__()
        frames, height, width = shape
        if frames != 2:
            raise ValueError(f"the video predictor takes 2 context frames, the data has {frames}")
        if height % 8 or width % 8:
            raise ValueError(f"image {height}x{width}: height and width must be multiples of 8")
        self.shape, self.actions = tuple(shape), actions
        self.kernels, self.kernel_size, self.keypoint_count = kernels, kernel_size, keypoints
        self.register_buffer("action_scale", 1.0 / torch.as_tensor(action_high, dtype=torch.float32))
        c1, c2, c3 = widths
        inputs = frames + actions
        self.enc1 = nn.Conv2d(inputs, c1, 4, 2, 1)
        self.enc2 = nn.Conv2d(c1, c2, 4, 2, 1)
        self.enc3 = nn.Conv2d(c2, c3, 4, 2, 1)
        # Keypoint logits: a 3 x 3 convolution, ReLU and a 1 x 1 convolution of the frames (a
        # linear filter alone cannot pick one grey level out, e.g. the pusher without the object).
        self.keypoints = nn.Sequential(
            nn.Conv2d(frames, keypoints, 3, 1, 1), nn.ReLU(), nn.Conv2d(keypoints, keypoints, 1)
        )
        # Keypoint coordinates in [-1, 1]: x of each pixel column, y of each row, [2, H W].
        xs = (torch.arange(width, dtype=torch.float32) + 0.5) * (2.0 / width) - 1.0
        ys = (torch.arange(height, dtype=torch.float32) + 0.5) * (2.0 / height) - 1.0
        grid = torch.stack([xs.repeat(height), ys.repeat_interleave(width)])
        self.register_buffer("grid", grid)
        self.head = nn.Sequential(
            nn.Linear(c3 * (height // 8) * (width // 8) + 2 * keypoints + actions, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, kernels * kernel_size * kernel_size),
        )
        self.dec2 = nn.Conv2d(c3 + c2, c1, 3, 1, 1)
        self.dec1 = nn.Conv2d(c1 + c1, c1, 3, 1, 1)
        # Mask logits: from the decoder at H/2, upsampled, plus a per-pixel linear map of the
        # full-resolution context frames (which tells pusher, object and table apart by grey
        # level) and the action: a 1 x 1 convolution of (frames, u planes), applied as a MatMul
        # over the frames and a per-sample bias from u (ONNX Runtime runs a 1 x 1 convolution of
        # few channels far below its arithmetic rate).
        self.coarse_masks = nn.Conv2d(c1, kernels + 1, 1)
        self.fine_masks = nn.Linear(inputs, kernels + 1)
        # Start near the identity: the centre tap of every kernel favoured.
        with torch.no_grad():
            bias = self.head[-1].bias.view(kernels, kernel_size * kernel_size)
            bias.zero_()
            bias[:, kernel_size * kernel_size // 2] = 3.0

    def flops(self):
        """Multiply-adds x 2 of one prediction with one map (convolutions, linear layers and
        the kernels' application; activations and softmaxes not counted)."""
        _, h, w = self.shape
        total = 0
        for conv, (oh, ow) in (
            (self.keypoints[0], (h, w)),
            (self.keypoints[2], (h, w)),
            (self.enc1, (h // 2, w // 2)),
            (self.enc2, (h // 4, w // 4)),
            (self.enc3, (h // 8, w // 8)),
            (self.dec2, (h // 4, w // 4)),
            (self.dec1, (h // 2, w // 2)),
            (self.coarse_masks, (h // 2, w // 2)),
        ):
            total += 2 * conv.weight.numel() * oh * ow
        masks = self.kernels + 1
        total += 2 * masks * (self.shape[0] * h * w + self.actions)
        total += 2 * self.grid.numel() * self.keypoints[2].out_channels
        total += sum(2 * m.weight.numel() for m in self.head if isinstance(m, nn.Linear))
        channels = 2  # the last frame and one map
        total += 2 * channels * self.kernels * self.kernel_size**2 * h * w
        return total

    def _patches(self, x):
        """[B, C, H, W] -> [B, C, K^2, H W]: the K^2 shifted copies of x padded with zeros."""
        _, _, h, w = x.shape
        k = self.kernel_size
        padded = F.pad(x, (k // 2, k // 2, k // 2, k // 2))
        shifted = [padded[:, :, i : i + h, j : j + w] for i in range(k) for j in range(k)]
        return torch.stack(shifted, 2).flatten(3)

    def forward(self, frames, u, maps):
        """(next frame [B, 1, H, W], next maps [B, P, H, W])."""
        frame, maps, _ = self.predict(frames, u, maps)
        return frame, maps

    def predict(self, frames, u, maps):
        """`forward`'s (next frame, next maps) and the keypoints of the context frames in pixels,
        [B, K, 2] (x, y; pixel (col, row) centred at (col + 0.5, row + 0.5))."""
        b, _, h, w = frames.shape
        u = u * self.action_scale
        planes = u[:, :, None, None].expand(-1, -1, h, w)
        x = torch.cat([frames, planes], 1)
        e1 = F.relu(self.enc1(x))
        e2 = F.relu(self.enc2(e1))
        e3 = F.relu(self.enc3(e2))
        attention = torch.softmax(self.keypoints(frames).flatten(2), 2)  # [B, K, HW]
        points = torch.matmul(attention, self.grid.T)  # [B, K, 2]
        logits = self.head(torch.cat([e3.flatten(1), points.flatten(1), u], 1))
        kernels = torch.softmax(logits.view(b, self.kernels, -1), 2)
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")  # noqa: E731
        d2 = F.relu(self.dec2(torch.cat([up(e3), e2], 1)))
        d1 = F.relu(self.dec1(torch.cat([up(d2), e1], 1)))
        context = frames.shape[1]
        weight = self.fine_masks.weight  # [M + 1, frames + nu]
        fine = torch.matmul(weight[:, :context], frames.flatten(2))  # [B, M + 1, HW]
        fine = fine + (u @ weight[:, context:].T + self.fine_masks.bias)[:, :, None]
        masks = _channel_softmax(up(self.coarse_masks(d1)).flatten(2) + fine)  # [B, M + 1, HW]

        carried = torch.cat([frames[:, 1:2], maps], 1)  # [B, 1 + P, H, W]
        moved = torch.matmul(kernels.unsqueeze(1), self._patches(carried))  # [B, 1 + P, M, HW]
        weighted = (masks[:, None, 1:] * moved).sum(2)  # [B, 1 + P, HW]
        frame = weighted[:, :1] + masks[:, :1] * frames[:, 0:1].flatten(2)
        carried_maps = weighted[:, 1:]
        flat_maps = maps.flatten(2)
        new_maps = (carried_maps + MAP_EPS * flat_maps) / (carried_maps.sum(2, keepdim=True) + MAP_EPS)
        pixels = (points + 1.0) * points.new_tensor([w / 2.0, h / 2.0])
        return frame.view(b, 1, h, w), new_maps.view(b, -1, h, w), pixels


def _channel_softmax(x):
    """Softmax over axis 1, written out: ONNX Runtime's Softmax on an inner axis transposes."""
    e = torch.exp(x - x.max(1, keepdim=True)[0])
    return e / e.sum(1, keepdim=True)


def one_hot_maps(pixels, height, width, device="cpu"):
    """[B, 1, H, W] maps with all mass on pixel (col, row) = pixels[b] (int [B, 2])."""
    pixels = torch.as_tensor(pixels, dtype=torch.long, device=device)
    maps = torch.zeros(len(pixels), height * width, device=device)
    maps[torch.arange(len(pixels)), pixels[:, 1] * width + pixels[:, 0]] = 1.0
    return maps.view(-1, 1, height, width)


def pixel_centres(maps):
    """(x [W], y [H]) of the pixel centres of maps [..., H, W]: pixel (col, row) at
    (col + 0.5, row + 0.5)."""
    h, w = maps.shape[-2:]
    xs = torch.arange(w, dtype=maps.dtype, device=maps.device) + 0.5
    ys = torch.arange(h, dtype=maps.dtype, device=maps.device) + 0.5
    return xs, ys


def map_mean(maps):
    """[B, P, H, W] -> [B, P, 2]: each map's expected (x, y) (`pixel_centres`)."""
    xs, ys = pixel_centres(maps)
    return torch.stack([(maps.sum(2) * xs).sum(2), (maps.sum(3) * ys).sum(2)], 2)


def object_columns(state_names):
    """Indices of (object_x, object_y) in the task's state, or None."""
    names = list(state_names)
    if "object_x" in names and "object_y" in names:
        return names.index("object_x"), names.index("object_y")
    return None


def position_columns(state_names):
    """Indices of every (NAME_x, NAME_y) pair in the task's state, in state order: the positions
    the keypoint term supervises (push: the pusher's, then the object's)."""
    names = list(state_names)
    return [
        (i, names.index(name[:-2] + "_y"))
        for i, name in enumerate(names)
        if name.endswith("_x") and name[:-2] + "_y" in names
    ]


def window_positions(data, windows, pairs, device="cpu"):
    """True positions (px) at the last context frame of each step of a batch of windows (index
    [B, T]), [B, T, Q, 2] for the Q column pairs: the state at the window's start, then the
    next states of all but its last transition."""
    states = np.concatenate([data.state[windows[:, :1]], data.next_state[windows[:, :-1]]], 1)
    xy = np.stack([states[:, :, list(pair)] for pair in pairs], 2).astype(np.float32)
    return torch.from_numpy(xy).to(device)


def object_pixels(states, columns):
    """The pixel (col, row) under each state's object centre, int [B, 2]."""
    xy = np.asarray(states)[:, list(columns)]
    return np.floor(xy).astype(np.int64)


def rollout(model, frames, actions, maps, keypoints=False):
    """Feeds the model its own predictions for actions.shape[1] steps: ([B, T, H, W] frames,
    [B, T, P, H, W] maps), and with `keypoints` also the keypoints (px) of each step's context
    frames, [B, T, K, 2]."""
    predicted, carried, points = [], [], []
    for t in range(actions.shape[1]):
        frame, maps, p = model.predict(frames, actions[:, t], maps)
        frames = torch.cat([frames[:, 1:], frame], 1)
        predicted.append(frame[:, 0])
        carried.append(maps)
        points.append(p)
    if keypoints:
        return torch.stack(predicted, 1), torch.stack(carried, 1), torch.stack(points, 1)
    return torch.stack(predicted, 1), torch.stack(carried, 1)


def windows_as_tensors(data, windows, columns, device="cpu"):
    """A batch of windows (index [B, T]) as (frames [B, 2, H, W], actions [B, T, nu], targets
    [B, T, H, W], designated pixels int [B, 2] or None, true object centres [B, T, 2] or None),
    images scaled to [0, 1]. The designated pixel is the one under the object's centre at the
    window's start (when the buffer holds true states and the task has an object)."""
    first = windows[:, 0]
    frames = torch.from_numpy(data.obs[first].astype(np.float32) / 255.0).to(device)
    actions = torch.from_numpy(data.action[windows]).to(device)
    targets = torch.from_numpy(data.next_obs[windows][:, :, -1].astype(np.float32) / 255.0).to(device)
    if columns is None or data.state is None:
        return frames, actions, targets, None, None
    pixels = object_pixels(data.state[first], columns)
    centres = np.asarray(data.next_state)[windows][:, :, list(columns)].astype(np.float32)
    return frames, actions, targets, pixels, torch.from_numpy(centres).to(device)


def video_losses(
    model,
    frames,
    actions,
    targets,
    pixels,
    centres,
    tracking_weight,
    tracking_radius,
    positions=None,
    keypoint_weight=0.0,
):
    """Per-step image MSE of the fed-back rollout, summed over the steps, plus
    `tracking_weight` x each of these terms in px^2, summed over the steps (when the batch has
    true centres): the squared distance between the carried map's mean and the object's true centre
    c ("tracking"), and, when `tracking_radius` r is not None, the map's expected squared
    distance beyond r of c, sum_p map(p) max(0, |p - c| - r)^2 ("outside"). The second is meant
    to keep the map's mass on the object: mass that leaves with the pusher moves the mean by only
    its share of the distance, while every unit of it beyond the rim costs its own squared
    distance; mass anywhere on the object costs nothing, so the term does not pull sub-pixel
    motion towards whole pixels.

    With `positions` [B, T, Q, 2] (`window_positions`), the first Q keypoints of each step's
    context frames are also supervised by the true positions: `keypoint_weight` x their squared
    distance (px^2), summed over the Q positions and the steps ("keypoints"), so that the kernel
    head reads where pusher and object are, and how they touch, from keypoints that locate them."""
    _, _, h, w = frames.shape
    if pixels is not None:
        maps = one_hot_maps(pixels, h, w, frames.device)
    else:
        maps = torch.full((len(frames), 1, h, w), 1.0 / (h * w), device=frames.device)
    predicted, carried, points = rollout(model, frames, actions, maps, keypoints=True)
    terms = {"image": ((predicted - targets) ** 2).mean((0, 2, 3)).sum()}
    total = terms["image"]
    if positions is not None:
        error = points[:, :, : positions.shape[2]] - positions
        terms["keypoints"] = (error**2).sum((2, 3)).mean() * actions.shape[1]
        total = total + keypoint_weight * terms["keypoints"]
    if centres is not None:
        steps = actions.shape[1]
        flat = carried.flatten(0, 1)[:, 0]  # [B T, H, W]
        centre = centres.flatten(0, 1)  # [B T, 2]
        terms["tracking"] = ((map_mean(flat[:, None])[:, 0] - centre) ** 2).sum(1).mean() * steps
        total = total + tracking_weight * terms["tracking"]
        if tracking_radius is None:
            return terms, total
        xs, ys = pixel_centres(flat)
        dx = xs[None, None, :] - centre[:, 0, None, None]
        dy = ys[None, :, None] - centre[:, 1, None, None]
        beyond = F.relu(torch.sqrt(dx**2 + dy**2) - tracking_radius)  # [B T, H, W]
        terms["outside"] = (flat * beyond**2).sum((1, 2)).mean() * steps
        total = total + tracking_weight * terms["outside"]
    return terms, total
