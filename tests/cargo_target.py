"""Where cargo puts the `fedml` binary: `FEDML_BIN` when set, else `<target dir>/<profile>/fedml`
with the target directory as cargo reports it (`cargo metadata`), so that `CARGO_TARGET_DIR`
or a `build.target-dir` setting is honoured. Shared by the Python test suites and the benchmarks."""

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def target_directory() -> Path:
    try:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
            cwd=REPO, capture_output=True, text=True, check=True,
        )
        return Path(json.loads(out.stdout)["target_directory"])
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError):
        # No cargo on PATH: its own default, unless the environment says otherwise.
        return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def fedml_binary(profile: str = "debug") -> Path:
    if os.environ.get("FEDML_BIN"):
        return Path(os.environ["FEDML_BIN"])
    return target_directory() / profile / "fedml"


if __name__ == "__main__":
    # `python3 tests/cargo_target.py [debug|release]` prints the binary's path (for scripts).
    import sys

    print(fedml_binary(sys.argv[1] if len(sys.argv) > 1 else "debug"))
