"""Our server only: S3 and the `fedml` CLI see the same objects — the same bytes both ways, a
directory object as a read-only prefix, an overwrite as a version, buckets as namespaces
(a user's own, organisations)."""

import json
import os
import secrets

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import error_code, status

MiB = 1 << 20


@pytest.fixture(autouse=True)
def fedml_only(target):
    target.require("fedml")


def fedml_ok(target, *args, creds=None):
    out = target.fedml(*args, creds=creds)
    assert out.returncode == 0, f"fedml {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def names_listed(target, namespace=None, creds=None):
    args = ["storage", "list", "-o", "json"] + (["--namespace", namespace] if namespace else [])
    doc = json.loads(fedml_ok(target, *args, creds=creds))
    rows = doc.get("data") or []
    return {row["dataName"] for row in rows}


def test_s3_put_reads_back_with_fedml_download(s3, target, tmp_path):
    data = os.urandom(3 * MiB + 7)
    key = "xcheck-" + secrets.token_hex(3)
    s3.put_object(Bucket=target.bucket, Key=key, Body=data)
    fedml_ok(target, "storage", "download", key, "-d", str(tmp_path / "one"), "--no-progress")
    assert (tmp_path / "one" / key).read_bytes() == data
    # A multipart upload, then read by the CLI.
    src = tmp_path / "mp.bin"
    src.write_bytes(os.urandom(11 * MiB + 3))
    s3.upload_file(str(src), target.bucket, key + "-mp",
                   Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    fedml_ok(target, "storage", "download", key + "-mp", "-d", str(tmp_path / "two"), "--no-progress")
    assert (tmp_path / "two" / (key + "-mp")).read_bytes() == src.read_bytes()
    assert key in names_listed(target) and key + "-mp" in names_listed(target)


@pytest.mark.parametrize("mode", [[], ["--no-dedup"]], ids=["packed", "no-dedup"])
def test_fedml_upload_reads_back_with_s3(s3, target, tmp_path, mode):
    data = os.urandom(5 * MiB + 11)
    name = "from-cli-" + secrets.token_hex(3)
    (tmp_path / "model.bin").write_bytes(data)
    fedml_ok(target, "storage", "upload", str(tmp_path / "model.bin"), "-n", name, "--no-progress", *mode)
    got = s3.get_object(Bucket=target.bucket, Key=name)
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    head = s3.head_object(Bucket=target.bucket, Key=name)
    assert head["ContentLength"] == len(data) and head["ETag"]
    part = s3.get_object(Bucket=target.bucket, Key=name, Range="bytes=4194000-4194999")
    assert part["Body"].read() == data[4194000:4195000]
    assert s3.get_object(Bucket=target.bucket, Key=name, Range="bytes=-10")["Body"].read() == data[-10:]
    listed = s3.list_objects_v2(Bucket=target.bucket, Prefix=name)
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [(name, len(data))]
    # What the CLI uploaded, aws-style tools download in parallel ranges.
    s3.download_file(target.bucket, name, str(tmp_path / "back.bin"),
                     Config=TransferConfig(multipart_threshold=1 * MiB, multipart_chunksize=1 * MiB))
    assert (tmp_path / "back.bin").read_bytes() == data


def test_directory_object_is_a_read_only_prefix(s3, target, tmp_path):
    files = {"a.txt": b"top\n", "sub/b.bin": os.urandom(300_000), "sub/deeper/c.json": b'{"c": 3}\n',
             "with space.txt": b"space\n"}
    src = tmp_path / "ds"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    name = "ds-" + secrets.token_hex(3)
    fedml_ok(target, "storage", "upload", str(src), "-n", name, "--no-progress")
    listed = s3.list_objects_v2(Bucket=target.bucket, Prefix=name + "/")
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(f"{name}/{k}" for k in files)
    assert {o["Key"]: o["Size"] for o in listed["Contents"]} == {f"{name}/{k}": len(v) for k, v in files.items()}
    top = s3.list_objects_v2(Bucket=target.bucket, Prefix=name, Delimiter="/")
    assert [p["Prefix"] for p in top.get("CommonPrefixes", [])] == [name + "/"]
    inside = s3.list_objects_v2(Bucket=target.bucket, Prefix=name + "/", Delimiter="/")
    assert sorted(o["Key"] for o in inside["Contents"]) == [f"{name}/a.txt", f"{name}/with space.txt"]
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == [f"{name}/sub/"]
    for rel, data in files.items():
        got = s3.get_object(Bucket=target.bucket, Key=f"{name}/{rel}")
        assert got["Body"].read() == data, rel
        assert s3.head_object(Bucket=target.bucket, Key=f"{name}/{rel}")["ContentLength"] == len(data)
    part = s3.get_object(Bucket=target.bucket, Key=f"{name}/sub/b.bin", Range="bytes=1000-1999")
    assert part["Body"].read() == files["sub/b.bin"][1000:2000]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=target.bucket, Key=f"{name}/not-there.txt")
    assert error_code(e) == "NoSuchKey"
    # Read-only: no write, overwrite or delete inside it through S3.
    for call in (lambda: s3.put_object(Bucket=target.bucket, Key=f"{name}/new.txt", Body=b"x"),
                 lambda: s3.put_object(Bucket=target.bucket, Key=f"{name}/a.txt", Body=b"x"),
                 lambda: s3.delete_object(Bucket=target.bucket, Key=f"{name}/a.txt"),
                 lambda: s3.copy_object(Bucket=target.bucket, Key=f"{name}/copy.txt",
                                        CopySource=f"{target.bucket}/{name}/a.txt")):
        with pytest.raises(ClientError) as e:
            call()
        assert 400 <= status(e) < 500, e.value.response
    assert s3.get_object(Bucket=target.bucket, Key=f"{name}/a.txt")["Body"].read() == b"top\n"
    # A file inside it copied out to a key of its own.
    s3.copy_object(Bucket=target.bucket, Key=name + "-a-copy", CopySource=f"{target.bucket}/{name}/sub/b.bin")
    assert s3.get_object(Bucket=target.bucket, Key=name + "-a-copy")["Body"].read() == files["sub/b.bin"]
    fedml_ok(target, "storage", "delete", name)
    assert s3.list_objects_v2(Bucket=target.bucket, Prefix=name + "/")["KeyCount"] == 0


