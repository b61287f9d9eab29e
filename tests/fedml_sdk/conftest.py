"""A real `fedml server` (the built binary, embedded default) on a free port, its log kept to
check that no API key ever reaches it, and a runner for the FedML SDK driver in a clean HOME."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from fedml_server import FedmlServer  # noqa: E402

DRIVER = Path(__file__).with_name("sdk_driver.py")


class Server(FedmlServer):
    def __init__(self, root: Path):
        super().__init__(root, env={"FEDML_LOG": "debug"})

    def blob_files(self):
        root = self.data_dir / "blobs"
        return [p for sub in ("objects", "staging") for p in (root / sub).rglob("*") if p.is_file()]


class Sdk:
    """Runs one FedML SDK call per process, as a user's script would, in its own HOME."""

    def __init__(self, server: Server, home: Path, cwd: Path):
        self.server, self.home, self.cwd = server, home, cwd
        home.mkdir(parents=True, exist_ok=True)
        cwd.mkdir(parents=True, exist_ok=True)

    def __call__(self, call, **kwargs):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FEDML_", "AWS_"))}
        env.update(HOME=str(self.home), PYTHONWARNINGS="ignore")
        out = subprocess.run(
            [sys.executable, str(DRIVER), "127.0.0.1", str(self.server.port), call, json.dumps(kwargs)],
            env=env, cwd=self.cwd, capture_output=True, text=True, timeout=300,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        assert lines, f"{call}: no answer\n{out.stdout}\n{out.stderr}"
        return json.loads(lines[-1])


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.stop()
    log = s.log.read_text()
    assert "fml_" not in log, "an API key reached the server log"


@pytest.fixture
def sdk(server, tmp_path):
    return Sdk(server, tmp_path / "home", tmp_path / "cwd")
