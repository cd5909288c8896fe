"""Reads a zplan transition buffer (docs/buffer-format.md) with numpy alone."""

import json
import os
import sys

import numpy as np

FIELDS = ("obs", "action", "reward", "done", "episode", "valid")
# The true states: a buffer field (`state`) when the writer knew them (`zplan collect`, `zplan
# mbrl`); buffers written before it was a field kept them in `states.npy` beside the buffer.
STATE_FIELD = "state"
LEGACY_STATES = "states.npy"


class BufferFormatError(Exception):
    """A buffer directory that cannot be read, with the file that is wrong."""


class Transitions:
    """The transitions of a buffer: obs and next_obs uint8 [N, C, H, W], action float32 [N, nu],
    reward float32 [N], and the true states [N, ns] when the buffer has them (its `state` field).
    `following[i]` is the transition after i in the same episode (its obs is i's next_obs), or -1."""

    def __init__(self, obs, action, reward, next_obs, state, next_state, path, following=None):
        self.obs, self.action, self.reward, self.next_obs = obs, action, reward, next_obs
        self.state, self.next_state, self.path = state, next_state, path
        self.following = np.full(len(action), -1, dtype=np.int64) if following is None else following

    def __len__(self):
        return len(self.action)

    def windows(self, horizon):
        """[W, horizon] indices of every run of `horizon` consecutive transitions of one episode."""
        runs = [np.arange(len(self))]
        for _ in range(horizon - 1):
            runs.append(np.where(runs[-1] >= 0, self.following[np.maximum(runs[-1], 0)], -1))
        windows = np.stack(runs, 1)
        return windows[(windows >= 0).all(1)]

    def split(self, held_out_fraction, seed):
        """(train, held_out) index arrays, shuffled by `seed`."""
        order = np.random.default_rng(seed).permutation(len(self))
        cut = max(1, int(round(len(self) * held_out_fraction)))
        return order[cut:], order[:cut]


def read_buffer(path):
    """All committed transitions of the buffer in `path`."""
    meta_path = os.path.join(path, "meta.json")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        n = int(meta["len"])
    except FileNotFoundError:
        raise BufferFormatError(f"{meta_path}: no buffer here (meta.json is missing)") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise BufferFormatError(f"{meta_path}: not a buffer meta file ({e})") from None
    fields = {}
    for name in FIELDS:
        file = os.path.join(path, f"{name}.npy")
        try:
            array = np.load(file, mmap_mode="r")
        except FileNotFoundError:
            raise BufferFormatError(f"{file}: missing") from None
        except ValueError as e:
            raise BufferFormatError(f"{file}: not a readable .npy file ({e})") from None
        if array.shape[0] < n:
            raise BufferFormatError(f"{file}: holds {array.shape[0]} rows, meta.json says {n}")
        fields[name] = array[:n]
    rows = np.flatnonzero(fields["valid"])
    if len(rows) == 0:
        raise BufferFormatError(f"{path}: the buffer holds no transition")
    states = None
    has_state_field = any(f.get("name") == STATE_FIELD for f in meta.get("fields", []))
    states_file = os.path.join(path, f"{STATE_FIELD}.npy" if has_state_field else LEGACY_STATES)
    if has_state_field or os.path.exists(states_file):
        try:
            states = np.load(states_file, mmap_mode="r")
        except (FileNotFoundError, ValueError) as e:
            raise BufferFormatError(f"{states_file}: not a readable .npy file ({e})") from None
        if len(states) < n:
            raise BufferFormatError(f"{states_file}: {len(states)} rows for a buffer of {n}")
        states = np.asarray(states[:n])
    # Row r + 1 continues row r's episode when it starts a transition of the same episode.
    position = np.full(n + 1, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    following = position[rows + 1]
    episode = np.append(np.asarray(fields["episode"]), -1)
    following[episode[rows + 1] != episode[rows]] = -1
    return Transitions(
        following=following,
        obs=np.ascontiguousarray(fields["obs"][rows]),
        action=np.ascontiguousarray(fields["action"][rows], dtype=np.float32),
        reward=np.ascontiguousarray(fields["reward"][rows], dtype=np.float32),
        next_obs=np.ascontiguousarray(fields["obs"][rows + 1]),
        state=None if states is None else states[rows],
        next_state=None if states is None else states[rows + 1],
        path=path,
    )


def read_buffers(paths):
    """The committed transitions of several buffers as one `Transitions` (episodes never run
    from one buffer into the next). The buffers must hold the same image and action shapes, and
    all or none of them true states."""
    parts = [read_buffer(path) for path in paths]
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    for part in parts[1:]:
        for name in ("obs", "action"):
            if getattr(part, name).shape[1:] != getattr(first, name).shape[1:]:
                raise BufferFormatError(
                    f"{part.path}: {name} of shape {getattr(part, name).shape[1:]}, "
                    f"{first.path} has {getattr(first, name).shape[1:]}"
                )
        if (part.state is None) != (first.state is None) or (
            part.state is not None and part.state.shape[1:] != first.state.shape[1:]
        ):
            raise BufferFormatError(f"{part.path}: its true states do not match those of {first.path}")
    offsets = np.cumsum([0] + [len(part) for part in parts[:-1]])
    following = np.concatenate(
        [
            np.where(part.following >= 0, part.following + offset, -1)
            for part, offset in zip(parts, offsets, strict=True)
        ]
    )
    joined = {
        name: None if first.state is None and "state" in name else np.concatenate([getattr(p, name) for p in parts])
        for name in ("obs", "action", "reward", "next_obs", "state", "next_state")
    }
    return Transitions(following=following, path=" + ".join(p.path for p in parts), **joined)


def read_buffer_or_report(paths, program):
    """The buffer in `paths` (a directory, or a list of them joined by `read_buffers`) for a
    command-line `program`, or None with the reason on stderr."""
    try:
        return read_buffers([paths] if isinstance(paths, str) else paths)
    except BufferFormatError as e:
        print(f"{program}: {e}", file=sys.stderr)
        return None
