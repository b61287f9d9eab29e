"""Teams from Python: ``namespace=`` on every storage call (and the ``fedml://`` filesystem's
``namespace`` option), organisations and roles, share links, the audit log."""

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

import fedml
from fedml.api.fedml_response import ResponseCode
from conftest import FEDML, make_tree, tree_listing

NS = "vision-team"


def new_user(server, name: str) -> str:
    """Creates user ``name`` with `fedml admin` on the server's data directory; answers its key."""
    where = ["--data-dir", str(server.data_dir)]
    subprocess.run([str(FEDML), "admin", *where, "user", "create", name], check=True, capture_output=True)
    out = subprocess.run(
        [str(FEDML), "admin", *where, "-o", "json", "key", "create", "--user", name],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)["data"]["api_key"]


@pytest.fixture
def team(server):
    """``alice`` admin of ``vision-team``, ``bob`` a writer, ``carol`` a reader, ``dave`` no member."""
    keys = {name: new_user(server, name) for name in ("alice", "bob", "carol", "dave")}
    created = fedml.api.org_create(NS, api_key=keys["alice"])
    assert created.code == ResponseCode.SUCCESS, created.message
    assert created.data["role"] == "admin"
    for user, role in (("bob", "writer"), ("carol", "reader")):
        r = fedml.api.org_set_member(NS, user, role, api_key=keys["alice"])
        assert r.code == ResponseCode.SUCCESS, r.message
        assert r.data["role"] == role
    return keys


def test_namespace_on_every_storage_call(server, team, tmp_path):
    bob, carol, dave = team["bob"], team["carol"], team["dave"]
    data = make_tree(tmp_path / "ds")
    r = fedml.api.upload(data, api_key=bob, name="imagenet", namespace=NS, metadata={"split": "train"})
    assert r.code == ResponseCode.SUCCESS, r.message

    # Stored in the organisation's namespace, not Bob's own.
    assert fedml.api.list_storage_objects(api_key=bob).data == []
    listed = fedml.api.list_storage_objects(api_key=carol, namespace=NS)
    assert [m.dataName for m in listed.data] == ["imagenet"]

    # Carol, a reader, reads it every way.
    meta = fedml.api.get_storage_metadata("imagenet", api_key=carol, namespace=NS)
    assert meta.code == ResponseCode.SUCCESS and meta.data.kind == "directory"
    assert fedml.api.get_storage_user_defined_metadata("imagenet", api_key=carol, namespace=NS).data == {
        "split": "train"
    }
    files = fedml.api.list_files("imagenet", recursive=True, api_key=carol, namespace=NS)
    assert "readme.txt" in [f["path"] for f in files.data]
    assert len(fedml.api.list_versions("imagenet", api_key=carol, namespace=NS).data) == 1
    usage = fedml.api.storage_usage(api_key=carol, namespace=NS)
    assert (usage.data["user"], usage.data["objects"]) == (NS, 1)
    got = fedml.api.download("imagenet", api_key=carol, dest_path=tmp_path / "dl", show_progress=False, namespace=NS)
    assert got.code == ResponseCode.SUCCESS, got.message
    assert tree_listing(tmp_path / "dl" / "imagenet") == tree_listing(data)
    some = fedml.api.download(
        "imagenet", api_key=carol, dest_path=tmp_path / "some", show_progress=False, path="readme.txt", namespace=NS
    )
    assert some.code == ResponseCode.SUCCESS, some.message
    # Without namespace=: her own, where it is not.
    assert fedml.api.get_storage_metadata("imagenet", api_key=carol).code == ResponseCode.FAILURE

    # A reader writing is refused: a FAILURE, never an exception; nothing changes.
    f = tmp_path / "notes.txt"
    f.write_text("a reader's notes")
    for refused in [
        fedml.api.upload(f, api_key=carol, namespace=NS),
        fedml.api.delete("imagenet", "R2", api_key=carol, namespace=NS),
        fedml.api.update_storage_metadata("imagenet", description="mine", api_key=carol, namespace=NS),
        fedml.api.share("imagenet", namespace=NS, api_key=carol),
    ]:
        assert refused.code == ResponseCode.FAILURE and refused.message, refused
    assert len(fedml.api.list_storage_objects(api_key=bob, namespace=NS).data) == 1

    # No member, or no such namespace: the same refusal.
    for ns in (NS, "no-such-team"):
        r = fedml.api.list_storage_objects(api_key=dave, namespace=ns)
        assert r.code == ResponseCode.FAILURE and "no namespace named" in r.message, r
    r = fedml.api.list_storage_objects(api_key=dave, namespace="")
    assert r.code == ResponseCode.FAILURE and "namespace is empty" in r.message

    # The writer edits and deletes.
    edited = fedml.api.update_storage_metadata("imagenet", description="train", api_key=bob, namespace=NS)
    assert edited.data.description == "train"
    assert fedml.api.delete("imagenet", "R2", api_key=bob, namespace=NS).data is True
    assert fedml.api.list_storage_objects(api_key=carol, namespace=NS).data == []


