"""The FedML Python SDK 0.9.6 as an anchor: its own upload and download, run against our server
(its FedML-compatible routes) in the same run as our client, on the same data.

The SDK is installed in target/fedml-sdk-venv the way scripts/test installs it, and each call
runs in a fresh process through tests/fedml_sdk/sdk_driver.py, as a user's script would: the
time includes the SDK's own zipping and unzipping, which is how it moves a file or a folder.
The driver replaces the training stack that `import fedml` pulls in (torch and friends) by
empty modules, so the SDK starts faster here than it does for its users.
"""
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "fedml-sdk-venv")
DRIVER = os.path.join(ROOT, "tests", "fedml_sdk", "sdk_driver.py")


def tree_bytes(root):
    """Total size of the regular files under root (the SDK unpacks what it downloads)."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


def python():
    """The venv's interpreter, installing the SDK first when it is missing."""
    exe = os.path.join(VENV, "bin", "python")
    if not os.path.exists(exe):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    check = subprocess.run([exe, "-c", "import importlib.metadata as m; print(m.version('fedml'))"],
                           capture_output=True, text=True)
    if check.stdout.strip() != "0.9.6":
        pip = [exe, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run(pip + ["--no-deps", "fedml==0.9.6"], check=True)
        subprocess.run(pip + ["requests<2.32", "boto3", "python-dotenv", "click", "prettytable", "tqdm", "PyYAML",
                              "cachetools", "chardet"], check=True)
    return exe


class Sdk:
    """One SDK user: its own HOME (where the SDK keeps its config) and working directory."""

    def __init__(self, port, api_key, work):
        self.port, self.api_key = port, api_key
        self.home = os.path.join(work, "sdk-home")
        self.cwd = os.path.join(work, "sdk-cwd")
        os.makedirs(self.home, exist_ok=True)
        os.makedirs(self.cwd, exist_ok=True)
        self.exe = python()
        self.call("fedml_login", api_key=api_key)

    def call(self, call_name, **kwargs):
        """Runs one SDK call; returns its wall time in seconds. Exits when it does not succeed."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FEDML_", "AWS_"))}
        env.update(HOME=self.home, PYTHONWARNINGS="ignore")
        started = time.perf_counter()
        out = subprocess.run([self.exe, DRIVER, "127.0.0.1", str(self.port), call_name, json.dumps(kwargs)],
                             env=env, cwd=self.cwd, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        answer = json.loads(lines[-1]) if lines else {}
        ok = answer.get("code") == "SUCCESS" or answer.get("tuple", [None])[0] == 0
        if not ok:
            sys.exit(f"FedML SDK {call_name} failed: {answer or out.stdout}\n{out.stderr[-2000:]}")
        return elapsed

    def upload(self, path, name):
        return self.call("upload", data_path=path, api_key=self.api_key, name=name)

    def download(self, name, dest):
        return self.call("download", data_name=name, api_key=self.api_key, dest_path=dest)

    def delete(self, name):
        return self.call("delete", data_name=name, service="R2", api_key=self.api_key)

    def runs(self, runs, path, name, work, settle, blobs, check):
        """`runs` round trips of `path` as `name`-N: page cache settled before each command (the
        source before the upload, the server's blobs before the download), `check(dest)` on what
        came back. Returns the upload and the download times."""
        # The SDK gives a file's object the file's extension.
        extension = os.path.splitext(path)[1] if os.path.isfile(path) else ""
        up, down = [], []
        for i in range(runs):
            stored = f"{name}-{i}{extension}"
            settle(path)
            up.append(self.upload(path, stored))
            dest = os.path.join(work, f"sdk-down-{i}")
            settle(blobs)
            down.append(self.download(stored, dest))
            check(dest)
            shutil.rmtree(dest)
            self.delete(stored)
        return up, down
