"""The real FedML Python SDK 0.9.6, unchanged, in its on-premise ("local") mode against our
server: every storage call, interop with our CLI, and isolation between users."""

import json
import os
import urllib.request
from pathlib import Path

from conftest import Sdk


def tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "readme.txt").write_text("hello")
    (root / "sub" / "weights.bin").write_bytes(os.urandom(25 << 20))  # two SDK parts
    (root / "sub" / "deeper" / "données.json").write_text('{"a": 1}')
    return root


def listing(root: Path):
    return sorted((p.relative_to(root).as_posix(), p.read_bytes() if p.is_file() else None) for p in root.rglob("*"))


def test_every_storage_call(server, sdk, tmp_path):
    key = server.admin_key
    assert sdk("fedml_login", api_key=key) == {"tuple": [0, "<api key>"]}

    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom((41 << 20) + 7))  # three parts, the last one short
    r = sdk("upload", data_path=str(model), api_key=key, name="model.bin", description="weights", tag_list=["v1"])
    assert r["code"] == "SUCCESS", r
    data = tree(tmp_path / "dataset")
    r = sdk("upload", data_path=str(data), api_key=key, description="a folder")
    assert r["code"] == "SUCCESS", r
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    r = sdk("upload", data_path=str(empty), api_key=key)
    assert r["code"] == "SUCCESS", r

    # Our side: three objects, of the right kinds, sizes and checksums.
    ours = {o["dataName"]: o for o in server.cli_json("storage", "list")["data"]}
    assert set(ours) == {"model.bin", "dataset", "empty.txt"}
    assert (ours["model.bin"]["kind"], ours["model.bin"]["size"]) == ("file", (41 << 20) + 7)
    assert ours["model.bin"]["tags"] == ["v1"] and ours["model.bin"]["description"] == "weights"
    assert ours["dataset"]["kind"] == "directory"
    assert ours["empty.txt"]["size"] == 0

    r = sdk("list_storage_objects", api_key=key)
    assert r["code"] == "SUCCESS"
    assert sorted(o["dataName"] for o in r["data"]) == ["dataset", "empty.txt", "model.bin"]
    r = sdk("get_storage_metadata", data_name="model.bin", api_key=key)
    assert r["code"] == "SUCCESS" and r["data"]["description"] == "weights" and r["data"]["size"] == "41.00 MB"

    dest = tmp_path / "downloads"
    r = sdk("download", data_name="model.bin", api_key=key, dest_path=str(dest))
    assert r["code"] == "SUCCESS", r
    assert (dest / "model.bin").read_bytes() == model.read_bytes()
    r = sdk("download", data_name="dataset", api_key=key, dest_path=str(dest))
    assert r["code"] == "SUCCESS", r
    assert listing(dest / "dataset") == listing(data)

    # boto3's HEAD goes to a no-op endpoint that refuses: a clean FAILURE, nothing leaked.
    r = sdk("get_storage_user_defined_metadata", data_name="dataset", api_key=key)
    assert r["code"] == "FAILURE" and r["data"] is None

    for name in ("model.bin", "dataset", "empty.txt"):
        r = sdk("delete", data_name=name, service="R2", api_key=key)
        assert r["code"] == "SUCCESS" and r["data"] is True, r
    assert server.cli_json("storage", "list")["data"] == []
    assert server.blob_files() == []