def test_organisations_members_and_the_log(server, team):
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    names = fedml.api.list_namespaces(api_key=carol).data
    assert names[0] == {"name": "carol", "organisation": False, "role": "owner"}
    assert {"name": NS, "organisation": True, "role": "reader"} in names
    assert [o["name"] for o in fedml.api.org_list(api_key=bob).data] == [NS]
    members = {m["user"]: m["role"] for m in fedml.api.org_members(NS, api_key=carol).data}
    assert members == {"alice": "admin", "bob": "writer", "carol": "reader"}

    bad = fedml.api.org_set_member(NS, "carol", "owner", api_key=alice)
    assert bad.code == ResponseCode.FAILURE and "reader, writer or admin" in bad.message
    assert fedml.api.org_set_member(NS, "carol", "admin", api_key=bob).code == ResponseCode.FAILURE

    assert fedml.api.org_remove_member(NS, "carol", api_key=alice).data is True
    assert fedml.api.list_storage_objects(api_key=carol, namespace=NS).code == ResponseCode.FAILURE

    log = fedml.api.audit_log(NS, api_key=alice)
    assert log.code == ResponseCode.SUCCESS, log.message
    actions = [(e["actor"], e["action"], e["target"]) for e in log.data["entries"]]
    assert ("alice", "member-remove", "carol") in actions and ("alice", "member-add", "bob") in actions
    page = fedml.api.audit_log(NS, limit=1, api_key=alice).data
    assert len(page["entries"]) == 1 and page["next"] is not None
    older = fedml.api.audit_log(NS, before=page["next"], limit=1, api_key=alice).data
    assert older["entries"][0]["id"] < page["entries"][0]["id"]
    assert fedml.api.audit_log(NS, api_key=bob).code == ResponseCode.FAILURE

    assert fedml.api.org_delete(NS, api_key=alice).data is True
    assert fedml.api.org_list(api_key=alice).data == []


def test_share_links_from_python(server, team, tmp_path):
    bob = team["bob"]
    f = tmp_path / "model.bin"
    payload = os.urandom(100_000)
    f.write_bytes(payload)
    assert fedml.api.upload(f, api_key=bob, name="model", namespace=NS).code == ResponseCode.SUCCESS
    made = fedml.api.share("model", expires="1h", namespace=NS, api_key=bob)
    assert made.code == ResponseCode.SUCCESS, made.message
    url = made.data["url"]
    assert urllib.request.urlopen(url).read() == payload
    ranged = urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=10-19"}))
    assert ranged.status == 206 and ranged.read() == payload[10:20]
    links = fedml.api.list_shares(namespace=NS, api_key=bob).data
    assert [(l["name"], l["uses"]) for l in links] == [("model", 2)]
    for bad in ("7w", 0, -5, "soon"):
        r = fedml.api.share("model", expires=bad, namespace=NS, api_key=bob)
        assert r.code == ResponseCode.FAILURE and "expires" in r.message, (bad, r)
    assert fedml.api.unshare(links[0]["id"], api_key=bob).data is True
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(url)
    assert gone.value.code == 404


def test_fsspec_reads_an_organisations_data(server, team, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    data = make_tree(tmp_path / "ds")
    assert fedml.api.upload(data, api_key=team["bob"], name="shared", namespace=NS).code == ResponseCode.SUCCESS
    fs = fsspec.filesystem("fedml", api_key=team["carol"], namespace=NS)
    assert fs.ls("", detail=False) == ["shared"]
    assert fs.cat("fedml://shared/readme.txt") == b"hello\n"
    with fsspec.open("fedml://shared/readme.txt", api_key=team["carol"], namespace=NS) as fh:
        assert fh.read() == b"hello\n"
    # Without the option: the caller's own namespace, where it is not.
    own = fsspec.filesystem("fedml", api_key=team["carol"], skip_instance_cache=True)
    with pytest.raises(FileNotFoundError):
        own.cat("fedml://shared/readme.txt")
