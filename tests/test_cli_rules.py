"""``recommender rules`` through click's runner (fake model): add, remove, list,
and the rules served by the next ``related`` call."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from recommender import Settings, cli
from recommender.pipeline import build_index

from .conftest import topic_records
from .fakes import FakeEmbedder


@pytest.fixture
def indexed(settings: Settings, write_jsonl: Callable[..., Path]) -> Settings:
    build_index([write_jsonl(topic_records())], settings, FakeEmbedder())
    return settings


@pytest.fixture
def run(indexed: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    # The fake index was built with the fake model; the CLI must agree on the model id.
    monkeypatch.setenv("RECOMMENDER_MODEL", "fake-bow")
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli.main, [*args, "--index-dir", str(indexed.index_dir)])

    return invoke


def related(run: Callable[..., Result], article_id: str, k: int = 5) -> list[str]:
    result = run("related", article_id, "-k", str(k), "--json")
    assert result.exit_code == 0, result.output
    return [item["id"] for item in json.loads(result.output)["items"]]


def test_pin_block_exclude_and_remove(run: Callable[..., Result]) -> None:
    before = related(run, "sleep-0")
    result = run("rules", "add", "pin", "sleep-0", "speech-3", "--position", "2", "--who", "ed")
    assert result.exit_code == 0, result.output
    assert "pinned speech-3 at 2 under sleep-0" in result.output
    assert related(run, "sleep-0")[1] == "speech-3"
    assert run("rules", "add", "block", "sleep-0", before[0]).exit_code == 0
    assert before[0] not in related(run, "sleep-0", 50)
    assert run("rules", "add", "exclude", before[1]).exit_code == 0
    assert before[1] not in related(run, "sleep-4", 50)

    listing = run("rules", "list", "sleep-0")
    assert listing.exit_code == 0
    lines = listing.output.strip().splitlines()
    assert any(line.startswith("pin      speech-3 at 2 under sleep-0  (ed, ") for line in lines)
    assert any(line.startswith(f"block    {before[0]} under sleep-0  (cli:") for line in lines)
    everything = json.loads(run("rules", "list", "--json").output)
    assert {r["kind"] for r in everything} == {"pin", "block", "exclude"}
    assert all(r["who"] and r["at"] for r in everything)

    for args in (
        ("pin", "sleep-0", "speech-3"),
        ("block", "sleep-0", before[0]),
        ("exclude", before[1]),
    ):
        assert run("rules", "remove", *args).exit_code == 0
    assert related(run, "sleep-0") == before
    assert run("rules", "list").output.strip() == "(no rules)"
    history = run("rules", "list", "sleep-0", "--history").output.strip().splitlines()
    assert len(history) == 4 and "unpin speech-3 2 under sleep-0" in history[1]


def test_featured_on_and_off(run: Callable[..., Result]) -> None:
    def featured() -> list[str]:
        result = run("featured", "sleep-0", "-k", "10", "--json")
        return [item["id"] for item in json.loads(result.output)["items"]]

    assert run("rules", "add", "featured", "sleep-3", "--on").exit_code == 0
    assert run("rules", "add", "featured", "sleep-2", "--off").exit_code == 0
    assert featured()[0] == "sleep-3" and "sleep-2" not in featured()
    assert "featured sleep-2 off" in run("rules", "list").output
    assert run("rules", "remove", "featured", "sleep-2").exit_code == 0
    assert "sleep-2" in featured()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("add", "pin", "sleep-0", "ghost", "--position", "1"), 2, "no article with id 'ghost'"),
        (("add", "pin", "sleep-0", "sleep-0", "--position", "1"), 2, "pinned under itself"),
        (("add", "pin", "sleep-0", "sleep-1", "--position", "51"), 2, "--position"),
        (("add", "pin", "sleep-0", "sleep-1"), 2, "--position"),
        (("add", "block", "ghost", "sleep-1"), 2, "no article with id 'ghost'"),
        (("add", "exclude", "ghost"), 2, "no article with id 'ghost'"),
        (("add", "featured", "sleep-1"), 2, "--on"),
        (("remove", "pin", "sleep-0", "sleep-1"), 1, "no such rule"),
        (("remove", "exclude", "sleep-1"), 1, "no such rule"),
    ],
)
def test_bad_rules(
    run: Callable[..., Result], args: tuple[str, ...], code: int, message: str
) -> None:
    result = run("rules", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_pin_position_clash(run: Callable[..., Result]) -> None:
    assert run("rules", "add", "pin", "sleep-0", "speech-1", "--position", "2").exit_code == 0
    result = run("rules", "add", "pin", "sleep-0", "speech-2", "--position", "2")
    assert result.exit_code == 2 and "holds 'speech-1'" in result.output
    # Moving a pin to a new position is fine.
    assert run("rules", "add", "pin", "sleep-0", "speech-1", "--position", "3").exit_code == 0
    assert related(run, "sleep-0")[2] == "speech-1"
