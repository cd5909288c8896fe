"""The benchmark tasks' facts: image, state, action limits, time step.

They are read from tasks.json, which `zplan tasks --json` writes from the Rust tasks (zplan-envs),
their one source; a test of zplan-cli fails when the file and the Rust tasks differ (regenerate
it with `make tasks-json`).
"""

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One benchmark task, as `zplan tasks --json` describes it."""

    name: str
    image: tuple  # frames, height, width
    state: tuple  # names of the true state's components
    planning_low: tuple  # the planner's action limits: the bounds a bundle declares
    planning_high: tuple
    time_step: float  # seconds per step; 0 for a kinematic task
    episode_length: int

    @property
    def bundle_time_step(self):
        """The manifest's time step (positive): one unit per step on a kinematic task."""
        return self.time_step or 1.0


def _load():
    with open(os.path.join(os.path.dirname(__file__), "tasks.json")) as f:
        facts = json.load(f)
    return {
        name: Task(
            name=name,
            image=tuple(f["image"]),
            state=tuple(f["state"]),
            planning_low=tuple(f["planning_low"]),
            planning_high=tuple(f["planning_high"]),
            time_step=f["time_step"],
            episode_length=f["episode_length"],
        )
        for name, f in facts.items()
    }


TASKS = _load()
