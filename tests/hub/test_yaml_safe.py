"""The bounded loader for untrusted YAML, with libyaml and with the pure-Python fallback."""

from __future__ import annotations

import pytest
import yaml

from zoolab.errors import InvalidCardError
from zoolab.hub.store.cards import split_front_matter
from zoolab.hub.yaml_safe import UnsafeYamlError, load_untrusted_yaml

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.fixture(params=["libyaml", "python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    return str(request.param)


def test_plain_cards_load_like_safe_load(loader: str) -> None:
    text = "license: mit\ntags: [a, b]\nmodel-index:\n  - name: m\n    results: []\nanchor: &x 3\n"
    assert load_untrusted_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize(("text", "why"), [
    (LAUGHS, "alias"),
    ("base: &b {k: v}\nother:\n  <<: *b\n", "alias"),
    ("a: " + "[" * 200 + "]" * 200, "deeper"),
    ("a: " + "[" * 5000 + "]" * 5000, "deeper"),
    ("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 100)), "deeper"),
    ("a: '" + "x" * (1024 * 1024) + "'", "larger"),
])
def test_expanding_deep_or_huge_yaml_is_refused(loader: str, text: str, why: str) -> None:
    with pytest.raises(UnsafeYamlError, match=why):
        load_untrusted_yaml(text)


def test_the_value_count_is_bounded(loader: str) -> None:
    assert len(load_untrusted_yaml("[" + ", ".join(["1"] * 999) + "]", max_nodes=1000)) == 999
    with pytest.raises(UnsafeYamlError, match="more than 1000 values"):
        load_untrusted_yaml("[" + ", ".join(["1"] * 1000) + "]", max_nodes=1000)


def test_a_lone_surrogate_escape_is_refused(loader: str) -> None:
    with pytest.raises(yaml.YAMLError):
        load_untrusted_yaml('a: "\\ud800"\n')


def test_the_card_parser_turns_refusals_into_card_errors(loader: str) -> None:
    with pytest.raises(InvalidCardError, match="alias"):
        split_front_matter("---\n" + LAUGHS + "---\n# card\n")
