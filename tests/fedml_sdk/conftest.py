"""A real `fedml server` (the built binary, embedded default) on a free port, its log kept to
check that no API key ever reaches it, and a runner for the FedML SDK driver in a clean HOME."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from cargo_target import fedml_binary  # noqa: E402

# The debug build that `cargo build` / `cargo test` makes, wherever cargo keeps it.
FEDML = fedml_binary("debug")
DRIVER = Path(__file__).with_name("sdk_driver.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path):
        self.root = root
        self.data_dir = root / "server"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        self.proc = subprocess.Popen(
            [str(FEDML), "server", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}",
             "--reclaim-grace", "0"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), env=dict(os.environ, FEDML_LOG="debug"),
        )
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if (self.data_dir / "admin-api-key").exists():
                    break
            except OSError:
                pass
            time.sleep(0.05)
        self.admin_key = (self.data_dir / "admin-api-key").read_text().strip()

    def cli(self, *args, key=None):
        env = dict(os.environ, FEDML_API_KEY=key or self.admin_key, FEDML_SERVER_URL=self.url,
                   FEDML_CONFIG_DIR=str(self.root / "cli-config"))
        return subprocess.run([str(FEDML), *args], env=env, capture_output=True, text=True)

    def cli_json(self, *args, key=None):
        out = self.cli(*args, "-o", "json", key=key)
        return json.loads(out.stdout)

    def new_user(self, name):
        subprocess.run([str(FEDML), "admin", "--data-dir", str(self.data_dir), "user", "create", name],
                       check=True, capture_output=True)
        out = subprocess.run([str(FEDML), "admin", "--data-dir", str(self.data_dir), "key", "create", "--user", name,
                              "-o", "json"], check=True, capture_output=True, text=True)
        return json.loads(out.stdout)["data"]["api_key"]

    def blob_files(self):
        root = self.data_dir / "blobs"
        return [p for sub in ("objects", "staging") for p in (root / sub).rglob("*") if p.is_file()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


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
