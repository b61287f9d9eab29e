"""The `hf` command line (it comes with huggingface_hub): `hf auth login --token`, `hf auth
whoami`, `hf upload` of a folder and of one file, `hf download` of a repository and of one file,
of a model and a dataset. Each command is its own process, with the token that `hf auth login`
saved in the scratch HF_HOME (no HF_TOKEN in its environment)."""

import os
import subprocess
import sys
from pathlib import Path

from huggingface_hub import HfApi

from conftest import MiB, hf_env_for, make_tree, sha256, tree_digests, unique

HF = str(Path(sys.executable).parent / "hf")


def hf(home, *args, token=None, check=True):
    out = subprocess.run([HF, *map(str, args)], env=hf_env_for(home, token), capture_output=True, text=True,
                         timeout=120)
    if check:
        assert out.returncode == 0, f"hf {' '.join(map(str, args))} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out


def test_hf_cli_login_upload_download(hub, hf_env, tmp_path):
    home = hf_env
    login = hf(home, "auth", "login", "--token", hub.alice)
    assert (home / "token").read_text().strip() == hub.alice, login.stdout + login.stderr
    who = hf(home, "auth", "whoami")
    assert "alice" in who.stdout, who.stdout

    for repo_type in ("model", "dataset"):
        rid = f"alice/{unique('cli-' + repo_type)}"
        src = tmp_path / f"src-{repo_type}"
        digests = make_tree(src, {"a.txt": b"a\n", "sub/b.bin": os.urandom(2 * MiB + 1), "sub/c.json": b"{}\n"})
        # `hf upload` creates the repository when it is missing.
        hf(home, "upload", rid, src, "--repo-type", repo_type, "--commit-message", "from the cli")
        one = tmp_path / "one.txt"
        one.write_bytes(b"one file\n")
        hf(home, "upload", rid, one, "remote/one.txt", "--repo-type", repo_type)
        digests["remote/one.txt"] = sha256(one)

        out = tmp_path / f"down-{repo_type}"
        hf(home, "download", rid, "--repo-type", repo_type, "--local-dir", out)
        assert tree_digests(out) == digests
        single = tmp_path / f"single-{repo_type}"
        got = hf(home, "download", rid, "sub/b.bin", "--repo-type", repo_type, "--local-dir", single)
        assert sha256(single / "sub" / "b.bin") == digests["sub/b.bin"], got.stdout
        # Into the cache: the command prints the snapshot's path.
        cached = hf(home, "download", rid, "--repo-type", repo_type)
        path = Path(next(line.split("path:", 1)[1].strip() for line in cached.stdout.splitlines() if "path:" in line))
        assert path.name == HfApi(token=hub.alice).repo_info(rid, repo_type=repo_type).sha
        assert tree_digests(path) == digests

    # After logout, the repository is not there for an anonymous client.
    hf(home, "auth", "logout")
    anon = hf(home, "download", rid, "a.txt", "--repo-type", "dataset", "--local-dir", tmp_path / "anon", check=False)
    assert anon.returncode != 0
