"""Every code example of the seed document, extracted and run as written (only API_KEY, paths
and data names filled in), in one session like a notebook, against a real server; the effect
of each is checked on the server's side."""

import os
import re
from pathlib import Path

import pytest

from conftest import REPO, make_tree, tree_listing

SEED = Path(os.environ.get("FEDML_SEED_FILE", REPO.parent / "shared" / "seed" / "fedml-storage-apis.txt"))

SECTION = re.compile(r"^fedml\.api\.(\w+)\(\)$")
OPENER = re.compile(r"^(else|elif\b.*|except\b.*|finally)\s*:$")


def reindent(lines):
    """The document lost the indentation: put it back. A line ending in ':' opens a block that
    runs to the end of the example; `else:`/`elif` go back to their opener's level."""
    out, level, openers, parens = [], 0, [], 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if parens == 0 and OPENER.match(line):
            level = openers[-1]
            out.append("    " * level + line)
            level += 1
            continue
        out.append("    " * level + line)
        code = re.sub(r"(['\"]).*?\1", "", line.split(" #")[0])
        was_top = parens == 0
        parens += code.count("(") + code.count("[") + code.count("{")
        parens -= code.count(")") + code.count("]") + code.count("}")
        if was_top and parens == 0 and code.rstrip().endswith(":"):
            openers.append(level)
            level += 1
    return "\n".join(out) + "\n"


def extract_examples(text):
    """{section: [code, ...]}: each "Example" and "Parsing the output" block of each section."""
    examples, section, current = {}, None, None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        header = SECTION.match(line)
        if header or line.startswith("FedML ResponseCode Enum class"):
            if current is not None:
                examples.setdefault(section, []).append(reindent(current))
                current = None
            section = header.group(1) if header else None
        elif line in ("Example", "Parsing the output") and section:
            if current is not None:
                examples.setdefault(section, []).append(reindent(current))
            current = []
            if line == "Parsing the output":
                i += 1  # the sentence that introduces the code
        elif current is not None:
            current.append(line)
        i += 1
    if current is not None and section:
        examples.setdefault(section, []).append(reindent(current))
    return examples


def fill_in(code, values):
    for name, value in values.items():
        code = re.sub(rf"^(\s*){name} = .*$", lambda m: f"{m.group(1)}{name} = {value!r}", code, flags=re.M)
    return code


def test_extraction_finds_every_example():
    examples = extract_examples(SEED.read_text())
    assert set(examples) == {
        "upload", "download", "delete", "get_storage_metadata", "get_storage_user_defined_metadata",
        "list_storage_objects",
    }
    assert [len(examples[k]) for k in ("get_storage_metadata", "get_storage_user_defined_metadata",
                                       "list_storage_objects")] == [2, 2, 2]
    for codes in examples.values():
        for code in codes:
            compile(code, "<seed example>", "exec")


def test_seed_examples_run_as_written(server, tmp_path, capsys):
    import fedml
    from fedml.api.fedml_response import ResponseCode

    examples = extract_examples(SEED.read_text())
    data = make_tree(tmp_path / "my-dataset")
    values = {
        "API_KEY": server.admin_key,
        "DATA_PATH": str(data),
        "DATA_NAME": "seed-dataset",
        "DESTINATION_DIRECTORY": str(tmp_path / "dataset"),
    }
    session = {}

    def run(section, index=0):
        exec(fill_in(examples[section][index], values), session)
        return session.get("response")

    response = run("upload")
    assert response.code == ResponseCode.SUCCESS, response.message
    meta = fedml.api.get_storage_metadata("seed-dataset", api_key=server.admin_key).data
    assert meta.description == "description of data uploaded"
    assert meta.kind == "directory"
    assert fedml.api.get_storage_user_defined_metadata("seed-dataset", api_key=server.admin_key).data == {"key": "value"}

    response = run("download")
    assert response.code == ResponseCode.SUCCESS, response.message
    assert Path(response.data) == tmp_path / "dataset" / "seed-dataset"
    assert tree_listing(Path(response.data)) == tree_listing(data)

    capsys.readouterr()
    for section in ("get_storage_metadata", "get_storage_user_defined_metadata", "list_storage_objects"):
        response = run(section, 0)
        assert response.code == ResponseCode.SUCCESS, response.message
        run(section, 1)
    shown = capsys.readouterr().out
    assert shown.count("seed-dataset") >= 2, shown  # the metadata and list tables
    assert "Data Name" in shown and "Created At" in shown
    assert "User defined metadata  {'key': 'value'}" in shown

    response = run("delete")
    assert "deleted successfully" in capsys.readouterr().out
    assert response.code == ResponseCode.SUCCESS and response.data is True
    assert fedml.api.list_storage_objects(api_key=server.admin_key).data == []
    assert server.blob_files() == []


def test_login_then_calls_without_a_key(server):
    import fedml
    from fedml.api.fedml_response import ResponseCode

    response = fedml.api.fedml_login(api_key=server.admin_key)
    assert response.code == ResponseCode.SUCCESS, response.message
    assert response.data["user"] == "admin"
    config = Path(os.environ["FEDML_CONFIG_DIR"]) / "config.json"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert fedml.api.list_storage_objects().code == ResponseCode.SUCCESS
    bad = fedml.api.fedml_login(api_key="fml_0000000000000000_" + "0" * 64)
    assert bad.code == ResponseCode.FAILURE and "0" * 64 not in bad.message
