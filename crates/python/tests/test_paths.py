"""Names with ``/`` between their parts (``team/data/x.bin``) through ``fedml.api`` and the
``fedml://`` filesystem, which reads their first parts as folders."""

import os

import fsspec
import pytest

import fedml
from fedml.api.fedml_response import ResponseCode
from conftest import make_tree, tree_listing


def ok(r):
    assert r.code == ResponseCode.SUCCESS, r.message
    return r.data


def test_a_name_with_slashes_through_the_api(server, tmp_path):
    key = server.admin_key
    f = tmp_path / "local.bin"
    v1, v2 = os.urandom(300_000), os.urandom(1_000)
    f.write_bytes(v1)
    ok(fedml.api.upload(f, api_key=key, name="team/data/x.bin"))
    assert [o.dataName for o in ok(fedml.api.list_storage_objects(api_key=key))] == ["team/data/x.bin"]
    assert ok(fedml.api.get_storage_metadata("team/data/x.bin", api_key=key)).size == len(v1)
    # A download lands at the last part of the name.
    where = ok(fedml.api.download("team/data/x.bin", api_key=key, dest_path=tmp_path / "dl", show_progress=False))
    assert where == str(tmp_path / "dl" / "x.bin")
    assert (tmp_path / "dl" / "x.bin").read_bytes() == v1
    f.write_bytes(v2)
    ok(fedml.api.upload(f, api_key=key, name="team/data/x.bin", overwrite=True))
    assert [v["version"] for v in ok(fedml.api.list_versions("team/data/x.bin", api_key=key))] == [2, 1]
    # A name cannot be both data and a folder of names.
    refused = fedml.api.upload(f, api_key=key, name="team/data", overwrite=True)
    assert refused.code == ResponseCode.FAILURE and "both data and a folder" in refused.message
    refused = fedml.api.upload(f, api_key=key, name="team/data/x.bin/more")
    assert refused.code == ResponseCode.FAILURE and '"team/data/x.bin" is stored as data' in refused.message
    refused = fedml.api.upload(f, api_key=key, name="team//x")
    assert refused.code == ResponseCode.FAILURE and "empty part" in refused.message
    ok(fedml.api.delete("team/data/x.bin", api_key=key))
    assert ok(fedml.api.list_storage_objects(api_key=key)) == []


def test_a_name_with_slashes_through_fsspec(server, tmp_path):
    key = server.admin_key
    f = tmp_path / "x.bin"
    data = os.urandom(200_000)
    f.write_bytes(data)
    ok(fedml.api.upload(f, api_key=key, name="team/data/x.bin"))
    tree = make_tree(tmp_path / "tree")
    ok(fedml.api.upload(tree, api_key=key, name="team/ds"))
    ok(fedml.api.upload(f, api_key=key, name="top.bin"))

    fs = fsspec.filesystem("fedml", api_key=key)
    # The first parts of names are folders; objects are files or directories.
    assert fs.ls("", detail=False) == ["team", "top.bin"]
    assert fs.ls("fedml://team", detail=False) == ["team/data", "team/ds"]
    assert fs.ls("fedml://team/data", detail=False) == ["team/data/x.bin"]
    assert fs.info("fedml://team")["type"] == "directory"
    assert fs.info("fedml://team/data")["type"] == "directory"
    info = fs.info("fedml://team/data/x.bin")
    assert (info["type"], info["size"]) == ("file", len(data))
    with fs.open("fedml://team/data/x.bin") as fh:
        assert fh.read() == data
    assert fs.cat_file("fedml://team/data/x.bin", start=10, end=20) == data[10:20]
    # A directory object under a folder: its files by their paths below its name.
    assert fs.info("fedml://team/ds")["type"] == "directory"
    assert "team/ds/readme.txt" in fs.ls("fedml://team/ds", detail=False)
    assert fs.cat_file("fedml://team/ds/readme.txt") == (tree / "readme.txt").read_bytes()
    assert fs.cat_file("fedml://team/ds@1/nested/weights.bin") == (tree / "nested" / "weights.bin").read_bytes()
    assert sorted(fs.find("fedml://team")) == sorted(
        ["team/data/x.bin"] + [f"team/ds/{p}" for p, d in tree_listing(tree) if d is not None])
    for missing in ["fedml://team/nothing", "fedml://teams", "fedml://team/data/x.bin/more", "fedml://team/ds/none.txt"]:
        with pytest.raises(FileNotFoundError):
            fs.info(missing)
    with pytest.raises(FileNotFoundError, match="has no version 3"):
        fs.info("fedml://team/ds@3/readme.txt")
    # A new name appears after a refresh.
    ok(fedml.api.upload(f, api_key=key, name="team/more/y.bin"))
    assert fs.ls("fedml://team", detail=False, refresh=True) == ["team/data", "team/ds", "team/more"]
