"""rclone (Debian's package), configured through RCLONE_CONFIG_<REMOTE>_* variables only: copy,
sync and check both ways, multipart above a small cutoff, a server-side copy, listings."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import GAPS, TARGET
from test_awscli import make_tree, tree

# rclone lists recursively with an empty delimiter (`delimiter=&…`): where the reference server
# breaks on it, rclone is told to list folder by folder.
NO_LIST_R = ["--disable", "ListR"] if "empty-delimiter" in GAPS[TARGET] else []

MiB = 1 << 20


@pytest.fixture(scope="module")
def rclone(target):
    exe = shutil.which("rclone")
    if not exe:
        pytest.fail("rclone is not installed (scripts/s3-clients installs Debian's package)")
    env = dict(os.environ, RCLONE_CONFIG_T_TYPE="s3", RCLONE_CONFIG_T_PROVIDER="Other",
               RCLONE_CONFIG_T_ACCESS_KEY_ID=target.main.access_key,
               RCLONE_CONFIG_T_SECRET_ACCESS_KEY=target.main.secret_key,
               RCLONE_CONFIG_T_ENDPOINT=target.endpoint, RCLONE_CONFIG_T_REGION=target.region,
               RCLONE_CONFIG_T_FORCE_PATH_STYLE="true",
               # Multipart from 5 MiB on, in 5 MiB parts, so that a few MiB exercise it.
               RCLONE_S3_UPLOAD_CUTOFF="5M", RCLONE_S3_CHUNK_SIZE="5M", RCLONE_S3_UPLOAD_CONCURRENCY="2")

    def run(*args, check=True):
        out = subprocess.run([exe, "--retries", "1", "--low-level-retries", "2", *NO_LIST_R, *args], env=env,
                             capture_output=True, text=True, timeout=120)
        if check:
            assert out.returncode == 0, f"rclone {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
        return out

    return run


def test_copy_check_sync_both_ways(rclone, target, prefix, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    (src / "big.bin").write_bytes(os.urandom(11 * MiB + 1))  # multipart: 3 parts
    remote = f"T:{target.bucket}/{prefix}tree"
    rclone("copy", str(src), remote)
    # check compares sizes and hashes (the ETag as MD5 for single-part objects, the MD5 rclone
    # keeps in X-Amz-Meta-Md5chksum for multipart ones).
    rclone("check", str(src), remote)
    rclone("check", remote, str(src))
    down = tmp_path / "down"
    rclone("copy", remote, str(down))
    assert tree(down) == tree(src)
    # Modification times come back (rclone keeps them in X-Amz-Meta-Mtime).
    listed = {e["Path"]: e for e in json.loads(rclone("lsjson", "-R", "--files-only", remote).stdout)}
    assert set(listed) == set(tree(src))
    assert listed["a.txt"]["Size"] == (src / "a.txt").stat().st_size
    assert abs((down / "a.txt").stat().st_mtime - (src / "a.txt").stat().st_mtime) < 1.5
    # sync up after a change, an addition and a removal; then down.
    (src / "a.txt").write_bytes(b"changed\n")
    (src / "added.txt").write_bytes(b"added\n")
    (src / "dir/b.bin").unlink()
    rclone("sync", str(src), remote)
    rclone("check", str(src), remote)
    rclone("sync", remote, str(down))
    assert tree(down) == tree(src)
    rclone("check", remote, str(down))
    # A change made on the remote side comes down.
    (tmp_path / "remote-edit.txt").write_bytes(b"edited remotely\n")
    rclone("copyto", str(tmp_path / "remote-edit.txt"), remote + "/a.txt")
    rclone("sync", remote, str(down))
    assert (down / "a.txt").read_bytes() == b"edited remotely\n"


def test_server_side_copy_and_delete(rclone, target, prefix, tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(os.urandom(100_000))
    base = f"T:{target.bucket}/{prefix}"
    rclone("copyto", str(f), base + "orig.bin")
    # Between two paths of one remote rclone copies server-side (CopyObject).
    out = rclone("copyto", "-v", base + "orig.bin", base + "copy.bin")
    assert "Copied (server-side copy)" in out.stderr, out.stderr
    back = tmp_path / "back.bin"
    rclone("copyto", base + "copy.bin", str(back))
    assert back.read_bytes() == f.read_bytes()
    rclone("moveto", base + "copy.bin", base + "moved.bin")
    names = rclone("lsf", base).stdout.split()
    assert sorted(names) == ["moved.bin", "orig.bin"]
    # purge: every object under the prefix, then the "folder" (nothing to remove on S3).
    rclone("delete" if "rclone-purge" in GAPS[TARGET] else "purge", base)
    assert rclone("lsf", base, check=False).stdout.split() == []
    assert target.bucket in rclone("lsf", "T:").stdout.split("/\n")
