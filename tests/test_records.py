"""Records split where their format says (issue 10): JSON Lines at "\\n" only,
CSV dialects, cells of any size, bad rows rejected alone, and the report written
when nothing is valid."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recommender import Settings, cli, csvreader
from recommender.corpus import ReadOptions, load_corpus
from recommender.errors import InvalidArgument, InvalidCorpus
from recommender.jobs import JobRunner
from recommender.pipeline import IndexReport, build_index

from .fakes import FakeEmbedder


def write(path: Path, text: str) -> Path:
    """Write ``text`` exactly (no newline translation), as UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return path


# ---------------------------------------------------------------- JSON Lines


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\u2028\u0085\u2029"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_jsonl_line_separators_inside_strings_do_not_cut_records(
    tmp_path: Path, separator: str, line_end: str
) -> None:
    records = [
        {"id": "first", "title": f"Before{separator}after", "body": f"One{separator}two"},
        {"id": "second", "title": f"Plain{separator}", "body": "Body"},
        {"id": "third", "title": "Third", "body": f"x{separator}y{separator}z"},
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.append('{"id": "bad", "title": "No body"}')  # line 4: rejected with its own number
    lines.append(json.dumps({"id": "fifth", "title": "Fifth", "body": "B"}))
    path = write(tmp_path / "c.jsonl", line_end.join(lines) + line_end)
    assert separator in path.read_text(encoding="utf-8")  # written raw, not \\u-escaped

    loaded = load_corpus([path])

    assert [(a.id, a.title) for a in loaded.articles] == [
        ("first", f"Before{separator}after"),
        ("second", f"Plain{separator}".strip()),
        ("third", "Third"),
        ("fifth", "Fifth"),
    ]
    assert [(r.line, r.field) for r in loaded.rejections] == [(4, "body")]


def test_jsonl_lone_carriage_return_is_not_a_line_end(tmp_path: Path) -> None:
    good = json.dumps({"id": "good", "title": "Good", "body": "B"})
    # A raw CR inside a JSON string is invalid JSON; it must not split the record in two.
    path = write(tmp_path / "c.jsonl", good + "\n" + '{"id": "x", "title": "a\rb", "body": "B"}\n')
    loaded = load_corpus([path])
    assert [a.id for a in loaded.articles] == ["good"]
    ((line, reason),) = [(r.line, r.reason) for r in loaded.rejections]
    assert line == 2 and reason.startswith("invalid JSON: Invalid control character")


# ---------------------------------------------------------------- CSV dialects

EXCEL_GERMAN = (
    "\ufeffid;title;summary;body;tags;published\r\n"
    "radweg;Neuer Radweg, endlich;Kurz, knapp.;Der Rat hat entschieden, dass gebaut wird."
    ";verkehr, rad;2025-02-11\r\n"
    'licht;Mehr Licht am Radweg;"Eins; zwei";"Anwohner, Verwaltung; und ""Rat""."'
    ";sicherheit;2025-03-02\r\n"
    "markt;Markt startet wieder;Brot, Käse;Ab Samstag, wie immer.;markt;2025-03-08\r\n"
)
EXCEL_GERMAN_WANT = [
    ("radweg", "Neuer Radweg, endlich", "Der Rat hat entschieden, dass gebaut wird."),
    ("licht", "Mehr Licht am Radweg", 'Anwohner, Verwaltung; und "Rat".'),
    ("markt", "Markt startet wieder", "Ab Samstag, wie immer."),
]
TAB = (
    "id\ttitle\tbody\ttags\n"
    "t1\tTabs, commas; semicolons\tBody one, with a comma.\ta, b\n"
    't2\t"Quoted\ttab"\tBody two; with a semicolon.\tc\n'
)
TAB_WANT = [
    ("t1", "Tabs, commas; semicolons", "Body one, with a comma."),
    ("t2", "Quoted\ttab", "Body two; with a semicolon."),
]
PIPE = "id|title|body\np1|Pipe one, first|Body, one\np2|Pipe two; second|Body; two\n"
PIPE_WANT = [("p1", "Pipe one, first", "Body, one"), ("p2", "Pipe two; second", "Body; two")]
COMMA_QUOTED_NEWLINES = (
    "id,title,body,tags\n"
    'c1,"Title, with comma","First paragraph.\n\nSecond, ""quoted"" paragraph.","x; y"\n'
    'c2,Plain title,"Line one\r\nline two",\n'
    "c3,Third,Body three,z\n"
)
COMMA_QUOTED_NEWLINES_WANT = [
    ("c1", "Title, with comma", 'First paragraph.\n\nSecond, "quoted" paragraph.'),
    ("c2", "Plain title", "Line one\nline two"),
    ("c3", "Third", "Body three"),
]
COMMA_ALL_QUOTED_CRLF = (
    '"id","title","body"\r\n"q1","All quoted; one","Body, one"\r\n"q2","Two","Body two"\r\n'
)
COMMA_ALL_QUOTED_CRLF_WANT = [("q1", "All quoted; one", "Body, one"), ("q2", "Two", "Body two")]


@pytest.mark.parametrize(
    ("text", "want", "delimiter"),
    [
        (EXCEL_GERMAN, EXCEL_GERMAN_WANT, "';' (semicolon)"),
        (TAB, TAB_WANT, "tab"),
        (PIPE, PIPE_WANT, "'|' (pipe)"),
        (COMMA_QUOTED_NEWLINES, COMMA_QUOTED_NEWLINES_WANT, "',' (comma)"),
        (COMMA_ALL_QUOTED_CRLF, COMMA_ALL_QUOTED_CRLF_WANT, "',' (comma)"),
    ],
    ids=["semicolon-bom-crlf", "tab", "pipe", "comma-quoted-newlines", "comma-all-quoted-crlf"],
)
def test_csv_dialects_are_detected(
    tmp_path: Path, text: str, want: list[tuple[str, str, str]], delimiter: str
) -> None:
    path = write(tmp_path / "export.csv", text)
    loaded = load_corpus([path])
    assert loaded.rejections == []
    assert [(a.id, a.title, a.body) for a in loaded.articles] == want
    (note,) = loaded.notes
    assert note.source == str(path)
    assert note.note.startswith(f"read as CSV with {delimiter}, ")


def test_csv_excel_german_fields(tmp_path: Path) -> None:
    loaded = load_corpus([write(tmp_path / "de.csv", EXCEL_GERMAN)])
    radweg, licht, markt = loaded.articles
    assert radweg.tags == ("verkehr", "rad")
    assert radweg.summary == "Kurz, knapp."
    assert licht.summary == "Eins; zwei"
    assert markt.summary == "Brot, Käse"
    assert radweg.published == datetime(2025, 2, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("id;title;body\r\n", "no rows below the header"),
        ("id,title,summary,body\n\n\n", "no rows below the header"),
        ("id;title;body\r\n;;\r\n;;\r\n", "no rows below the header"),
    ],
    ids=["semicolon", "comma-blank-lines", "excel-empty-cells"],
)
def test_csv_header_only(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path / "header.csv", text)
    loaded = load_corpus([path])
    assert (loaded.articles, loaded.rejections) == ([], [])
    (note,) = loaded.notes
    assert note.note.endswith(reason)


