"""The Hugging Face Hub API (issue 29) against the real clients: huggingface_hub (its Python API,
HfFileSystem and the `hf` CLI), datasets, transformers (configs and tokenizers, no torch),
tokenizers and safetensors, all from PyPI, none changed.

A real `fedml server` (the debug build, embedded default; tests/fedml_server.py) listens on a free
loopback port; the clients reach it as their Hub through `HF_ENDPOINT`, with a `fedml` API key as
`HF_TOKEN`. Users and keys are made with `fedml admin`, the organisation with `fedml org create`.
Every test gets its own scratch `HF_HOME` (and so its own cache and token file).

    scripts/hub-clients                        # installs target/hub-venv when missing, runs this
    target/hub-venv/bin/python -m pytest tests/hub -q
"""

import atexit
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fedml_server import FEDML, FedmlServer, free_port  # noqa: E402

# huggingface_hub, datasets and transformers read their settings when they are imported: the
# endpoint (the server's port is chosen now, the server started on it by the fixture) and the
# switches go into the environment before any of them is.
PORT = free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}"
_SESSION_HOME = tempfile.mkdtemp(prefix="hub-tests-home-")
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
             "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE", "HF_TOKEN_PATH", "HF_XET_CACHE"):
    os.environ.pop(name, None)
HF_SWITCHES = {
    "HF_ENDPOINT": ENDPOINT,
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_XET": "1",  # no Xet served: uploads and downloads over plain HTTP/LFS
    "HF_HUB_ENABLE_HF_TRANSFER": "0",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",  # the `hf` CLI would ask PyPI for a newer release
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "0",
    "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
}
os.environ.update(HF_SWITCHES)
os.environ["HF_HOME"] = _SESSION_HOME

from huggingface_hub import HfApi, constants  # noqa: E402

MiB = 1 << 20


class HubServer(FedmlServer):
    """tests/fedml_server.py's server on a port chosen beforehand (the clients' endpoint is fixed
    when they are imported), with extra flags, and restartable on the same data directory."""

    def __init__(self, root: Path, port: int | None = None, args=(), env=None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.data_dir = root / "server"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args)
        self.env = env
        self.starts = 0
        self.start()

    def start(self):
        self.starts += 1
        self.log = self.root / f"server-{self.starts}.log"
        self.proc = subprocess.Popen(
            [str(FEDML), "server", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}",
             "--reclaim-grace", "0", *self.args],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"),
            # No S3 listener: it would take the fixed default port another suite may be using.
            env=dict(os.environ, FEDML_LOG="info", FEDML_S3_LISTEN="off", **(self.env or {})),
        )
        import socket

        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"fedml server exited early:\n{self.log.read_text()[-4000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if (self.data_dir / "admin-api-key").exists():
                    break
            except OSError:
                pass
            time.sleep(0.05)
        self.admin_key = (self.data_dir / "admin-api-key").read_text().strip()

    def restart(self):
        self.stop()
        self.start()

    def logs(self):
        return "".join(p.read_text(errors="replace") for p in sorted(self.root.glob("server-*.log")))

    def fedml(self, *args, key, check=True, cwd=None):
        """The `fedml` CLI as the owner of `key`; with check, a failure fails the test."""
        out = self.cli(*args, key=key, cwd=cwd)
        if check and out.returncode != 0:
            pytest.fail(f"fedml {' '.join(map(str, args))} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
        return out

    def fedml_json(self, *args, key):
        out = self.fedml(*args, "-o", "json", key=key)
        doc = json.loads(out.stdout)
        return doc.get("data", doc)


@dataclass
class Hub:
    """The server and who uses it: alice (the main user), bob (another user), carol (a reader of
    alice's organisation `team_org`), dave (a writer of it)."""

    server: HubServer
    url: str
    alice: str
    bob: str
    carol: str
    dave: str
    org: str

    def api(self, key=None, endpoint=None):
        return HfApi(endpoint=endpoint or self.url, token=key or self.alice)

    def fedml(self, *args, key=None, **kw):
        return self.server.fedml(*args, key=key or self.alice, **kw)

    def fedml_json(self, *args, key=None):
        return self.server.fedml_json(*args, key=key or self.alice)


def check_hub_api(url, key):
    """Fails the session at once, saying why, when the server answers no Hub API."""
    req = urllib.request.Request(f"{url}/api/whoami-v2", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        pytest.fail(f"GET /api/whoami-v2 answered {e.code} {e.read()[:300]!r}: this fedml server serves no Hub "
                    f"API (build it with crates/api/hub: cargo build -p fedml-cli)", pytrace=False)


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub-server")
    server = HubServer(root, PORT)
    try:
        keys = {name: server.new_user(name) for name in ("alice", "bob", "carol", "dave")}
        org = "team-" + secrets.token_hex(3)
        server.fedml("org", "create", org, key=keys["alice"])
        server.fedml("org", "add", org, "carol", "--role", "reader", key=keys["alice"])
        server.fedml("org", "add", org, "dave", "--role", "writer", key=keys["alice"])
        check_hub_api(server.url, keys["alice"])
        yield Hub(server, server.url, keys["alice"], keys["bob"], keys["carol"], keys["dave"], org)
    finally:
        server.stop()
    log = server.logs()
    assert "fml_" not in log, "an API key reached the server log"


@pytest.fixture(autouse=True)
def hf_env(request, tmp_path, monkeypatch):
    """Per test: a scratch HF_HOME (cache, token file, assets), HF_TOKEN = alice's key, the switches
    above. The clients' module-level paths follow HF_HOME for calls made in this process."""
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    for name, value in {
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HUGGINGFACE_HUB_CACHE": str(home / "hub"),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_XET_CACHE": str(home / "xet"),
    }.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    if "hub" in request.fixturenames:
        monkeypatch.setenv("HF_TOKEN", request.getfixturevalue("hub").alice)
    return home


def hf_env_for(home: Path, token: str | None):
    """The environment of a client process (the `hf` CLI, a script)."""
    env = dict(os.environ, HF_HOME=str(home), **HF_SWITCHES)
    env.pop("HF_TOKEN", None)
    if token:
        env["HF_TOKEN"] = token
    return env


def unique(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def sha256(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return hashlib.sha256(path_or_bytes).hexdigest()
    h = hashlib.sha256()
    with open(path_or_bytes, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def make_tree(root: Path, files: dict):
    """Writes {relative path: bytes} under root; answers {path: sha256}."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return {rel: sha256(data) for rel, data in files.items()}


def tree_digests(root: Path, skip_hidden=True):
    """{relative path: sha256} of every file under root (the clients' `.cache` folders left out)."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if skip_hidden and any(part.startswith(".") for part in Path(rel).parts):
            continue
        if p.is_file():
            out[rel] = sha256(p)
    return out


def is_commit_id(s):
    return isinstance(s, str) and len(s) == 40 and all(c in "0123456789abcdef" for c in s)


def status_of(excinfo):
    err = getattr(excinfo, "value", excinfo)
    resp = getattr(err, "response", None)
    return getattr(resp, "status_code", None)
