"""The command line, through click's runner (fake model) and a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from recommender import Settings, cli
from recommender.pipeline import build_index
from recommender.snapshot import SnapshotStore

from .conftest import article, topic_records
from .fakes import FakeEmbedder


@pytest.fixture
def indexed(settings: Settings, write_jsonl: Callable[..., Path]) -> Settings:
    build_index([write_jsonl(topic_records())], settings, FakeEmbedder())
    return settings


def test_related_json_shape(runner: CliRunner, indexed: Settings) -> None:
    result = runner.invoke(
        cli.main,
        ["related", "sleep-0", "--k", "3", "--index-dir", str(indexed.index_dir), "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert list(payload) == ["article_id", "items"]
    assert payload["article_id"] == "sleep-0"
    assert len(payload["items"]) == 3
    for item in payload["items"]:
        assert {"id", "title", "url", "summary", "published", "tags", "featured", "score"} <= set(
            item
        )


def test_featured_text_output(runner: CliRunner, indexed: Settings) -> None:
    result = runner.invoke(
        cli.main, ["featured", "sleep-0", "-k", "2", "--index-dir", str(indexed.index_dir)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[0].split()[2] == "sleep-2"


def test_unknown_id_is_one_line_exit_1(runner: CliRunner, indexed: Settings) -> None:
    result = runner.invoke(
        cli.main, ["related", "ghost", "--index-dir", str(indexed.index_dir), "--json"]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: no article with id 'ghost' in the index"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["related", "sleep-0", "--k", "0"], 2, "--k"),
        (["related", "sleep-0", "--k", "x"], 2, "--k"),
        (["index", "does-not-exist.jsonl"], 2, "no such file"),
        (["index", "notes.txt"], 2, "unknown source format"),
    ],
)
def test_bad_input_exit_2(
    runner: CliRunner, indexed: Settings, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    args = [a if not a.endswith((".txt", ".jsonl")) else str(tmp_path / a) for a in args]
    result = runner.invoke(cli.main, [*args, "--index-dir", str(indexed.index_dir)])
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_no_index_yet(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli.main, ["related", "x", "--index-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "no snapshot published yet" in result.output


def test_settings_are_all_documented() -> None:
    result = CliRunner().invoke(cli.main, ["settings"])
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name, default, text in Settings.describe():
        assert name in result.output
        # The README row says what `recommender settings` says, default and all.
        row = f"| `{name}` | `{default}` | {text} |"
        assert row in readme, f"README.md's settings table is out of date for {name}"


def test_help_explains_commands() -> None:
    result = CliRunner().invoke(cli.main, ["--help"])
    for command in ("index", "related", "featured", "serve", "settings"):
        assert command in result.output


@pytest.mark.real_model
def test_jsonl_corpus_through_real_cli(tmp_path: Path) -> None:
    """Unseen text, real model, real processes: same-topic articles rank first."""
    groups = {
        "garden": [
            "Tomatoes in pots. Balcony gardeners can grow tomatoes in large clay pots "
            "filled with rich compost, watered every morning and fed weekly.",
            "Pruning roses. Cut rose bushes back in late winter, just above an outward bud, "
            "so the plants put their strength into new flowering shoots.",
            "Kitchen compost. Vegetable peelings, coffee grounds and dry leaves turn into "
            "dark compost that feeds garden beds and keeps the soil moist.",
            "Watering seedlings. Young vegetable plants need gentle, regular watering at "
            "the roots; soggy soil rots seedlings faster than a dry spell.",
        ],
        "finance": [
            "Interest rates. Central banks raise interest rates to cool inflation, which "
            "makes loans and mortgages more expensive for households.",
            "Index funds. Low-cost index funds spread savings across many shares, while "
            "bonds pay fixed interest; retirement portfolios often hold both.",
            "Refinancing. Refinancing a mortgage replaces the loan with a cheaper one, but "
            "bank fees can eat the savings if the interest rate gap is small.",
            "Card debt. Paying off the credit card with the highest interest rate first "
            "saves the most money on debt over time.",
        ],
        "astronomy": [
            "Jupiter's moons. A small telescope shows four of Jupiter's moons as bright "
            "points that change position from night to night.",
            "Dark skies. Away from city lights, the night sky fills with faint stars and "
            "the band of the Milky Way becomes visible.",
            "Meteor shower. Meteors streak across the sky when Earth passes through comet "
            "dust; the shower peaks after midnight, far from street lights.",
            "Galaxy distances. Astronomers measure the distance to galaxies with pulsating "
            "stars whose true brightness is known.",
        ],
    }
    records = [
        {"id": f"{group}-{i}", "title": text.split(".")[0], "body": text}
        for group, texts in groups.items()
        for i, text in enumerate(texts)
    ]
    source = tmp_path / "unseen.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    index_dir = tmp_path / "D"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    command = [sys.executable, "-m", "recommender.cli"]
    done = subprocess.run(
        [*command, "index", str(source), "--index-dir", str(index_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "indexed 12 articles" in done.stdout
    for group in groups:
        done = subprocess.run(
            [*command, "related", f"{group}-0", "--index-dir", str(index_dir), "--json", "-k", "3"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        ids = [item["id"] for item in json.loads(done.stdout)["items"]]
        assert [i.split("-")[0] for i in ids] == [group] * 3, ids
    again = subprocess.run(
        [*command, "index", str(source), "--index-dir", str(index_dir), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    report = json.loads(again.stdout)
    assert report["embedded"] == 0 and report["published"] is False


@pytest.mark.parametrize(
    "spec",
    ["writ:1", "write", "write:", "write:x", "write:-1", ":2", "all", "write:+", "write:2++"],
)
def test_a_bad_stop_point_is_refused_before_anything_runs(
    runner: CliRunner,
    indexed: Settings,
    write_jsonl: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
) -> None:
    monkeypatch.setenv("RECOMMENDER_TEST_STOP_AT", spec)
    published = SnapshotStore(indexed.index_dir).current_version()
    source = write_jsonl([*topic_records(), article("extra", "Extra", "sleep")], "more.jsonl")
    result = runner.invoke(
        cli.main, ["reindex", str(source), "--index-dir", str(indexed.index_dir)]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: RECOMMENDER_TEST_STOP_AT={spec!r}: expected PHASE:DONE or PHASE:DONE+ with "
        "PHASE one of read, embed, candidates, write, seal, publish, cleanup (e.g. write:2)"
    ]
    assert SnapshotStore(indexed.index_dir).current_version() == published
