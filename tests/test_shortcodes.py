"""WordPress shortcodes never become article text; bracketed prose stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recommender import Settings
from recommender.corpus import ReadOptions, load_corpus
from recommender.errors import InvalidArgument
from recommender.pipeline import build_index
from recommender.shortcodes import strip_shortcodes

from .fakes import FakeEmbedder
from .test_feeds import WXR_HEAD, WXR_TAIL, write, wxr_item

CAPTION = (
    '[caption id="attachment_501" align="alignright" width="300"]'
    '<img class="size-medium wp-image-501" src="https://x.org/garlic.jpg" width="300" />'
    " Separate the bulb into cloves.[/caption]"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # enclosing: the caption's own text stays, its tags and attributes go
        (
            CAPTION + "\nPlant in October.",
            "\n".join(
                [
                    '<img class="size-medium wp-image-501" src="https://x.org/garlic.jpg" '
                    'width="300" /> Separate the bulb into cloves.',
                    "Plant in October.",
                ]
            ),
        ),
        ("[wp_caption align=aligncenter]A cat.[/wp_caption]", "A cat."),
        # self-closing and open tags of core shortcodes, attributes in every quoting
        ('Photos: [gallery ids="611,612,613" columns="3" link="file"]', "Photos: "),
        ("Photos: [gallery ids='611,612' columns=3]", "Photos: "),
        ("Photos: [gallery]", "Photos: "),
        ("Photos: [gallery /] end", "Photos:  end"),
        ('[playlist type="video" ids="1,2"/]', ""),
        # content that is not prose goes with the tags
        ("Watch [embed]https://youtu.be/abc[/embed] now", "Watch  now"),
        ('[video src="talk.mp4"][/video]Talk', "Talk"),
        ('[audio mp3="a.mp3"]<a href="a.mp3">a.mp3</a>[/audio]', ""),
        # unknown names: enclosing, self-closing, or only key=value attributes
        ("[su_note]Water early.[/su_note]", "Water early."),
        ("[quote author='Jane Doe']Less is more.[/quote]", "Less is more."),
        ('[foo bar="1" /]x', "x"),
        ('[contact-form-7 id="12" title="Contact form 1"]', ""),
        ("[rev_slider alias=home]", ""),
        # nested: the inner ones go too, and words stay apart
        (
            '[su_tabs][su_tab title="A"]Sow[/su_tab][su_tab title="B"]Reap[/su_tab][/su_tabs]',
            "Sow Reap",
        ),
        (
            "[vc_row][vc_column][vc_column_text]Mulch.[/vc_column_text][/vc_column][/vc_row]",
            "Mulch.",
        ),
        ("word[gallery]word", "word word"),
        # same-name nesting (unsupported by WordPress too) leaves no stray closer
        ("[su_row][su_row]x[/su_row][/su_row] end", "x end"),
        # escaped: WordPress prints [[name]] as the literal [name]
        ("Type [[gallery]] to show photos.", "Type [gallery] to show photos."),
        ('Type [[gallery ids="1"]].', 'Type [gallery ids="1"].'),
        ("[[caption]A cat.[/caption]]", "[caption]A cat.[/caption]"),
        # inside HTML tags and comments, brackets are not shortcodes
        ('<img alt="[gallery]" src="x.jpg">', '<img alt="[gallery]" src="x.jpg">'),
        ("<!--[if IE]><p>Old</p><![endif]-->", "<!--[if IE]><p>Old</p><![endif]-->"),
        # Markdown rendered to HTML escapes the quotes
        ("<p>[gallery ids=&quot;1,2&quot;]</p><p>[foo bar=&quot;x&quot;]</p>", "<p></p><p></p>"),
    ],
)
def test_shortcodes_are_stripped(text: str, expected: str) -> None:
    assert strip_shortcodes(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "He wrote it [sic] twice.",
        "As shown before [1] and after [12].",
        "Walking helps [citation needed].",
        "[Editor's note: this post was updated in May.]",
        "A trial [n=30] and a cohort [n = 42].",
        "Patients [mean age=54] improved.",
        "Storm hits coast [VIDEO]",
        "Choose yes [y/n] or skip [...]",
        "See [[Main Page]] and [x] and [ ] and [^1].",
        "[foo bar=1] is not a shortcode without quotes or an underscore.",
        'A positional string ["quoted"] alone.',
        "Unclosed [gallery-like text",
        "Nested [open [brackets [never [closed" * 50,
        "<!-- a comment never closed [gallery] [/gallery]",
    ],
)
def test_bracketed_prose_stays(text: str) -> None:
    assert strip_shortcodes(text) == text


def test_wordpress_export_body_and_excerpt_lose_their_shortcodes(tmp_path: Path) -> None:
    body = (
        CAPTION
        + "\n<p>Garlic needs a long, cold spell [sic].</p>\n\n"
        + '[gallery ids="611,612,613" columns="3" size="medium" link="file"]'
    )
    excerpt = (
        '[caption align="alignleft"]Cloves[/caption] Plant garlic [embed]https://x.org/v[/embed]'
    )
    path = write(
        tmp_path / "export.xml",
        WXR_HEAD + wxr_item(7, "Garlic", body=body, excerpt=excerpt) + WXR_TAIL,
    )
    (post,) = load_corpus([path]).articles
    assert post.body == "Separate the bulb into cloves.\nGarlic needs a long, cold spell [sic]."
    assert post.summary == "Cloves Plant garlic"


MARKDOWN = """---
id: md-1
title: Garlic
---
[caption id="attachment_5" align="alignright"]<img src="g.jpg"> Cloves.[/caption]

