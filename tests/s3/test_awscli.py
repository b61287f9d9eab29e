"""aws-cli (v1, from PyPI): `aws s3 cp`, `sync` both ways, `ls`, `rm`, multipart above a threshold
set small with `aws configure set`, and a few `aws s3api` calls."""

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import GAPS, TARGET, venv_bin

# A name with '+' where listings are URL-encoded as asked (else a plainer one: see conftest.GAPS).
ODD = "with space & plus+.txt" if "encoding-type" not in GAPS[TARGET] else "with space & amp.txt"

MiB = 1 << 20


@pytest.fixture(scope="module")
def aws(target, tmp_path_factory):
    """Runs `aws …` against the target, with a config file of its own where the multipart
    threshold is 1 MiB (parts of 5 MiB, the least S3 allows)."""
    home = tmp_path_factory.mktemp("awscli")
    config = home / "config"
    config.write_text("")
    env = target.env()
    env.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
               AWS_PAGER="", PYTHONWARNINGS="ignore")
    env.pop("AWS_ENDPOINT_URL", None)  # the flag, as people type it
    exe = venv_bin("aws")
    for setting, value in [("default.s3.multipart_threshold", "1MB"), ("default.s3.multipart_chunksize", "5MB"),
                           ("default.s3.max_concurrent_requests", "4"), ("default.region", target.region)]:
        subprocess.run([exe, "configure", "set", setting, value], env=env, check=True)
    assert "multipart_threshold = 1MB" in config.read_text()

    def run(*args, check=True):
        out = subprocess.run([exe, "--endpoint-url", target.endpoint, *args], env=env, capture_output=True,
                             text=True, timeout=120)
        if check:
            assert out.returncode == 0, f"aws {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
        return out

    return run


def tree(root: Path):
    """{relative path: sha256} of the files under root."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_tree(root: Path):
    files = {"a.txt": b"alpha\n", "dir/b.bin": os.urandom(70_000), "dir/sub/c.json": b'{"c": 1}\n',
             ODD: b"odd name\n", "é/unicode.txt": "é\n".encode()}
    an_hour_ago = time.time() - 3600
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        # Made before the sync (aws s3 sync sends a file whose mtime is after the object's
        # LastModified, which S3 gives to the second).
        os.utime(root / name, (an_hour_ago, an_hour_ago))
    return files


def test_cp_up_and_down_multipart(aws, target, prefix, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * MiB + 3))
    aws("s3", "cp", str(src), f"s3://{target.bucket}/{prefix}big.bin")
    head = aws("s3api", "head-object", "--bucket", target.bucket, "--key", prefix + "big.bin").stdout
    assert '"ContentLength": 12582915' in head
    assert '-3\\""' in head, f"not a 3-part multipart upload: {head}"
    dst = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{target.bucket}/{prefix}big.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    # Small file: one PUT, with its content type guessed from the name.
    small = tmp_path / "page.html"
    small.write_text("<p>hi</p>")
    aws("s3", "cp", str(small), f"s3://{target.bucket}/{prefix}page.html")
    head = aws("s3api", "head-object", "--bucket", target.bucket, "--key", prefix + "page.html").stdout
    assert '"ContentType": "text/html"' in head
    # Streams: from stdin and to stdout.
    out = subprocess.run(f"printf 'piped bytes' | {venv_bin('aws')} --endpoint-url {target.endpoint} s3 cp - "
                         f"s3://{target.bucket}/{prefix}piped", shell=True, env=os.environ | target.env(),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert aws("s3", "cp", f"s3://{target.bucket}/{prefix}piped", "-").stdout == "piped bytes"


def test_sync_both_ways(aws, target, prefix, tmp_path):
    src = tmp_path / "src"
    files = make_tree(src)
    url = f"s3://{target.bucket}/{prefix}tree/"
    out = aws("s3", "sync", str(src), url).stdout
    assert out.count("upload:") == len(files)
    # Nothing changed: nothing sent.
    assert "upload:" not in aws("s3", "sync", str(src), url).stdout
    down = tmp_path / "down"
    aws("s3", "sync", url, str(down))
    assert tree(down) == tree(src)
    # A change, an addition and a removal, with --delete.
    (src / "a.txt").write_bytes(b"alpha, longer now\n")
    (src / "new.txt").write_bytes(b"new\n")
    (src / "dir/sub/c.json").unlink()
    out = aws("s3", "sync", "--delete", str(src), url).stdout
    assert out.count("upload:") == 2 and out.count("delete:") == 1, out
    out = aws("s3", "sync", "--delete", url, str(down)).stdout
    assert tree(down) == tree(src), out
    listing = aws("s3", "ls", "--recursive", url).stdout
    assert sorted(line.split(None, 3)[3] for line in listing.splitlines()) == sorted(
        prefix + "tree/" + k for k in tree(src))


def test_ls_and_rm(aws, target, prefix, tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("x" * 123)
    for key in ("one.txt", "sub/two.txt", "sub/deeper/three.txt"):
        aws("s3", "cp", str(f), f"s3://{target.bucket}/{prefix}{key}")
    out = aws("s3", "ls", f"s3://{target.bucket}/{prefix}").stdout
    lines = sorted(out.splitlines())
    assert any(line.strip() == "PRE sub/" for line in lines), out
    assert any(line.endswith(" 123 one.txt") for line in lines), out
    buckets = aws("s3", "ls").stdout
    assert any(line.split()[-1] == target.bucket for line in buckets.splitlines()), buckets
    aws("s3", "rm", f"s3://{target.bucket}/{prefix}one.txt")
    out = aws("s3", "rm", "--recursive", f"s3://{target.bucket}/{prefix}sub/").stdout
    assert out.count("delete:") == 2
    assert aws("s3", "ls", "--recursive", f"s3://{target.bucket}/{prefix}", check=False).stdout == ""
    missing = aws("s3", "cp", f"s3://{target.bucket}/{prefix}gone", str(tmp_path / "gone"), check=False)
    assert missing.returncode != 0 and "404" in missing.stderr


def test_s3api_calls(aws, target, prefix, tmp_path):
    (tmp_path / "body.json").write_text("{}")
    aws("s3api", "put-object", "--bucket", target.bucket, "--key", prefix + "meta", "--body", str(tmp_path / "body.json"),
        "--metadata", "owner=me,stage=raw", "--content-type", "application/json")
    head = aws("s3api", "head-object", "--bucket", target.bucket, "--key", prefix + "meta").stdout
    assert '"owner": "me"' in head and '"stage": "raw"' in head and "application/json" in head
    listed = aws("s3api", "list-objects-v2", "--bucket", target.bucket, "--prefix", prefix,
                 "--query", "Contents[].Key", "--output", "text").stdout.split()
    assert listed == [prefix + "meta"]
    aws("s3api", "delete-object", "--bucket", target.bucket, "--key", prefix + "meta")
    refused = aws("s3api", "get-object", "--bucket", target.bucket, "--key", prefix + "meta", os.devnull, check=False)
    assert refused.returncode != 0 and "NoSuchKey" in refused.stderr