def test_csv_every_row_bad(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.csv",
        "id,title,body,published\nhas space,T,B,\nb2,,B,\nb3,T,B,soon\nb4,T\n",
    )
    loaded = load_corpus([path])
    assert loaded.articles == []
    assert [(r.line, r.field) for r in loaded.rejections] == [
        (2, "id"),
        (3, "title"),
        (4, "published"),
        (5, None),
    ]
    assert loaded.rejections[3].reason == "2 cells, fewer than the header's 4 columns (ragged row)"


def test_csv_sniff_sample_cut_inside_a_huge_first_cell(tmp_path: Path) -> None:
    """The sniffer sees only the first 64 KiB: the header and part of one quoted
    transcript whose every line holds commas. The header decides."""
    transcript = "\n\n".join(
        f"Speaker {n} said, at length, that item {n} matters, and asked why." for n in range(4000)
    )
    text = f'id;title;body\nlong;A long one;"{transcript}"\nshort;Short, one;Body\n'
    path = write(tmp_path / "big.csv", text)
    sample = text[: csvreader.SNIFF_CHARS]
    assert csv.Sniffer().sniff(sample, delimiters=",;").delimiter == ","  # misled
    loaded = load_corpus([path])
    assert [(a.id, a.title) for a in loaded.articles] == [
        ("long", "A long one"),
        ("short", "Short, one"),
    ]
    assert loaded.notes[0].note == (
        "read as CSV with ';' (semicolon), found from the header's column names; "
        "2 row(s) below the header"
    )


