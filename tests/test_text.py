"""Text preparation and token windows."""

from __future__ import annotations

import pytest

from recommender.text import html_to_text, markdown_to_text, token_windows


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("plain   text\n\n\n\nnext", "plain text\n\nnext"),
        ("<p>One</p><p>Two &amp; three</p>", "One\nTwo & three"),
        ("<script>alert(1)</script>Safe", "Safe"),
        ("a <br> b", "a\n b".replace("\n ", "\n")),
        ("x < y and y > z", "x < y and y > z"),
        ("<img src=x onerror=alert(1)>caption", "caption"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_markdown_to_text_drops_markup() -> None:
    text = markdown_to_text(
        "## Heading\n\nSome **bold** and a [link](https://x.example).\n\n- item"
    )
    assert text == "Heading\n\nSome bold and a link.\n\nitem"


@pytest.mark.parametrize(
    ("n", "size", "overlap", "first", "expected"),
    [
        (5, 10, 2, None, [(0, 5)]),
        (10, 10, 2, None, [(0, 10)]),
        (20, 10, 2, None, [(0, 10), (8, 18), (10, 20)]),
        (25, 10, 0, None, [(0, 10), (10, 20), (15, 25)]),
        (30, 8, 2, 12, [(0, 12), (10, 18), (16, 24), (22, 30)]),
    ],
)
def test_token_windows(
    n: int, size: int, overlap: int, first: int | None, expected: list[tuple[int, int]]
) -> None:
    windows = token_windows(n, size, overlap, first)
    assert windows == expected
    # Every token is covered and no window is larger than allowed.
    covered = set().union(*(range(a, b) for a, b in windows))
    assert covered == set(range(n))
    assert windows[0][1] - windows[0][0] <= (first or size)
    assert all(b - a <= size for a, b in windows[1:])
