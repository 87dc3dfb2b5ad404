"""Configuration, repo references, framework detection, model cards and search merging."""

from __future__ import annotations

import stat

import pytest

from zoolab import settings
from zoolab.errors import ConfigError, InvalidCardError, InvalidInputError, InvalidRepoIdError, UnsupportedError
from zoolab.hub import cards, config
from zoolab.hub.frameworks import detect, files_for, filter_patterns
from zoolab.hub.refs import parse_ref
from zoolab.hub.sources import get_source, resolve, source_names


def test_config_roundtrip_and_mode() -> None:
    config.add_source("team", "http://hub.example:8080/", token="zl_secret")
    path = settings.config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = config.load()
    assert cfg.sources["team"].url == "http://hub.example:8080"
    assert cfg.sources["team"].token == "zl_secret"
    assert source_names() == ["hf", "local", "team"]
    config.set_default("team")
    src, repo_id = resolve("org/name")
    assert (src.name, src.url, repo_id) == ("team", "http://hub.example:8080", "org/name")
    config.remove_source("team")
    assert config.load().default == "hf"
    with pytest.raises(ConfigError, match="unknown source 'team'"):
        get_source("team")


def test_config_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="built-in"):
        config.add_source("hf", "http://x")
    with pytest.raises(InvalidInputError, match="invalid source URL"):
        config.add_source("team", "ftp://x")
    with pytest.raises(InvalidInputError, match="invalid source name"):
        config.add_source("Team!", "http://x")
    config.add_source("team", "http://x")
    with pytest.raises(ConfigError, match="exists already"):
        config.add_source("team", "http://y")
    settings.config_path().write_text("default = [broken")
    with pytest.raises(ConfigError, match="config.toml"):
        config.load()


def test_hf_token_stored_for_hf_only_goes_to_hf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    config.add_source("team", "http://x")
    assert get_source("hf").token == "hf_from_env"
    assert get_source("team").token is False  # the Hugging Face token never leaks to other servers
    config.set_token("hf", "hf_stored")
    assert get_source("hf").token == "hf_stored"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("org/name", (None, "org/name")), ("team:org/name", ("team", "org/name")), ("gpt2", (None, "gpt2")),
     ("local:me/m.v1_2-x", ("local", "me/m.v1_2-x"))],
)
def test_parse_ref(ref: str, expected: tuple) -> None:
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "a/b/c", "org/../x", "Bad Source:org/x", "org/na--me", "/x", "org/"])
def test_parse_ref_rejects(ref: str) -> None:
    with pytest.raises(InvalidRepoIdError):
        parse_ref(ref)


def test_resolve_conflicting_sources() -> None:
    with pytest.raises(ConfigError, match="give only one"):
        resolve("local:org/x", "hf")


@pytest.mark.parametrize(
    ("library", "tags", "files", "expected"),
    [
        ("timm", [], None, ("torch",)),
        ("keras-hub", [], None, ("tf",)),
        ("transformers", ["pytorch", "tf"], None, ("torch", "tf")),
        ("transformers", [], ["config.json", "tf_model.h5"], ("tf",)),
        ("transformers", [], ["config.json", "model.safetensors", "tf_model.h5"], ("torch", "tf")),
        (None, [], ["config.json", "model.weights.h5", "metadata.json"], ("tf",)),
        (None, [], ["model.keras"], ("tf",)),
        (None, [], ["pytorch_model.bin"], ("torch",)),
        (None, [], ["agent.pt"], ("torch",)),
        (None, [], ["README.md"], ()),
    ],
)
def test_detect_frameworks(library, tags, files, expected) -> None:
    assert detect(library, tags, files) == expected


def test_files_for_framework() -> None:
    files = ["README.md", "config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5",
             "flax_model.msgpack", "tokenizer.json", "onnx/model.onnx"]
    assert files_for("torch", files) == ["README.md", "config.json", "model.safetensors", "tokenizer.json"]
    assert files_for("tf", files) == ["README.md", "config.json", "tf_model.h5", "tokenizer.json"]
    assert files_for("torch", ["config.json", "pytorch_model.bin"]) == ["config.json", "pytorch_model.bin"]
    with pytest.raises(UnsupportedError, match="has no tf weights"):
        files_for("tf", ["config.json", "model.safetensors"], repo_id="me/x")


def test_filter_patterns() -> None:
    files = ["a.json", "sub/b.json", "sub/c.bin", "d.txt"]
    assert filter_patterns(files, ["*.json"], None) == ["a.json", "sub/b.json"]
    assert filter_patterns(files, ["sub/"], ["*.bin"]) == ["sub/b.json"]
    assert filter_patterns(files, None, None) == files


GOOD_CARD = """---
library_name: timm
tags: [image-classification, zoolab]
pipeline_tag: image-classification
license: apache-2.0
base_model: timm/resnet18.a1_in1k
datasets: [beans]
model-index:
- name: tiny
  results:
  - task: {type: image-classification}
    dataset: {name: beans, type: beans}
    metrics:
    - {type: accuracy, value: 0.93}
---
# tiny

A tiny classifier.
"""


def test_card_validation_accepts_good_card(tmp_path) -> None:
    (tmp_path / "README.md").write_text(GOOD_CARD)
    meta = cards.validate_card_file(tmp_path / "README.md")
    assert meta["library_name"] == "timm"
    assert cards.card_summary(GOOD_CARD) == "A tiny classifier."


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("pipeline_tag: image-clasification", "pipeline_tag"),
        ("license: apache2", "license"),
        ("library_name: [timm]", "library_name"),
        ("tags: {a: 1}", "tags"),
        ("base_model: 'not a repo id!'", "base_model"),
        ("datasets: [1, 2]", "datasets"),
        ("model-index: [{name: x, results: [{task: {}, metrics: 3}]}]", "model-index"),
    ],
)
def test_card_validation_names_the_field(line: str, field: str) -> None:
    with pytest.raises(InvalidCardError, match=f"'{field}'"):
        cards.validate_metadata(cards.split_card(f"---\n{line}\n---\ntext\n")[0])


def test_card_with_broken_yaml() -> None:
    with pytest.raises(InvalidCardError, match="not valid YAML"):
        cards.split_card("---\nlicense: [mit\n---\n")


def test_generated_card_is_valid(tmp_path) -> None:
    from tests.client.conftest import make_model

    folder = make_model(tmp_path / "m")
    text = cards.generate_card(folder, "me/tiny")
    meta, body = cards.split_card(text)
    assert meta["library_name"] == "timm"
    assert meta["pipeline_tag"] == "image-classification"
    assert meta["license"] == "apache-2.0"
    assert "zoolab download me/tiny" in body
    cards.validate_metadata(meta)