# ---------------------------------------------------------------- named delimiter


@pytest.mark.parametrize(
    ("named", "text", "want_ids"),
    [
        (";", "id;title;body\nx1;T, one;B\n", ["x1"]),
        ("\t", "id\ttitle\tbody\nx2\tT; two\tB\n", ["x2"]),
        ("|", "id|title|body\nx3|T|B\n", ["x3"]),
        # One row, ambiguous to a sniffer: the named delimiter decides.
        (",", "id,title,body\nx4,A; B; C,D; E\n", ["x4"]),
    ],
)
def test_csv_named_delimiter(tmp_path: Path, named: str, text: str, want_ids: list[str]) -> None:
    loaded = load_corpus([write(tmp_path / "n.csv", text)], ReadOptions(csv_delimiter=named))
    assert [a.id for a in loaded.articles] == want_ids
    assert "as named by RECOMMENDER_CSV_DELIMITER" in loaded.notes[0].note


@pytest.mark.parametrize(
    ("named", "text", "hint"),
    [
        (
            ",",
            "id;title;body\r\nx;T;B\r\n",
            "the header 'id;title;body' looks semicolon-separated: pass --csv-delimiter ';' "
            "(or set RECOMMENDER_CSV_DELIMITER)",
        ),
        (
            ";",
            "id\ttitle\tbody\nx\tT\tB\n",
            "the header 'id\\ttitle\\tbody' looks tab-separated: pass --csv-delimiter tab "
            "(or set RECOMMENDER_CSV_DELIMITER)",
        ),
        (
            "\t",
            "id,title,body\nx,T,B\n",
            "the header 'id,title,body' looks comma-separated: pass --csv-delimiter ',' "
            "(or set RECOMMENDER_CSV_DELIMITER)",
        ),
    ],
)
def test_csv_wrong_named_delimiter_says_which_one_the_header_uses(
    tmp_path: Path, named: str, text: str, hint: str
) -> None:
    path = write(tmp_path / "w.csv", text)
    loaded = load_corpus([path], ReadOptions(csv_delimiter=named))
    assert loaded.articles == []
    (rejection,) = loaded.rejections
    assert (rejection.source, rejection.line, rejection.field) == (str(path), 1, None)
    assert rejection.reason.startswith("header row: no 'id', 'title', 'body' column when split at")
    assert rejection.reason.endswith(hint)


def test_csv_header_without_required_column_and_no_better_delimiter(tmp_path: Path) -> None:
    loaded = load_corpus([write(tmp_path / "h.csv", "id,headline,body\nx,T,B\n")])
    (rejection,) = loaded.rejections
    assert rejection.reason == (
        "header row: no 'title' column when split at ',' (comma), so no row can be read"
    )


def test_csv_duplicate_header_column(tmp_path: Path) -> None:
    loaded = load_corpus([write(tmp_path / "d.csv", "id,title,body,title\nx,T,B,U\n")])
    (rejection,) = loaded.rejections
    assert rejection.reason == "header row: column 'title' appears twice (columns 2 and 4)"


@pytest.mark.parametrize(
    ("value", "char"),
    [
        ("auto", None),
        ("AUTO", None),
        (";", ";"),
        (",", ","),
        ("|", "|"),
        ("tab", "\t"),
        ("TAB", "\t"),
        ("\\t", "\t"),
        ("\t", "\t"),
        ("semicolon", ";"),
        ("comma", ","),
        ("pipe", "|"),
    ],
)
def test_csv_delimiter_setting(value: str, char: str | None) -> None:
    settings = Settings.from_env({"RECOMMENDER_CSV_DELIMITER": value})
    assert settings.csv_delimiter_char == char