def test_cli_overwrite_is_an_s3_version(s3, target, tmp_path):
    name = "versions-" + secrets.token_hex(3)
    v1 = s3.put_object(Bucket=target.bucket, Key=name, Body=b"first by S3")
    (tmp_path / "f").write_bytes(b"second by the CLI")
    fedml_ok(target, "storage", "upload", str(tmp_path / "f"), "-n", name, "--overwrite", "--no-progress")
    assert s3.get_object(Bucket=target.bucket, Key=name)["Body"].read() == b"second by the CLI"
    versions = s3.list_object_versions(Bucket=target.bucket, Prefix=name)["Versions"]
    assert [v["IsLatest"] for v in versions] == [True, False]
    assert versions[1]["VersionId"] == v1["VersionId"]
    old = s3.get_object(Bucket=target.bucket, Key=name, VersionId=v1["VersionId"])
    assert old["Body"].read() == b"first by S3"
    s3.put_object(Bucket=target.bucket, Key=name, Body=b"third by S3")
    out = json.loads(fedml_ok(target, "storage", "versions", name, "-o", "json"))
    assert len(out["data"] if isinstance(out.get("data"), list) else out["data"]["versions"]) == 3
    fedml_ok(target, "storage", "download", name, "-d", str(tmp_path / "v2"), "--version", "2", "--no-progress")
    assert (tmp_path / "v2" / name).read_bytes() == b"second by the CLI"


def test_s3_delete_is_seen_by_the_cli(s3, target):
    name = "deleted-" + secrets.token_hex(3)
    s3.put_object(Bucket=target.bucket, Key=name, Body=b"short-lived")
    assert name in names_listed(target)
    s3.delete_object(Bucket=target.bucket, Key=name)
    assert name not in names_listed(target)
    out = target.fedml("storage", "get-metadata", name)
    assert out.returncode == 1


def test_organisations_are_buckets(s3, target, tmp_path):
    org = "team-" + secrets.token_hex(3)
    fedml_ok(target, "org", "create", org)
    assert org in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=org)
    s3.put_object(Bucket=org, Key="shared/data.bin", Body=b"team bytes")
    assert "shared/data.bin" in names_listed(target, namespace=org)
    fedml_ok(target, "storage", "download", "shared/data.bin", "--namespace", org, "-d", str(tmp_path / "o"),
             "--no-progress")
    assert any(p.read_bytes() == b"team bytes" for p in (tmp_path / "o").rglob("*") if p.is_file())
    # bob: not a member, then a reader.
    bob = target.client(target.other)
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=org, Key="shared/data.bin")
    assert error_code(e) == "NoSuchBucket"
    fedml_ok(target, "org", "add", org, "bob", "--role", "reader")
    assert org in [b["Name"] for b in bob.list_buckets()["Buckets"]]
    assert bob.get_object(Bucket=org, Key="shared/data.bin")["Body"].read() == b"team bytes"
    with pytest.raises(ClientError) as e:
        bob.put_object(Bucket=org, Key="by-bob", Body=b"x")
    assert error_code(e) == "AccessDenied" and status(e) == 403
    with pytest.raises(ClientError) as e:
        bob.delete_bucket(Bucket=org)
    assert error_code(e) == "AccessDenied"
    fedml_ok(target, "org", "remove", org, "bob")
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=org, Key="shared/data.bin")
    assert error_code(e) == "NoSuchBucket"


def test_create_bucket_is_an_organisation(s3, target):
    name = "s3-org-" + secrets.token_hex(3)
    s3.create_bucket(Bucket=name)
    orgs = fedml_ok(target, "org", "list", "-o", "json")
    assert name in orgs
    s3.delete_bucket(Bucket=name)
    assert name not in fedml_ok(target, "org", "list", "-o", "json")
    # A user's own namespace is not a bucket one may delete.
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=target.bucket)
    assert 400 <= status(e) < 500
    # Bucket names S3 refuses are refused.
    for bad in ("UPPER", "a", "under_score", "-dash-first"):
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=bad)
        assert error_code(e) in ("InvalidBucketName",), (bad, e.value.response)