Plant the cloves [sic] in rows, see [the guide](https://x.org/caption).

[gallery ids="1,2"]
"""


@pytest.mark.parametrize(
    ("scope", "markdown_body", "jsonl_body", "csv_body"),
    [
        (
            "all",
            "Cloves.\n\nPlant the cloves [sic] in rows, see the guide.",
            "Photos of garlic.",
            "Cloves. Plant in rows.",
        ),
        (
            "wordpress",
            '[caption id="attachment_5" align="alignright"] Cloves.[/caption]\n\n'
            "Plant the cloves [sic] in rows, see the guide.\n\n"
            '[gallery ids="1,2"]',
            'Photos of garlic. [gallery ids="1,2"]',
            '[caption align="alignleft"]Cloves.[/caption] Plant in rows.',
        ),
    ],
)
def test_other_sources_follow_the_setting(
    tmp_path: Path, scope: str, markdown_body: str, jsonl_body: str, csv_body: str
) -> None:
    markdown = write(tmp_path / "post.md", MARKDOWN)
    jsonl = write(
        tmp_path / "posts.jsonl",
        json.dumps({"id": "j-1", "title": "J", "body": 'Photos of garlic. [gallery ids="1,2"]'})
        + "\n",
    )
    csv_file = write(
        tmp_path / "posts.csv",
        'id,title,body\nc-1,C,"[caption align=""alignleft""]Cloves.[/caption] Plant in rows."\n',
    )
    options = ReadOptions(strip_shortcodes="all" if scope == "all" else "wordpress")
    loaded = load_corpus([markdown, jsonl, csv_file], options)
    assert loaded.rejections == []
    bodies = {article.id: article.body for article in loaded.articles}
    assert bodies == {"md-1": markdown_body, "j-1": jsonl_body, "c-1": csv_body}


def test_a_body_of_nothing_but_shortcodes_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.xml",
        WXR_HEAD
        + wxr_item(8, "Only a gallery", body='[gallery ids="1,2,3"]')
        + wxr_item(9, "Real post")
        + WXR_TAIL,
    )
    loaded = load_corpus([path])
    assert [a.id for a in loaded.articles] == ["9"]
    (rejection,) = loaded.rejections
    assert (rejection.field, rejection.reason) == (
        "body",
        "body is empty (after reducing HTML to text)",
    )


def test_index_report_reads_shortcodes_setting(tmp_path: Path, settings: Settings) -> None:
    jsonl = write(
        tmp_path / "posts.jsonl",
        "".join(
            json.dumps(
                {"id": f"p{i}", "title": f"Post {i}", "body": f'Text {i} [gallery ids="{i}"]'}
            )
            + "\n"
            for i in range(3)
        ),
    )
    first = build_index([jsonl], settings, FakeEmbedder(), progress=False)
    assert first.published
    # Keeping shortcodes outside WordPress exports changes every body: a new snapshot.
    kept = build_index(
        [jsonl], settings.replace(strip_shortcodes="wordpress"), FakeEmbedder(), progress=False
    )
    assert kept.published and kept.updated == 3


WXR_GARDEN = [
    (
        101,
        "Planting garlic in autumn",
        CAPTION + "\nGarlic needs a long, cold spell to form bulbs, so plant the cloves in October "
        "in loose, well-drained soil and cover the bed with straw mulch against frost.\n\n"
        '[gallery ids="611,612,613" columns="3" size="medium" link="file"]',
    ),
    (
        102,
        "How deep to plant spring bulbs",
        "Plant tulip and daffodil bulbs two to three times their height deep in autumn, in "
        "well-drained soil, and mulch the bed against frost. Garlic follows the same rule.",
    ),
    (
        103,
        "Slow-cooker beef stew",
        '[caption id="attachment_502" align="alignright" width="300"]<img src="s.jpg" /> '
        "Brown the meat in batches.[/caption]\nCut the beef into cubes, brown them, add "
        "carrots and stock, and cook on low for eight hours until tender.\n\n"
        '[gallery ids="621,622,623" columns="3" size="medium" link="file"]',
    ),
    (
        104,
        "Five warming soups",
        "Lentil soup, leek and potato soup and a beef and barley soup keep for days; a slow "
        "cooker makes them while you work, with vegetables and stock added in the morning.",
    ),
]
SHORTCODE_WORDS = {
    "caption",
    "attachment",
    "align",
    "alignright",
    "width",
    "gallery",
    "ids",
    "columns",
    "size",
    "medium",
    "link",
    "file",
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real ``recommender`` command in a subprocess, without RECOMMENDER_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    return subprocess.run(
        [sys.executable, "-m", "recommender.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.real_model
def test_shortcode_words_are_never_shared_terms_through_real_cli(tmp_path: Path) -> None:
    items = "".join(wxr_item(pid, title, body=body) for pid, title, body in WXR_GARDEN)
    export = write(tmp_path / "export.xml", WXR_HEAD + items + WXR_TAIL)
    index_dir = str(tmp_path / "index")
    done = run_cli("index", str(export), "--index-dir", index_dir, "--no-progress")
    assert done.returncode == 0, done.stderr
    best = {}
    for pid, _, _ in WXR_GARDEN:
        done = run_cli("related", str(pid), "--index-dir", index_dir, "--json", "-k", "3")
        assert done.returncode == 0, done.stderr
        listed = json.loads(done.stdout)["items"]
        for item in listed:
            shared = {term.lower() for term in item["explanation"]["shared_terms"]}
            assert shared & SHORTCODE_WORDS == set(), (pid, item["id"], shared)
        best[pid] = listed[0]["id"]
    # Without their shared [caption]/[gallery] words, garlic and stew part ways.
    assert best[101] == "102" and best[103] == "104"


@pytest.mark.parametrize(("scope", "shared"), [("all", set()), ("wordpress", {"gallery"})])
def test_a_draft_loses_its_shortcodes_too(
    tmp_path: Path, settings: Settings, scope: str, shared: set[str]
) -> None:
    from recommender import Engine

    records = [
        {"id": "g1", "title": "Gallery opening", "body": "The gallery opens its garlic show."},
        {"id": "g2", "title": "Bulbs", "body": "Plant garlic bulbs in autumn."},
    ]
    source = write(tmp_path / "c.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    settings = settings.replace(strip_shortcodes=scope)
    build_index([source], settings, FakeEmbedder(), progress=False)
    engine = Engine(settings, embedder=FakeEmbedder())
    draft = engine.recommend_text("Garlic", 'Garlic cloves. [gallery ids="1,2"]', k=2, explain=True)
    terms = {term for item in draft.related for term in item.shared_terms}
    assert terms & {"gallery", "ids"} == shared
    if scope == "all":
        with pytest.raises(InvalidArgument, match="body: must not be empty"):
            engine.recommend_text("Only a gallery", '[gallery ids="1,2"]')