@pytest.mark.parametrize("value", ["ab", '"', "\n", "\r", "  ", "tabs"])
def test_csv_delimiter_setting_refuses(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Settings(csv_delimiter=value)
    assert caught.value.parameter == "RECOMMENDER_CSV_DELIMITER"
    assert "expected auto, one character" in str(caught.value)


# ---------------------------------------------------------------- cells of any size


@pytest.mark.parametrize("size", [131_072, 131_073, 400_000, 2_000_000])
def test_csv_cells_over_the_csv_module_limit(tmp_path: Path, size: int) -> None:
    body = ("word " * (size // 5 + 1))[:size].strip()
    text = f'id,title,body\nbefore,Before,Short body\nhuge,Huge,"{body}"\nafter,After,{"x" * 10}\n'
    loaded = load_corpus([write(tmp_path / "big.csv", text)])
    assert loaded.rejections == []
    assert [a.id for a in loaded.articles] == ["before", "huge", "after"]
    assert loaded.articles[1].body == body


def test_csv_field_limit_is_only_raised_and_only_as_far_as_a_file_needs(tmp_path: Path) -> None:
    previous = csv.field_size_limit()
    small = write(tmp_path / "small.csv", "id,title,body\nx,T,B\n")
    big_text = f"id,title,body\nx,T,{'b' * 200_000}\n"
    big = write(tmp_path / "big.csv", big_text)
    try:
        csv.field_size_limit(131_072)
        load_corpus([small])
        assert csv.field_size_limit() == 131_072  # a small file changes nothing
        load_corpus([big])
        assert csv.field_size_limit() == len(big_text) + 1
        load_corpus([small])
        assert csv.field_size_limit() == len(big_text) + 1  # never lowered
    finally:
        csv.field_size_limit(previous)


# ---------------------------------------------------------------- broken rows


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            'b1,"Unclosed title,body\n',
            "malformed CSV: a quoted cell that starts here is never closed",
        ),
        ('b1,"Bad"title,body\n', "malformed CSV: ',' expected after '\"'"),
        ("b1,Short\n", "2 cells, fewer than the header's 3 columns (ragged row)"),
        ("b1,Long,body,extra\n", "4 cells, more than the header's 3 columns (ragged row)"),
    ],
    ids=["unclosed-quote", "text-after-quote", "too-few-cells", "too-many-cells"],
)
def test_csv_bad_row_in_the_middle_keeps_the_rows_after_it(
    tmp_path: Path, bad: str, reason: str
) -> None:
    text = "id,title,body\ng1,Good one,Body one\n" + bad + "g2,Good two,Body two\ng3,Three,B3\n"
    path = write(tmp_path / "mid.csv", text)
    loaded = load_corpus([path])
    assert [(a.id, a.title) for a in loaded.articles] == [
        ("g1", "Good one"),
        ("g2", "Good two"),
        ("g3", "Three"),
    ]
    (rejection,) = loaded.rejections
    assert (rejection.line, rejection.field) == (3, None)
    assert rejection.reason.startswith(reason)


def test_csv_unclosed_quote_closed_rows_later_keeps_the_rows_between(tmp_path: Path) -> None:
    text = (
        "id,title,body\n"
        'a1,"Unclosed,body\n'  # line 2: the quote runs on to line 4
        "a2,Two,two\n"
        'a3,Three,"quoted, fine"\n'
        "a4,Four,four\n"
    )
    loaded = load_corpus([write(tmp_path / "q.csv", text)])
    assert [(a.id, a.body) for a in loaded.articles] == [
        ("a2", "two"),
        ("a3", "quoted, fine"),
        ("a4", "four"),
    ]
    (rejection,) = loaded.rejections
    assert rejection.line == 2
    assert rejection.reason == (
        "malformed CSV: ',' expected after '\"'; "
        "the record runs on to line 4: is a quote left open?"
    )


def test_csv_trailing_empty_cells_are_not_ragged(tmp_path: Path) -> None:
    loaded = load_corpus([write(tmp_path / "t.csv", "id;title;body\r\nx;T;B;;\r\n")])
    assert [a.id for a in loaded.articles] == ["x"] and loaded.rejections == []


# ---------------------------------------------------------------- no valid article


ALL_BAD = "id,title,body\nhas space,T,B\nb2,,B\nb3,T,\nb4,T\n"


