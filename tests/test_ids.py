"""Ids derived from sources: feed guids and links, WordPress post ids and their namespaces.

They always fit the id rules, the same input always gives the same id, and two
different inputs never give the same one.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from recommender import Settings, cli
from recommender.articles import ID_MAX_LENGTH, Article
from recommender.corpus import ReadOptions, load_corpus
from recommender.errors import InvalidArgument
from recommender.feeds import feed_id
from recommender.namespaces import site_key, site_namespace
from recommender.pipeline import build_index

from .fakes import FakeEmbedder
from .test_feeds import WXR_TAIL, write, wxr_item

# Deterministic and timing-free: the same examples every run, no deadline, no database.
PROPERTIES = hypothesis_settings(max_examples=300, deadline=None, derandomize=True, database=None)


def digest(guid: str) -> str:
    return hashlib.sha256(guid.encode()).hexdigest()[:12]


# --- feed guids and links ------------------------------------------------------------


@pytest.mark.parametrize(
    ("guid", "expected"),
    [
        # already valid ids are kept as they are
        ("tag:example.org,2025:42", "tag:example.org,2025:42"),
        (
            "tag:blogger.com,1999:blog-5550001.post-1002",
            "tag:blogger.com,1999:blog-5550001.post-1002",
        ),
        (
            "urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6",
            "urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6",
        ),
        ("  rehab-news-3  ", "rehab-news-3"),
        ("a" * ID_MAX_LENGTH, "a" * ID_MAX_LENGTH),
        # any other: readable slug, "-", 12 hex digits of SHA-256 of the guid (pinned:
        # these ids must not change between versions or runs)
        ("https://example.org/a/b/", "example.org-a-b-8a5ff03404bc"),
        ("https://example.org/?p=1#top", "example.org-p=1-top-6c1bfb616b51"),
        ("https://x.org/a b", "x.org-a-b-29907401d4fe"),
        ("https://x.org/a/b", "x.org-a-b-8566c5a090e1"),
        ("http://x.org/a/b", "x.org-a-b-137d775e5df9"),
        ("two words", "two-words-a03f1d611645"),
        ("///", "732c4e971163"),
        ("", ""),  # no guid and no link: validation rejects the empty id
    ],
)
def test_feed_id_examples(guid: str, expected: str) -> None:
    assert feed_id(guid) == expected


@pytest.mark.parametrize("length", [150, 186, 187, 188, 199, 200, 201, 202, 250, 1000, 5000])
@pytest.mark.parametrize("kind", ["url", "valid"])
def test_long_guids_fit_the_limit(length: int, kind: str) -> None:
    if kind == "url":
        prefix = "https://news.example.org/articles/"
        guid = prefix + "x" * (length - len(prefix))
        slug = "news.example.org-articles-" + "x" * (length - len(prefix))
    else:
        guid = "tag:example.org,2025:" + "7" * (length - 21)
        slug = guid.removeprefix("tag:")  # the scheme is dropped from the slug
    slug = slug[: ID_MAX_LENGTH - 13]
    assert len(guid) == length
    identifier = feed_id(guid)
    if kind == "valid" and length <= ID_MAX_LENGTH:
        assert identifier == guid
    else:
        assert identifier == f"{slug}-{digest(guid)}"
        assert len(identifier) <= ID_MAX_LENGTH
    Article(id=identifier, title="t", body="b")  # passes the id rules


def test_long_guid_keeps_the_original_in_extra(tmp_path: Path) -> None:
    guid = "https://news.example.org/" + "/".join(["section"] * 40) + "/story?id=7"
    link = "https://news.example.org/story-" + "y" * 300
    rss = f"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>N</title>
<item><title>With guid</title><guid isPermaLink="false">{guid}</guid>
  <description>B.</description></item>
<item><title>Link only</title><link>{link}</link><description>C.</description></item>
</channel></rss>
"""
    first, second = load_corpus([write(tmp_path / "feed.rss", rss)]).articles
    assert first.id == feed_id(guid) and len(first.id) == ID_MAX_LENGTH
    assert first.id.endswith("-" + digest(guid)) and first.extra == {"guid": guid}
    assert second.id == feed_id(link) and second.extra == {"guid": link}


