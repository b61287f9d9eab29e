"""The libraries people load data and models with, over the server as their Hub: `datasets`
(`load_dataset` of a repository of CSV files and of one of Parquet files, and streaming),
`transformers` (AutoConfig and AutoTokenizer of a tiny repository whose tokenizer is made here,
offline, with `tokenizers`; no torch), `safetensors` (a file saved, uploaded, downloaded, loaded)."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import unique

REVIEWS = [
    ("great product, works as described", 5),
    ("arrived broken", 1),
    ("fine for the price", 3),
    ("would buy again", 4),
    ("the manual is unreadable", 2),
    ("excellent, five stars", 5),
]


def reviews_frame(n, offset=0):
    rows = [REVIEWS[(i + offset) % len(REVIEWS)] for i in range(n)]
    return pd.DataFrame({"id": np.arange(offset, offset + n, dtype=np.int64),
                         "text": [r[0] for r in rows], "stars": np.array([r[1] for r in rows], dtype=np.int64)})


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    import datasets

    cache = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    datasets.disable_progress_bars()
    return cache


def same_rows(got, expected: pd.DataFrame):
    frame = got.to_pandas() if hasattr(got, "to_pandas") else pd.DataFrame(list(got))
    frame = frame[list(expected.columns)].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected.reset_index(drop=True), check_dtype=False)


def test_load_dataset_csv(hub, tmp_path, datasets_cache):
    import datasets

    rid = f"alice/{unique('reviews')}"
    api = hub.api()
    api.create_repo(rid, repo_type="dataset")
    train, test = reviews_frame(40), reviews_frame(12, offset=40)
    src = tmp_path / "csv"
    src.mkdir()
    train.to_csv(src / "train.csv", index=False)
    test.to_csv(src / "test.csv", index=False)
    (src / "README.md").write_text("---\nlicense: mit\n---\n# Reviews\n")
    api.upload_folder(folder_path=src, repo_id=rid, repo_type="dataset")

    ds = datasets.load_dataset(rid, cache_dir=str(datasets_cache))
    assert sorted(ds.keys()) == ["test", "train"], ds
    same_rows(ds["train"], train)
    same_rows(ds["test"], test)

    streamed = datasets.load_dataset(rid, split="train", streaming=True)
    same_rows(list(streamed), train)


def test_load_dataset_parquet(hub, tmp_path, datasets_cache):
    import datasets

    rid = f"alice/{unique('reviews-parquet')}"
    api = hub.api()
    api.create_repo(rid, repo_type="dataset")
    parts = [reviews_frame(500, offset=i * 500) for i in range(3)]
    src = tmp_path / "pq"
    (src / "data").mkdir(parents=True)
    for i, part in enumerate(parts[:2]):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), src / "data" / f"train-0000{i}-of-00002.parquet",
                       row_group_size=100)
    pq.write_table(pa.Table.from_pandas(parts[2], preserve_index=False), src / "data" / "test-00000-of-00001.parquet")
    c = api.upload_folder(folder_path=src, repo_id=rid, repo_type="dataset").oid

    ds = datasets.load_dataset(rid, cache_dir=str(datasets_cache))
    assert sorted(ds.keys()) == ["test", "train"], ds
    same_rows(ds["train"], pd.concat(parts[:2]))
    same_rows(ds["test"], parts[2])
    # By commit id, and streamed (Parquet read through HfFileSystem's ranges).
    pinned = datasets.load_dataset(rid, split="test", revision=c, cache_dir=str(datasets_cache))
    same_rows(pinned, parts[2])
    streamed = datasets.load_dataset(rid, split="train", streaming=True)
    same_rows(list(streamed), pd.concat(parts[:2]))


def tiny_model_files(root):
    """A tiny BERT config and a word-level tokenizer trained here on a few sentences."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    root.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[CLS]", "[SEP]"])
    tok.train_from_iterator(["the quick brown fox", "jumps over the lazy dog", "hello world from the hub"],
                            trainer=trainer)
    tok.save(str(root / "tokenizer.json"))
    (root / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "sep_token": "[SEP]", "model_max_length": 32}))
    (root / "special_tokens_map.json").write_text(json.dumps({"unk_token": "[UNK]", "pad_token": "[PAD]"}))
    (root / "config.json").write_text(json.dumps({
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": tok.get_vocab_size(),
        "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "max_position_embeddings": 64}))
    return tok


def test_transformers_config_and_tokenizer(hub, tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    rid = f"alice/{unique('tiny')}"
    api = hub.api()
    api.create_repo(rid)
    tok = tiny_model_files(tmp_path / "tiny")
    commit = api.upload_folder(folder_path=tmp_path / "tiny", repo_id=rid).oid

    cache = tmp_path / "cache"
    config = AutoConfig.from_pretrained(rid, cache_dir=cache)
    assert config.model_type == "bert" and config.hidden_size == 16 and config.vocab_size == tok.get_vocab_size()
    tokenizer = AutoTokenizer.from_pretrained(rid, cache_dir=cache)
    sentence = "hello the lazy fox from nowhere"
    assert tokenizer(sentence, add_special_tokens=False)["input_ids"] == tok.encode(sentence).ids
    assert tokenizer.pad_token == "[PAD]"
    # Pinned to the commit, into another cache.
    pinned = AutoTokenizer.from_pretrained(rid, revision=commit, cache_dir=tmp_path / "cache2")
    assert pinned.get_vocab() == tokenizer.get_vocab()


def test_safetensors_roundtrip(hub, tmp_path):
    from huggingface_hub import hf_hub_download
    from safetensors.numpy import load_file, save_file

    rid = f"alice/{unique('safetensors')}"
    api = hub.api()
    api.create_repo(rid)
    rng = np.random.default_rng(7)
    tensors = {
        "embed.weight": rng.standard_normal((256, 64)).astype(np.float32),
        "layer.0.bias": rng.standard_normal(64).astype(np.float16),
        "counts": np.arange(1000, dtype=np.int64),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "np"})
    api.upload_file(path_or_fileobj=str(path), path_in_repo="model.safetensors", repo_id=rid)
    got = load_file(hf_hub_download(rid, "model.safetensors", cache_dir=tmp_path / "c", endpoint=hub.url))
    assert sorted(got) == sorted(tensors)
    for name, array in tensors.items():
        assert got[name].dtype == array.dtype and np.array_equal(got[name], array), name
    # The header alone, read with a Range request by huggingface_hub.
    meta = api.get_safetensors_metadata(rid)
    info = meta.files_metadata["model.safetensors"]
    assert sorted(info.tensors) == sorted(tensors)
    assert info.tensors["embed.weight"].shape == [256, 64] and info.tensors["embed.weight"].dtype == "F32"
    assert info.metadata == {"format": "np"}