def all_bad_csv(tmp_path: Path) -> Path:
    return write(tmp_path / "bad.csv", ALL_BAD)


def test_no_valid_article_says_why(tmp_path: Path) -> None:
    source = all_bad_csv(tmp_path)
    settings = Settings(index_dir=tmp_path / "index")
    report = IndexReport()
    with pytest.raises(InvalidCorpus) as caught:
        build_index([source], settings, FakeEmbedder(), report=report)
    message = str(caught.value)
    assert message.startswith(f"{source}: no valid article (4 rejected). first: {source}:2: id: ")
    assert f"{source}:3: title: " in message
    assert f"{source}:4: body: " in message
    assert "(and 1 more)" in message
    assert message.endswith(
        f"{source}: read as CSV with ',' (comma), found from the header's column names; "
        "4 row(s) below the header"
    )
    assert [r.line for r in report.rejected] == [2, 3, 4, 5]
    assert report.published is False


def test_header_only_csv_error_names_the_reason(tmp_path: Path) -> None:
    source = write(tmp_path / "h.csv", "id;title;body\r\n")
    with pytest.raises(InvalidCorpus) as caught:
        build_index([source], Settings(index_dir=tmp_path / "index"), FakeEmbedder())
    assert str(caught.value) == (
        f"{source}: no valid article (0 rejected). {source}: read as CSV with ';' (semicolon), "
        f"sniffed from the first 64 KiB; no rows below the header"
    )


