import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "training"))


@pytest.fixture(scope="session")
def zplan():
    """The zplan binary that `cargo test` (part of `make test`) builds."""
    path = os.path.join(ROOT, "target", "debug", "zplan")
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "-q", "-p", "zplan-cli"], cwd=ROOT, check=True)
    return path


@pytest.fixture(scope="session")
def planar_buffer(zplan, tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "planar"
    subprocess.run(
        [zplan, "collect", "--task", "planar", "--samples", "400", "--seed", "1", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return str(out)
