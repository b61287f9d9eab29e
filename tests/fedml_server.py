"""A real `fedml server` process for the Python test suites (the FedML SDK's and the dashboard's):
the built binary, embedded default, on a free loopback port with its own data directory and its
log in a file; the `fedml` CLI and `fedml admin` against it."""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

from cargo_target import fedml_binary

# The debug build that `cargo build` / `cargo test` makes, wherever cargo keeps it.
FEDML = fedml_binary("debug")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FedmlServer:
    def __init__(self, root: Path, env=None):
        self.root = root
        self.data_dir = root / "server"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        self.proc = subprocess.Popen(
            [str(FEDML), "server", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}",
             "--reclaim-grace", "0"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), env=dict(os.environ, **(env or {})),
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

    def cli(self, *args, key=None, cwd=None):
        env = dict(os.environ, FEDML_API_KEY=key or self.admin_key, FEDML_SERVER_URL=self.url,
                   FEDML_CONFIG_DIR=str(self.root / "cli-config"))
        return subprocess.run([str(FEDML), *args], env=env, capture_output=True, text=True, cwd=cwd)

    def cli_json(self, *args, key=None):
        out = self.cli(*args, "-o", "json", key=key)
        return json.loads(out.stdout)

    def admin(self, *args):
        return subprocess.run([str(FEDML), "admin", "--data-dir", str(self.data_dir), *args],
                              check=True, capture_output=True, text=True)

    def new_user(self, name, read_only=False):
        self.admin("user", "create", name)
        return self.new_key(name, read_only)

    def new_key(self, name, read_only=False):
        args = ["key", "create", "--user", name, "-o", "json"] + (["--read-only"] if read_only else [])
        return json.loads(self.admin(*args).stdout)["data"]["api_key"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
