"""Fixtures: a real `fedml server` (the built binary) on a free loopback port, with a fresh data
directory, and a clean client environment (no saved login, no inherited key)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))
from cargo_target import fedml_binary  # noqa: E402

# The debug build that `cargo build` / `cargo test` makes, wherever cargo keeps it.
FEDML = fedml_binary("debug")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path):
        self.data_dir = root / "server-data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(FEDML), "server", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}",
             "--reclaim-grace", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, FEDML_LOG="warn"),
        )
        key_file = self.data_dir / "admin-api-key"
        for _ in range(300):
            if key_file.exists():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    break
                except OSError:
                    pass
            time.sleep(0.05)
        else:
            raise RuntimeError("fedml server did not start")
        self.admin_key = key_file.read_text().strip()

    def blob_files(self):
        root = self.data_dir / "blobs"
        return [p for sub in ("objects", "staging") for p in (root / sub).rglob("*") if p.is_file()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture
def server(tmp_path, monkeypatch):
    assert FEDML.exists(), f"{FEDML} is missing: build it first (cargo build -p fedml-cli)"
    s = Server(tmp_path)
    monkeypatch.setenv("FEDML_SERVER_URL", s.url)
    monkeypatch.setenv("FEDML_CONFIG_DIR", str(tmp_path / "client-config"))
    monkeypatch.delenv("FEDML_API_KEY", raising=False)
    yield s
    s.stop()


def make_tree(root: Path) -> Path:
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "readme.txt").write_text("hello\n")
    (root / "empty.bin").write_bytes(b"")
    (root / "nested" / "weights.bin").write_bytes(os.urandom(3 << 20))
    (root / "nested" / "deeper" / "données 数据.json").write_text('{"é": 1}')
    return root


def tree_listing(root: Path):
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out.append((rel, None if p.is_dir() else p.read_bytes()))
    return out