@pytest.fixture
def fake_model_cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI with the fake embedder in place of the real model."""

    def fake(model: str, batch_size: int = 32, threads: int | None = None) -> FakeEmbedder:
        return FakeEmbedder()

    monkeypatch.setattr("recommender.embedding.SentenceTransformerEmbedder", fake)
    for name in list(os.environ):
        if name.startswith("RECOMMENDER_"):
            monkeypatch.delenv(name)
    return CliRunner()


def test_cli_csv_delimiter_option_overrides_the_setting(
    fake_model_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOMMENDER_CSV_DELIMITER", ",")
    source = write(tmp_path / "de.csv", EXCEL_GERMAN)
    index_dir = tmp_path / "index"
    refused = fake_model_cli.invoke(cli.main, ["index", str(source), "--index-dir", str(index_dir)])
    assert refused.exit_code == 2
    assert "looks semicolon-separated: pass --csv-delimiter ';'" in refused.output
    done = fake_model_cli.invoke(
        cli.main,
        ["index", str(source), "--index-dir", str(index_dir), "--csv-delimiter", ";", "--json"],
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert (report["indexed"], report["rejected"], report["error"]) == (3, [], None)


@pytest.mark.parametrize("value", ["ab", '"', "semi"])
def test_cli_csv_delimiter_option_refuses(fake_model_cli: CliRunner, value: str) -> None:
    result = fake_model_cli.invoke(cli.main, ["index", "x.csv", "--csv-delimiter", value])
    assert result.exit_code == 2
    assert "Invalid value for '--csv-delimiter': expected auto, one character" in result.output


@pytest.mark.parametrize(
    ("text", "options", "error", "lines"),
    [
        (ALL_BAD, [], "no valid article (4 rejected)", [2, 3, 4, 5]),
        ("id,title,body\nok,Fine,Body\nbad one,T,B\n", ["--strict"], "with --strict", [3]),
    ],
    ids=["nothing-valid", "strict"],
)
def test_cli_report_written_on_failure(
    fake_model_cli: CliRunner,
    tmp_path: Path,
    text: str,
    options: list[str],
    error: str,
    lines: list[int],
) -> None:
    source = write(tmp_path / "c.csv", text)
    report_file = tmp_path / "report.json"
    args = ["index", str(source), "--index-dir", str(tmp_path / "i"), "--report", str(report_file)]
    result = fake_model_cli.invoke(cli.main, [*args, *options])
    assert result.exit_code == 2
    report = json.loads(report_file.read_text())
    assert error in report["error"]
    assert report["published"] is False
    assert [(r["source"], r["line"]) for r in report["rejected"]] == [
        (str(source), line) for line in lines
    ]


def test_cli_report_says_why_a_source_is_unreadable(
    fake_model_cli: CliRunner, tmp_path: Path
) -> None:
    report_file = tmp_path / "report.json"
    missing = tmp_path / "missing.csv"
    result = fake_model_cli.invoke(
        cli.main,
        ["index", str(missing), "--index-dir", str(tmp_path / "i"), "--report", str(report_file)],
    )
    assert result.exit_code == 2
    report = json.loads(report_file.read_text())
    assert report["error"] == f"{missing}: no such file or directory"
    assert report["rejected"] == []


def test_cli_subprocess_writes_the_report_when_nothing_is_valid(tmp_path: Path) -> None:
    source = write(tmp_path / "data.csv", "id;title;body\r\nx;T;B\r\ny;U;C\r\n")
    report_file = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "recommender.cli",
            "index",
            str(source),
            "--index-dir",
            str(tmp_path / "index"),
            "--report",
            str(report_file),
            "--csv-delimiter",
            "comma",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "looks semicolon-separated: pass --csv-delimiter ';'" in done.stderr
    report: dict[str, Any] = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["indexed"] == 0 and report["published"] is False
    (rejection,) = report["rejected"]
    assert (rejection["source"], rejection["line"], rejection["field"]) == (str(source), 1, None)
    assert "no valid article (1 rejected)" in report["error"]
    assert report["notes"] == [
        {
            "source": str(source),
            "line": None,
            "field": None,
            "note": "read as CSV with ',' (comma), as named by RECOMMENDER_CSV_DELIMITER "
            "or --csv-delimiter",
        }
    ]


@pytest.mark.real_model
def test_excel_semicolon_csv_through_real_cli(tmp_path: Path) -> None:
    """A German Excel export (BOM, CRLF, ';', commas in prose), real model, real processes."""
    rows = [
        ("radweg-fluss", "Neuer Radweg am Fluss", "Der Stadtrat baut einen Radweg, mit Lampen."),
        ("radweg-licht", "Mehr Licht am Radweg", "Anwohner fordern Lampen am Radweg, auch nachts."),
        ("radweg-bruecke", "Radweg unter der Brücke", "Der Radweg unter der Brücke wird breiter."),
        ("markt-brot", "Wochenmarkt mit Brot", "Der Markt verkauft Brot, Käse und Gemüse."),
        ("markt-kaese", "Käse auf dem Markt", "Auf dem Wochenmarkt gibt es Käse, Brot, Obst."),
        ("markt-obst", "Obststand am Markt", "Am Samstag gibt es Obst und Gemüse am Markt."),
    ]
    lines = ["id;title;body;tags"] + [f"{i};{t};{b};a, b" for i, t, b in rows]
    source = tmp_path / "export.csv"
    source.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    index_dir = tmp_path / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    command = [sys.executable, "-m", "recommender.cli"]
    report_file = tmp_path / "report.json"
    done = subprocess.run(
        [
            *command,
            "index",
            str(source),
            "--index-dir",
            str(index_dir),
            "--report",
            str(report_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert (report["indexed"], report["rejected"]) == (6, [])
    title_of = {article_id: title for article_id, title, _ in rows}
    for query, group in (("radweg-fluss", "radweg"), ("markt-brot", "markt")):
        related = subprocess.run(
            [*command, "related", query, "--index-dir", str(index_dir), "--json", "-k", "2"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert related.returncode == 0, related.stderr
        items = json.loads(related.stdout)["items"]
        assert len(items) == 2
        for item in items:
            assert item["id"].startswith(group), items
            assert item["title"] == title_of[item["id"]]  # cells split at ';', not ','


def test_failed_reindex_job_keeps_the_rejections(tmp_path: Path) -> None:
    source = all_bad_csv(tmp_path)
    runner = JobRunner(Settings(index_dir=tmp_path / "index"), FakeEmbedder)
    job = runner.join(runner.start_reindex(sources=[source]))
    assert job is not None and job.state == "failed"
    assert job.error is not None and "no valid article (4 rejected)" in job.error
    assert job.summary is not None
    assert [r["line"] for r in job.summary["rejected"]] == [2, 3, 4, 5]
    assert job.summary["error"] == job.error