def test_objects_move_between_the_sdk_and_our_cli(server, sdk, tmp_path):
    key = server.admin_key
    f = tmp_path / "notes.txt"
    f.write_text("from our cli")
    d = tree(tmp_path / "corpus")
    assert server.cli("storage", "upload", str(f), "-um", '{"k": "v"}').returncode == 0
    assert server.cli("storage", "upload", str(d)).returncode == 0
    dest = tmp_path / "sdk-dl"
    assert sdk("download", data_name="notes.txt", api_key=key, dest_path=str(dest))["code"] == "SUCCESS"
    assert (dest / "notes.txt").read_text() == "from our cli"
    assert sdk("download", data_name="corpus", api_key=key, dest_path=str(dest))["code"] == "SUCCESS"
    assert listing(dest / "corpus") == listing(d)

    g = tmp_path / "from-sdk.csv"
    g.write_text("a,b\n1,2\n")
    assert sdk("upload", data_path=str(g), api_key=key)["code"] == "SUCCESS"
    out = server.cli("storage", "download", "from-sdk.csv", "-d", str(tmp_path / "cli-dl"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "cli-dl" / "from-sdk.csv").read_text() == "a,b\n1,2\n"
    meta = server.cli_json("storage", "get-metadata", "from-sdk.csv")["data"]
    assert meta["checksum"].startswith("blake3:")

    # A folder the SDK uploaded (its own deflated archive): listed, and one file fetched alone.
    sdk_tree = tree(tmp_path / "sdk-corpus")
    assert sdk("upload", data_path=str(sdk_tree), api_key=key)["code"] == "SUCCESS"
    listed = server.cli_json("storage", "ls", "sdk-corpus", "--recursive")["data"]
    files = {e["path"]: e["size"] for e in listed if e["kind"] == "file"}
    assert files == {"readme.txt": 5, "sub/weights.bin": 25 << 20, "sub/deeper/données.json": 8}, listed
    sub = server.cli_json("storage", "ls", "sdk-corpus", "sub")["data"]
    assert [(e["path"], e["kind"]) for e in sub] == [("sub/deeper", "directory"), ("sub/weights.bin", "file")]
    out = server.cli("storage", "download", "sdk-corpus", "--path", "sub/deeper/données.json",
                     "-d", str(tmp_path / "one"))
    assert out.returncode == 0, out.stderr
    assert listing(tmp_path / "one" / "sdk-corpus") == [("sub", None), ("sub/deeper", None),
                                                         ("sub/deeper/données.json", b'{"a": 1}')]
    assert server.cli("storage", "delete", "corpus").returncode == 0
    assert sdk("get_storage_metadata", data_name="corpus", api_key=key)["code"] == "FAILURE"


def post(url, body, key=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(req) as resp:
        return resp.status, json.loads(resp.read())


def get(url, key):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req) as resp:
        return resp.status, json.loads(resp.read())


def test_a_second_user_cannot_see_fetch_or_delete(server, sdk, tmp_path):
    alice = server.admin_key
    bob = server.new_user("bob")
    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(1000))
    assert sdk("upload", data_path=str(secret), api_key=alice)["code"] == "SUCCESS"

    bob_sdk = Sdk(server, tmp_path / "bob-home", tmp_path / "bob-cwd")
    assert bob_sdk("list_storage_objects", api_key=bob)["data"] == []
    assert bob_sdk("get_storage_metadata", data_name="secret.bin", api_key=bob)["code"] == "FAILURE"
    assert bob_sdk("download", data_name="secret.bin", api_key=bob, dest_path=str(tmp_path / "bob-dl"))["code"] == "FAILURE"
    assert not (tmp_path / "bob-dl" / "secret.bin").exists()
    assert bob_sdk("delete", data_name="secret.bin", service="R2", api_key=bob)["code"] == "FAILURE"
    assert [o["dataName"] for o in server.cli_json("storage", "list")["data"]] == ["secret.bin"]

    # The protocol itself: getUser trusts the body's key, never the Authorization header.
    _, alice_user = post(f"{server.url}/fedmlOpsServer/api/v1/cli/getUser", {"apiKey": alice})
    _, as_bob = post(f"{server.url}/fedmlOpsServer/api/v1/cli/getUser", {"apiKey": bob}, key=alice)
    assert as_bob["code"] == "SUCCESS" and as_bob["data"]["id"] != alice_user["data"]["id"]
    # Presigned URLs only under the caller's own id.
    _, r = get(f"{server.url}/system/api/v1/cli/oss/multipart/presigned-url?fileKey={alice_user['data']['id']}/x.bin"
               "&partNumber=1", bob)
    assert r["code"] == "FAILURE"
    _, r = get(f"{server.url}/system/api/v1/cli/oss/multipart/presigned-url?fileKey=../x.bin&partNumber=1", bob)
    assert r["code"] == "FAILURE"
    # A dataset record accepts only a file URL issued to the same caller.
    _, presigned = get(f"{server.url}/system/api/v1/cli/oss/multipart/presigned-url"
                       f"?fileKey={alice_user['data']['id']}/y.bin&partNumber=0", alice)
    _, done = post(f"{server.url}/system/api/v1/cli/oss/multipart/upload/complete",
                   {"fileKey": f"{alice_user['data']['id']}/y.bin", "partETags": [],
                    "uploadId": presigned["data"]["uploadId"]}, key=alice)
    assert done["code"] == "SUCCESS", done
    _, r = post(f"{server.url}/fedmlOpsServer/api/v1/cli/dataset",
                {"datasetName": "stolen", "fileUrl": done["data"], "fileSize": 0, "tagNameList": []}, key=bob)
    assert r["code"] == "FAILURE"
    # configs/fetch is unauthenticated: it carries no real credential.
    _, configs = post(f"{server.url}/fedmlOpsServer/configs/fetch", {"config_name": ["r2_config"]})
    for cfg in (configs["data"]["r2_config"], configs["data"]["s3_config"]):
        assert cfg["CN_S3_AKI"] == cfg["CN_S3_SAK"] == "fedml-public-noop"
        assert cfg["CN_S3_ENDPOINT"].endswith("/fedml-s3-noop")
    # A bad key: heartBeat answers data false, and the SDK's login reports failure.
    _, hb = post(f"{server.url}/fedmlOpsServer/api/v1/cli/heartBeat", {"apiKey": "nope"})
    assert hb == {"code": "FAILURE", "message": hb["message"], "data": False}
    assert bob_sdk("fedml_login", api_key="fml_0000000000000000_" + "0" * 64)["tuple"][0] == -1


def test_names_in_either_unicode_form_and_descriptions_not_given(server, sdk, tmp_path):
    key = server.admin_key
    composed, decomposed = "r\u00e9sum\u00e9.txt", "re\u0301sume\u0301.txt"
    f = tmp_path / decomposed  # a macOS file name: the SDK names the dataset after it
    f.write_text("cv")
    r = sdk("upload", data_path=str(f), api_key=key)  # description=None and tag_list=[]: not given
    assert r["code"] == "SUCCESS", r
    meta = server.cli_json("storage", "get-metadata", composed)["data"]
    assert (meta["dataName"], meta["description"], meta["tags"]) == (composed, "", [])
    for name in (composed, decomposed):
        got = sdk("get_storage_metadata", data_name=name, api_key=key)
        assert got["code"] == "SUCCESS", (name, got)
    # The SDK cannot overwrite: a second upload of the name is refused and changes nothing.
    assert server.cli("storage", "edit", decomposed, "-d", "kept").returncode == 0
    again = sdk("upload", data_path=str(f), api_key=key, description="other")
    assert again["code"] == "FAILURE", again
    assert server.cli_json("storage", "get-metadata", composed)["data"]["description"] == "kept"
    assert sdk("delete", data_name=decomposed, service="R2", api_key=key)["code"] == "SUCCESS"
    assert server.cli_json("storage", "list")["data"] == []