def test_feed_ids_do_not_depend_on_the_process() -> None:
    # A fresh interpreter with a different string-hash seed derives the same ids.
    guids = ["https://x.org/a b", "https://x.org/a/b", "https://example.org/?p=1#top"]
    code = (
        "import json, sys; from recommender.feeds import feed_id; "
        "print(json.dumps([feed_id(g) for g in json.loads(sys.argv[1])]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(guids)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert json.loads(done.stdout) == [feed_id(g) for g in guids]


_CHARACTERS = st.characters(blacklist_categories=("Cs",))
_URL_PIECES = st.text(alphabet=st.sampled_from("ab1-_.~%é/?#= \t"), min_size=0, max_size=40)
GUIDS = st.one_of(
    st.text(alphabet=_CHARACTERS, min_size=1, max_size=260),
    st.builds(
        lambda scheme, host, path: f"{scheme}://{host}/{path}",
        st.sampled_from(["http", "https", "ftp", "tag"]),
        st.sampled_from(["x.org", "news.example.org", "例え.jp"]),
        _URL_PIECES,
    ),
    st.builds(lambda n: "https://example.org/" + "a/" * n, st.integers(90, 120)),
).filter(lambda guid: guid.strip() != "")


@PROPERTIES
@given(GUIDS)
def test_a_derived_id_is_valid_and_stable(guid: str) -> None:
    identifier = feed_id(guid)
    assert identifier == feed_id(guid)
    assert Article(id=identifier, title="t", body="b").id == identifier
    assert len(identifier) <= ID_MAX_LENGTH


@PROPERTIES
@given(st.lists(GUIDS, min_size=2, max_size=30, unique_by=str.strip))
def test_different_guids_never_share_an_id(guids: list[str]) -> None:
    ids = [feed_id(guid) for guid in guids]
    assert len(set(ids)) == len(ids)


@PROPERTIES
@given(
    st.sampled_from(["http", "https"]),
    st.sampled_from(["http", "https"]),
    st.text(alphabet=st.sampled_from("ab1-"), min_size=1, max_size=30),
    st.sampled_from(["/", " ", "?", "#", "\t", "//", " / "]),
    st.sampled_from(["/", " ", "?", "#", "\t", "//", " / "]),
    st.text(alphabet=st.sampled_from("ab1-"), min_size=1, max_size=30),
)
def test_guids_that_slug_alike_get_different_ids(
    scheme_a: str, scheme_b: str, head: str, sep_a: str, sep_b: str, tail: str
) -> None:
    first = f"{scheme_a}://x.org/{head}{sep_a}{tail}"
    second = f"{scheme_b}://x.org/{head}{sep_b}{tail}"
    if first != second:
        assert feed_id(first) != feed_id(second)


# --- WordPress post ids and site namespaces -----------------------------------------


@pytest.mark.parametrize(
    ("url", "key", "namespace"),
    [
        ("https://garden.example.org", "garden.example.org", "garden.example.org"),
        ("http://Garden.Example.org/", "garden.example.org", "garden.example.org"),
        ("https://example.org/blog/", "example.org/blog", "example.org-blog"),
        ("https://example.org/sites/fr", "example.org/sites/fr", "example.org-sites-fr"),
        ("http://localhost:8080", "localhost:8080", "localhost-8080"),
        ("garden.example.org", "garden.example.org", "garden.example.org"),
        ("", "", "wordpress"),
    ],
)
def test_site_keys_and_namespaces(url: str, key: str, namespace: str) -> None:
    assert site_key(url) == key
    assert site_namespace(url) == namespace


def wxr(site: str | None, *posts: tuple[int, str]) -> str:
    """A WordPress export of ``site`` (no site elements when None) holding ``posts``."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8" ?>',
        '<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:wp="http://wordpress.org/export/1.2/">',
        "<channel>",
        "  <title>Site</title>",
        "  <wp:wxr_version>1.2</wp:wxr_version>",
    ]
    if site is not None:
        lines += [f"  <link>{site}</link>", f"  <wp:base_site_url>{site}</wp:base_site_url>"]
    items = "".join(wxr_item(post_id, title) for post_id, title in posts)
    return "\n".join(lines) + "\n" + items + WXR_TAIL


def ids_of(tmp_path: Path, files: dict[str, str], options: ReadOptions | None = None) -> Any:
    paths = [write(tmp_path / name, text) for name, text in files.items()]
    loaded = load_corpus(paths, options)
    return loaded, [article.id for article in loaded.articles]


TWO_SITES = {
    "garden.xml": wxr("https://garden.example.org", (12, "Pruning apples"), (13, "Rootstocks")),
    "kitchen.xml": wxr("https://kitchen.example.net/blog/", (12, "Apple crumble"), (14, "Pickles")),
}


def test_two_sites_are_namespaced_with_one_notice(tmp_path: Path) -> None:
    loaded, ids = ids_of(tmp_path, TWO_SITES)
    assert ids == [
        "garden.example.org:12",
        "garden.example.org:13",
        "kitchen.example.net-blog:12",
        "kitchen.example.net-blog:14",
    ]
    assert loaded.rejections == []
    crumble = loaded.articles[2]
    assert crumble.extra["post_id"] == "12"
    assert crumble.extra["site_url"] == "https://kitchen.example.net/blog/"
    (note,) = loaded.notes
    notice = str(note)
    assert notice.startswith(
        "WordPress exports of 2 sites (garden.example.org, kitchen.example.net-blog): "
        "post ids are namespaced by site"
    )
    assert "RECOMMENDER_WXR_ID_NAMESPACE=site" in notice and "--id-namespace" in notice


def test_one_site_keeps_bare_post_ids(tmp_path: Path) -> None:
    loaded, ids = ids_of(tmp_path, {"garden.xml": TWO_SITES["garden.xml"]})
    assert ids == ["12", "13"] and loaded.notes == []


def test_a_split_export_of_one_site_is_not_namespaced_apart(tmp_path: Path) -> None:
    # The same site before and after a move to HTTPS, with and without a trailing slash.
    files = {
        "part-1.xml": wxr("http://garden.example.org", (12, "Pruning"), (13, "Rootstocks")),
        "part-2.xml": wxr("https://garden.example.org/", (13, "Rootstocks"), (15, "Cider")),
    }
    loaded, ids = ids_of(tmp_path, files)
    assert ids == ["12", "13", "15"] and loaded.notes == []
    (duplicate,) = loaded.rejections
    assert duplicate.source == str(tmp_path / "part-2.xml") and duplicate.field == "id"
    assert duplicate.reason.startswith(
        f"duplicate id '13' (first seen at {tmp_path / 'part-1.xml'}:"
    )


def test_a_split_export_beside_another_site_shares_its_namespace(tmp_path: Path) -> None:
    files = {
        "part-1.xml": wxr("https://garden.example.org", (12, "Pruning")),
        "part-2.xml": wxr("https://garden.example.org", (12, "Pruning again"), (13, "Roots")),
        "kitchen.xml": wxr("https://kitchen.example.net", (12, "Crumble")),
    }
    loaded, ids = ids_of(tmp_path, files)
    assert ids == ["garden.example.org:12", "garden.example.org:13", "kitchen.example.net:12"]
    (duplicate,) = loaded.rejections
    assert duplicate.reason.startswith("duplicate id 'garden.example.org:12'")


@pytest.mark.parametrize(
    ("mode", "expected", "duplicates"),
    [
        ("auto", ["garden.example.org:12", "garden.example.org:13"], 0),
        ("site", ["garden.example.org:12", "garden.example.org:13"], 0),
        ("none", ["12", "13", "14"], 1),  # kitchen's 12 collides, as before namespaces
    ],
)
def test_namespace_modes(tmp_path: Path, mode: Any, expected: list[str], duplicates: int) -> None:
    loaded, ids = ids_of(tmp_path, TWO_SITES, ReadOptions(wxr_id_namespace=mode))
    assert ids[: len(expected)] == expected
    assert len(loaded.rejections) == duplicates
    _, single_ids = ids_of(
        tmp_path, {"garden.xml": TWO_SITES["garden.xml"]}, ReadOptions(wxr_id_namespace=mode)
    )
    assert single_ids == (
        ["garden.example.org:12", "garden.example.org:13"] if mode == "site" else ["12", "13"]
    )


def test_chosen_names_apply_per_site(tmp_path: Path) -> None:
    files = {
        "part-1.xml": wxr("https://garden.example.org", (12, "Pruning")),
        "part-2.xml": wxr("https://garden.example.org", (13, "Roots")),
        "kitchen.xml": wxr("https://kitchen.example.net", (12, "Crumble")),
    }
    options = ReadOptions(id_namespaces={tmp_path / "part-1.xml": "garden"})
    loaded, ids = ids_of(tmp_path, files, options)
    # part-2 is the same site as part-1, so it takes the same name.
    assert ids == ["garden:12", "garden:13", "kitchen.example.net:12"]
    assert str(loaded.notes[0]).startswith(
        "WordPress exports of 2 sites (garden, kitchen.example.net)"
    )


def test_a_chosen_name_applies_even_to_a_single_site(tmp_path: Path) -> None:
    options = ReadOptions(wxr_id_namespace="none", id_namespaces={tmp_path / "garden.xml": "g"})
    loaded, ids = ids_of(tmp_path, {"garden.xml": TWO_SITES["garden.xml"]}, options)
    assert ids == ["g:12", "g:13"] and loaded.notes == []


def test_a_chosen_name_for_a_file_not_indexed_is_an_error(tmp_path: Path) -> None:
    options = ReadOptions(id_namespaces={tmp_path / "other.xml": "g"})
    with pytest.raises(
        InvalidArgument, match=r"--id-namespace: .*other.xml is not one of the sources"
    ):
        ids_of(tmp_path, {"garden.xml": TWO_SITES["garden.xml"]}, options)


def test_a_chosen_name_for_a_non_wordpress_source_is_a_notice(tmp_path: Path) -> None:
    jsonl = json.dumps({"id": "12", "title": "J", "body": "B."}) + "\n"
    options = ReadOptions(id_namespaces={tmp_path / "posts.jsonl": "j"})
    loaded, ids = ids_of(tmp_path, {"posts.jsonl": jsonl}, options)
    assert ids == ["12"]
    assert [str(note) for note in loaded.notes] == [
        f"{tmp_path / 'posts.jsonl'}: --id-namespace: no WordPress post was read from it, so "
        "the name is not used (namespaces apply to WordPress exports)"
    ]


def test_other_sources_ids_are_never_namespaced(tmp_path: Path) -> None:
    files = {
        **TWO_SITES,
        "posts.jsonl": json.dumps({"id": "12", "title": "J", "body": "B."}) + "\n",
    }
    loaded, ids = ids_of(tmp_path, files)
    assert ids[-1] == "12" and loaded.rejections == []


def test_an_export_naming_no_site(tmp_path: Path) -> None:
    files = {"a.xml": wxr(None, (12, "A")), "b.xml": TWO_SITES["garden.xml"]}
    loaded, ids = ids_of(tmp_path, files)
    assert ids == ["wordpress:12", "garden.example.org:12", "garden.example.org:13"]
    assert "site_url" not in loaded.articles[0].extra


def test_a_namespaced_id_too_long_is_rejected_at_its_item(tmp_path: Path) -> None:
    long_host = "https://" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + ".example"
    files = {"long.xml": wxr(long_host, (12, "A")), "b.xml": TWO_SITES["garden.xml"]}
    loaded, ids = ids_of(tmp_path, files)
    assert ids == ["garden.example.org:12", "garden.example.org:13"]
    (rejection,) = loaded.rejections
    assert (rejection.source, rejection.field) == (str(tmp_path / "long.xml"), "id")
    assert rejection.reason.endswith("String should have at most 200 characters")


def test_index_reports_the_notice_and_ids_stay_stable(tmp_path: Path, settings: Settings) -> None:
    paths = [write(tmp_path / name, text) for name, text in TWO_SITES.items()]
    first = build_index(paths, settings, FakeEmbedder(), progress=False)
    assert first.indexed == 4 and first.rejected == [] and len(first.notes) == 1
    (note,) = first.to_json()["notes"]
    assert note["source"] is None and note["note"].startswith("WordPress exports of 2 sites")
    again = build_index(paths, settings, FakeEmbedder(), progress=False)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 4)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "recommender.embedding.SentenceTransformerEmbedder",
        lambda model, batch_size, threads=None: FakeEmbedder(),
    )
    monkeypatch.setenv("RECOMMENDER_MODEL", "fake-bow")


def test_cli_names_a_site(tmp_path: Path, fake_model: None) -> None:
    paths = [write(tmp_path / name, text) for name, text in TWO_SITES.items()]
    index_dir = tmp_path / "index"
    result = CliRunner().invoke(
        cli.main,
        [
            "index",
            *map(str, paths),
            "--index-dir",
            str(index_dir),
            "--id-namespace",
            f"{paths[0]}=garden",
            "--id-namespace",
            f"{paths[1]}=kitchen",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "note: WordPress exports of 2 sites (garden, kitchen)" in result.output
    related = CliRunner().invoke(
        cli.main, ["related", "kitchen:12", "--index-dir", str(index_dir), "--json"]
    )
    assert related.exit_code == 0, related.output
    listed = {item["id"] for item in json.loads(related.stdout)["items"]}
    assert listed == {"garden:12", "garden:13", "kitchen:14"}


@pytest.mark.parametrize(
    "value",
    ["garden", "=garden", "export.xml=", "export.xml=two words", "export.xml=a:b", "export.xml=-x"],
)
def test_cli_rejects_a_bad_namespace_option(tmp_path: Path, fake_model: None, value: str) -> None:
    export = write(tmp_path / "export.xml", TWO_SITES["garden.xml"])
    result = CliRunner().invoke(
        cli.main,
        ["index", str(export), "--index-dir", str(tmp_path / "i"), "--id-namespace", value],
    )
    assert result.exit_code == 2
    assert f"--id-namespace: {value!r} is not FILE=NAME" in result.output
    assert "Traceback" not in result.output
