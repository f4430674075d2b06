"""The editor page and the widget in a real browser: headless Chromium (Debian's,
installed by ``make browser``) driven by Playwright, against the real gunicorn
server on loopback, with the widget embedded by a page on another origin.

Every test saves a screenshot: under ``docs/screenshots/`` (which the docs show)
with ``make screenshots``, which sets ``SCREENSHOTS_DIR``; otherwise in a directory
of the test run's own, so running the suite never rewrites tracked files.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from recommender import Settings
from recommender.experiments import Experiment, Variant

from .servers import call, copy_index, refused_port, running_server
from .test_server import UCHIYAMA

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.real_model]

KEY = "browser-test-key"
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="recommender-screenshots-")
)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling home, which fails (and waits) off-line.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS_TITLE = "<img src=x onerror=alert(1)>"
# Chromium itself logs every failed network load; no script can prevent that, so only
# these may appear. Anything a script logs, or throws, fails the test.
NETWORK_LOG = "Failed to load resource"
TIMEOUT_MS = 30_000
WORKER_COUNT = 1  # one worker loads the model once for drafts and writes


def chromium_path() -> str | None:
    """Chromium from RECOMMENDER_CHROMIUM, Debian's package, or the PATH."""
    candidates = [os.environ.get("RECOMMENDER_CHROMIUM", ""), "/usr/bin/chromium"]
    candidates += [shutil.which(name) or "" for name in ("chromium", "chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        except Error as error:
            pytest.skip(f"Chromium at {path} cannot be launched: {error}")
        yield chromium
        chromium.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A stand-in for the news site: static files on another loopback origin."""
    root = tmp_path_factory.mktemp("site")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def api(
    bundled_index: Settings,
    site: tuple[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The real server (one gunicorn worker) on a copy of the bundled index."""
    index_dir = copy_index(bundled_index.index_dir, tmp_path_factory.mktemp("browser-api"))
    with running_server(
        index_dir,
        workers=WORKER_COUNT,
        secret=KEY,
        api_keys=KEY,
        cors_origins=site[0],
        reload_interval="0.5",
    ) as base:
        yield base


@dataclass
class Tab:
    """A page plus everything it reported: console errors, page errors, dialogs."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    console_warnings: list[str] = field(default_factory=list)
    network_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def screenshot(self, name: str, full_page: bool = False) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)

    def assert_quiet(self) -> None:
        assert not self.console_errors, self.console_errors
        assert not self.page_errors, self.page_errors
        assert not self.dialogs, self.dialogs


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    yield from open_tab(browser)


@pytest.fixture
def reader(browser: Any) -> Iterator[Tab]:
    """A tab that introduces itself as Chromium does when not headless: the events
    route drops "HeadlessChrome" as a bot, as it should."""
    major = browser.version.split(".")[0]
    user_agent = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )
    yield from open_tab(browser, user_agent=user_agent)


def open_tab(browser: Any, **options: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, **options)
    context.set_default_timeout(TIMEOUT_MS)
    tab = Tab(context.new_page())

    def on_console(message: Any) -> None:
        if message.type == "warning":
            tab.console_warnings.append(message.text)
        if message.type == "error":
            text = f"{message.text} ({message.location.get('url')})"
            bucket = tab.network_errors if message.text.startswith(NETWORK_LOG) else None
            (bucket if bucket is not None else tab.console_errors).append(text)

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.page.on("console", on_console)
    tab.page.on("pageerror", lambda error: tab.page_errors.append(str(error)))
    tab.page.on("dialog", on_dialog)
    yield tab
    context.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def item_ids(page: Any, selector: str) -> list[str]:
    return [str(i) for i in page.locator(f"{selector} .item").evaluate_all(ITEM_IDS)]


ITEM_IDS = "nodes => nodes.map(n => n.dataset.id)"
# Every inline event handler in the page, as "TAG onevent". Markup that slipped in
# from article data would carry one (the probe title's <img onerror>): none present
# means none can fire, whenever we look, which waiting for a dialog cannot show.
INLINE_HANDLERS = """() => [...document.querySelectorAll('*')].flatMap(
    element => [...element.attributes]
        .filter(attribute => attribute.name.startsWith('on'))
        .map(attribute => `${element.tagName} ${attribute.name}`))"""


def write_site_page(site: tuple[str, Path], name: str, body: str) -> str:
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<link rel='icon' href='data:,'><title>A news site</title>"
        "<style>body{font-family:Georgia,serif;max-width:44rem;margin:2rem auto;"
        "padding:0 1rem}</style></head>"
        f"<body><h1>Botox in addition to intense rehab</h1><p>The article text.</p>{body}"
        "</body></html>"
    )
    (site[1] / name).write_text(html, encoding="utf-8")
    return f"{site[0]}/{name}"


# -- the editor ----------------------------------------------------------------------------


def test_search_open_an_article_and_see_both_blocks(tab: Tab, api: str) -> None:
    page = tab.page
    page.goto(f"{api}/editor")
    expect(page.locator("#index-status")).to_contain_text("articles")
    status = call(f"{api}/v1/status")[2]
    expect(page.locator("#index-status")).to_contain_text(status["index_version"])
    page.fill("#search", "intense rehab")
    option = page.locator(f"#search-results [role=option][data-id='{UCHIYAMA}']")
    option.click()
    expect(page.locator("#article-title")).to_have_text(
        "Botox in addition to intense rehab helps chronic stroke patients"
    )
    current = page.locator("#column-current")
    expect(current.locator(".block").nth(0).locator(".item").first).to_be_visible()
    related = item_ids(page, "#column-current .block:nth-of-type(1)")
    featured = item_ids(page, "#column-current .block:nth-of-type(2)")
    # The editor asks for the whole explanation, shared terms and field split included.
    answer = call(f"{api}/v1/articles/{UCHIYAMA}/recommendations?explain=true")[2]
    assert related == [i["id"] for i in answer["related"]]
    assert featured == [i["id"] for i in answer["featured"]] and featured
    first = current.locator(".item").first
    shown_score = float(first.locator(".score").inner_text())
    assert shown_score == pytest.approx(answer["related"][0]["score"], abs=0.0006)
    # Every explanation field the API sends is shown, whatever fields exist.
    shown = [key.replace("_", " ") for key in answer["related"][0]["explanation"]]
    expect(first.locator(".explanation dt")).to_have_text(shown)
    expect(current.locator(".badge.featured")).to_have_count(len(featured))
    tab.screenshot("editor-article.png")
    tab.assert_quiet()


def test_a_knob_changes_the_second_column_only(tab: Tab, api: str) -> None:
    page = tab.page
    page.goto(f"{api}/editor#article={UCHIYAMA}")
    expect(page.locator("#column-current .item").first).to_be_visible()
    before = item_ids(page, "#column-current")
    top = before[0]
    page.fill("#knob-exclude", top)
    page.fill("#knob-min_score", "0.3")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#column-knobs .column-summary")).to_have_text(
        f"min_score = 0.3 · exclude = {top}"
    )
    expect(page.locator("#column-knobs .item").first).to_be_visible()
    after = item_ids(page, "#column-knobs")
    assert top not in after and after != before
    assert item_ids(page, "#column-current") == before  # live settings untouched
    scores = page.locator("#column-knobs .score").all_inner_texts()
    assert all(float(s) >= 0.3 for s in scores)
    page.locator("#article-panel").scroll_into_view_if_needed()
    tab.screenshot("editor-knobs.png")
    tab.assert_quiet()


def test_preview_a_draft(tab: Tab, api: str) -> None:
    page = tab.page
    page.goto(f"{api}/editor")
    page.fill("#draft-title", "Toxin shots for a stiff ankle after stroke")
    page.fill(
        "#draft-body",
        "Botulinum toxin injections into the calf eased spasticity, and with stretching "
        "people walked further.",
    )
    page.fill("#draft-tags", "spasticity, botulinum-toxin")
    page.get_by_role("button", name="Preview picks").click()
    results = page.locator("#draft-results")
    expect(results.locator(".item").first).to_be_visible(timeout=60_000)
    titles = " ".join(results.locator(".block").first.locator(".item-title").all_inner_texts())
    assert "botox" in titles.lower()
    page.locator("#draft-heading").scroll_into_view_if_needed()
    tab.screenshot("editor-draft.png")
    tab.assert_quiet()


def test_keyboard_only(tab: Tab, api: str) -> None:
    page = tab.page
    keyboard = page.keyboard
    page.goto(f"{api}/editor")
    expect(page.locator("#index-status")).to_contain_text("articles")

    def focused() -> dict[str, Any]:
        return dict(
            page.evaluate(
                """() => { const e = document.activeElement, s = getComputedStyle(e);
                return {id: e.id, tag: e.tagName, text: e.textContent.trim(),
                        column: e.closest('.column') ? e.closest('.column').id : '',
                        outline: s.outlineStyle, width: parseFloat(s.outlineWidth),
                        visible: e.matches(':focus-visible')}; }"""
            )
        )

    keyboard.press("Tab")
    assert focused()["id"] == "search"
    keyboard.type("botox")
    keyboard.press("Enter")  # nothing highlighted yet: Enter searches at once
    options = page.locator("#search-results [role=option]")
    expect(options.first).to_be_visible()
    assert focused()["id"] == "search"
    keyboard.press("ArrowDown")
    keyboard.press("ArrowDown")
    keyboard.press("ArrowUp")
    search = page.locator("#search")
    expect(search).to_have_attribute("aria-activedescendant", "search-option-0")
    expect(options.first).to_have_attribute("aria-selected", "true")
    title = options.first.evaluate("o => o.firstChild.textContent")
    keyboard.press("Enter")
    expect(page.locator("#article-title")).to_have_text(title)
    expect(page.locator("#column-current .item").first).to_be_visible()
    expect(page.locator("#article-title")).to_be_focused()
    state = focused()
    assert state["id"] == "article-title" and state["outline"] != "none" and state["width"] >= 2
    # Tab on to the first item of the current list: a real link, with a visible ring.
    for _ in range(30):
        keyboard.press("Tab")
        state = focused()
        if state["column"] == "column-current":
            break
    assert state["tag"] == "A" and state["column"] == "column-current", state
    assert state["visible"] and state["outline"] == "solid" and state["width"] >= 2, state
    tab.screenshot("editor-keyboard.png")
    keyboard.press("Enter")  # opens that related article
    expect(page.locator("#article-title")).to_have_text(state["text"])
    expect(page.locator("#article-title")).to_be_focused()
    tab.assert_quiet()


def test_pin_and_block_then_undo(tab: Tab, api: str) -> None:
    page = tab.page
    page.goto(f"{api}/editor#article={UCHIYAMA}")
    related = "#column-current .block:nth-of-type(1)"
    expect(page.locator(f"{related} .item").first).to_be_visible()
    # The key is typed once for the tab; edit controls appear only with it.
    expect(page.get_by_role("button", name="Pin to top")).to_have_count(0)
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.get_by_role("button", name="Pin to top").first).to_be_visible()
    assert KEY not in page.url
    before = item_ids(page, related)
    third, second = before[2], before[1]
    # Pin the third item to the top: it leads the list at once, marked as pinned.
    page.locator(f"{related} .item").nth(2).get_by_role("button", name="Pin to top").click()
    expect(page.locator(f"{related} .item").first).to_contain_text(
        call(f"{api}/v1/articles/{third}")[2]["title"]
    )
    assert item_ids(page, related)[0] == third
    expect(page.locator("#rules-body")).to_contain_text(f"{third} at position 1")
    # Block the old second item: it is gone from the list.
    page.locator(f"{related} .item").filter(
        has_text=call(f"{api}/v1/articles/{second}")[2]["title"]
    ).get_by_role("button", name="Block").click()
    expect(page.locator("#rules-body")).to_contain_text(second)
    assert second not in item_ids(page, related)
    # Readers see the same through the public API, without a reindex.
    public = [i["id"] for i in call(f"{api}/v1/articles/{UCHIYAMA}/related?k=5")[2]["items"]]
    assert public[0] == third and second not in public
    tab.screenshot("editor-rules.png")
    # Undo both from the rules panel.
    page.locator("#rules-body").get_by_role("button", name="Unpin").click()
    expect(page.locator("#rules-body")).to_contain_text("No pins.")
    page.locator("#rules-body").get_by_role("button", name="Unblock").click()
    expect(page.locator("#rules-body")).to_contain_text("No blocks.")
    assert item_ids(page, related) == before
    tab.assert_quiet()


# -- A/B tests and readers' signals in the editor -----------------------------------------------

AUTH = {"Authorization": f"Bearer {KEY}"}


def use_key(page: Any) -> None:
    """Type the key, from the A/B test panel's button (the key box hides until asked)."""
    page.get_by_role("button", name="Enter the API key").click()
    expect(page.get_by_label("API key")).to_be_focused()
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Use key").click()


def clean_experiments(api: str) -> None:
    """Stop whatever test still runs and serve the settings' knobs again: the server is
    shared by the module's tests, whose rankings must not change."""
    for experiment in call(f"{api}/v1/rules/experiments", headers=AUTH)[2]["experiments"]:
        if experiment["status"] == "running":
            stop = f"{api}/v1/rules/experiments/{experiment['id']}/stop"
            assert call(stop, "POST", {}, AUTH)[0] == 200
    assert call(f"{api}/v1/rules/knobs", "DELETE", headers=AUTH)[0] == 204


def fill_variant(page: Any, index: int, name: str, knobs: dict[str, str]) -> None:
    page.fill(f"#variant-{index}-name", name)
    for knob, value in knobs.items():
        page.fill(f"#variant-{index}-knob-{knob}", value)


def test_start_an_experiment_then_promote_a_variant_and_reset(tab: Tab, api: str) -> None:
    page = tab.page
    settings_mmr = call(f"{api}/v1/rules/knobs", headers=AUTH)[2]["knobs"]["mmr_lambda"]
    page.goto(f"{api}/editor")
    panel = page.locator("#experiments-panel")
    # Without a key the panel says what it needs, and offers no form.
    expect(page.locator("#experiments-key")).to_contain_text("A/B tests need the API key")
    expect(page.locator("#key-form")).to_be_hidden()
    expect(page.locator("#experiment-form")).to_be_hidden()
    expect(page.locator("#experiments-list")).to_be_hidden()
    use_key(page)
    expect(page.locator("#experiment-form")).to_be_visible()
    expect(page.locator("#served-knobs")).to_contain_text("No knob promoted")
    variants = page.locator("#experiment-variants fieldset.variant")
    expect(variants.locator("legend")).to_have_text(["Variant 1 (control)", "Variant 2"])
    # Variants come and go (2 to 8); a removed one takes its values with it.
    page.get_by_role("button", name="Add variant").click()
    expect(page.locator("#variant-2-name")).to_be_focused()
    expect(page.locator("#variant-2-name")).to_have_value("C")
    page.fill("#variant-1-knob-ctr_weight", "2")
    page.get_by_role("button", name="Remove variant 2").click()
    expect(variants.locator("legend")).to_have_text(["Variant 1 (control)", "Variant 2"])
    expect(page.locator("#variant-1-name")).to_have_value("C")
    expect(page.locator("#variant-1-knob-ctr_weight")).to_have_value("")
    expect(page.get_by_role("button", name="Remove variant 2")).to_have_count(0)  # 2 at least
    try:
        page.fill("#experiment-id", "editor-ab-1")
        fill_variant(page, 1, "B", {"mmr_lambda": "0.6", "tag_boost": "0.3"})
        page.get_by_role("button", name="Start test").click()
        card = panel.locator("article.experiment[data-id='editor-ab-1']")
        expect(card.locator(".badge.status")).to_have_text("running")
        rows = card.locator("table.variants tbody tr")
        expect(rows.locator("th")).to_have_text(["A", "B"])
        expect(rows.locator("td:nth-child(2)")).to_have_text(["50%", "50%"])
        expect(rows.locator("td:nth-child(3)")).to_have_text(
            ["served knobs", "tag_boost = 0.3 · mmr_lambda = 0.6"]
        )
        expect(card.locator(".no-results")).to_have_text("No events counted yet.")
        expect(page.locator("#experiments-message")).to_have_text("Started editor-ab-1.")
        listed = call(f"{api}/v1/rules/experiments", headers=AUTH)[2]["experiments"][0]
        assert (listed["id"], listed["status"]) == ("editor-ab-1", "running")
        assert [v["knobs"] for v in listed["variants"]] == [
            {},
            {"mmr_lambda": 0.6, "tag_boost": 0.3},
        ]
        page.locator("#experiments-heading").evaluate("e => e.scrollIntoView()")
        tab.screenshot("editor-experiments.png")

        # Promoting asks first, in the page; Cancel leaves it running.
        card.get_by_role("button", name="Stop and promote B").click()
        expect(card.locator(".confirm")).to_contain_text(
            "Stop editor-ab-1 and serve variant B's knobs (tag_boost = 0.3 · mmr_lambda = 0.6)"
        )
        expect(card.get_by_role("button", name="Confirm")).to_be_focused()
        card.get_by_role("button", name="Cancel").click()
        expect(card.locator(".confirm")).to_have_count(0)
        assert call(f"{api}/v1/rules/experiments/editor-ab-1", headers=AUTH)[2]["status"] == (
            "running"
        )
        card.get_by_role("button", name="Stop and promote B").click()
        card.get_by_role("button", name="Confirm").click()
        expect(card.locator(".badge.status")).to_have_text("stopped")
        expect(card.locator("h4")).to_be_focused()
        expect(card.locator(".hint").first).to_contain_text("B made the default")
        expect(card.get_by_role("button", name="Stop test")).to_have_count(0)
        served = page.locator("#served-knobs")
        promoted = served.locator("tr.promoted")
        expect(promoted.locator("th")).to_have_text(["tag_boost", "mmr_lambda"])
        expect(promoted.locator("td:nth-child(2)")).to_have_text(["0.3", "0.6"])
        expect(promoted.locator(".badge.promoted")).to_have_count(2)
        knobs = call(f"{api}/v1/rules/knobs", headers=AUTH)[2]
        assert knobs["promoted"] == {"mmr_lambda": 0.6, "tag_boost": 0.3}
        assert knobs["knobs"]["mmr_lambda"] == 0.6

        # Reset: the settings' knobs are served again.
        served.get_by_role("button", name="Reset to the settings' knobs").click()
        expect(served).to_contain_text("No knob promoted")
        expect(page.locator("#served-heading")).to_be_focused()
        expect(served.locator("tr.promoted")).to_have_count(0)
        expect(served.locator("tr[data-knob='mmr_lambda'] td").first).to_have_text(
            f"{settings_mmr:g}"
        )
        assert call(f"{api}/v1/rules/knobs", headers=AUTH)[2]["promoted"] == {}
        tab.assert_quiet()
    finally:
        clean_experiments(api)


@pytest.mark.parametrize(
    ("fill", "field", "label"),
    [
        ({"#variant-1-knob-tag_boost": "5"}, "variants.1.knobs.tag_boost", "Variant 2, Tag boost"),
        (
            {"#variant-0-knob-mmr_lambda": "-1"},
            "variants.0.knobs.mmr_lambda",
            "Variant 1 (control), Diversity",
        ),
        ({"#variant-1-share": "0"}, "variants.1.share", "Variant 2, Share (weight)"),
        ({"#variant-1-name": "A"}, "variants.1.name", "Variant 2, Name"),
        ({"#experiment-id": "no spaces allowed"}, "id", "Experiment id"),
    ],
)
def test_an_invalid_experiment_shows_the_api_error_naming_the_field(
    tab: Tab, api: str, fill: dict[str, str], field: str, label: str
) -> None:
    page = tab.page
    page.goto(f"{api}/editor")
    use_key(page)
    expect(page.locator("#experiment-form")).to_be_visible()
    before = call(f"{api}/v1/rules/experiments", headers=AUTH)[2]["experiments"]
    page.fill("#experiment-id", "editor-invalid")
    for selector, value in fill.items():
        page.fill(selector, value)
    page.get_by_role("button", name="Start test").click()
    error = page.locator("#experiment-error")
    expect(error).to_be_visible()
    # The same body straight to the API: the page shows its problem, with the label.
    typed = {"#experiment-id": "editor-invalid", "#variant-0-name": "A", "#variant-1-name": "B"}
    typed |= fill
    variants = []
    for n in (0, 1):
        knobs = {
            selector.rsplit("-knob-", 1)[1]: float(value)
            for selector, value in typed.items()
            if selector.startswith(f"#variant-{n}-knob-")
        }
        share = float(typed.get(f"#variant-{n}-share", "1"))
        variants.append({"name": typed[f"#variant-{n}-name"], "share": share, "knobs": knobs})
    status, _, problem, _ = call(
        f"{api}/v1/rules/experiments",
        "POST",
        {"id": typed["#experiment-id"], "variants": variants},
        AUTH,
    )
    assert status == 422 and problem["field"] == field
    assert problem["detail"].startswith(f"{field}: ")
    expect(error).to_have_text(
        re.compile(rf"^{re.escape(label)}.*: {re.escape(problem['detail'])}$")
    )
    invalid = page.locator("[aria-invalid='true']")
    expect(invalid).to_have_count(1)
    expect(invalid).to_have_attribute("data-field", field)
    expect(invalid).to_be_focused()
    expect(invalid).to_have_attribute("aria-describedby", "experiment-error")
    assert call(f"{api}/v1/rules/experiments", headers=AUTH)[2]["experiments"] == before
    tab.assert_quiet()


CANNED_RESULTS = {
    "related": [
        {
            "variant": "A",
            "impressions": 10000,
            "clicks": 300,
            "ctr": 0.03,
            "ctr_95": [0.026842, 0.033512],
            "p_value": None,
            "significant": False,
        },
        {
            "variant": "B",
            "impressions": 10000,
            "clicks": 380,
            "ctr": 0.038,
            "ctr_95": [0.034437, 0.041917],
            "p_value": 0.00187,
            "significant": True,
        },
        {
            "variant": "C",
            "impressions": 9000,
            "clicks": 280,
            "ctr": 0.031111,
            "ctr_95": [0.027734, 0.034883],
            "p_value": 0.66,
            "significant": False,
        },
    ],
    "featured": [
        {
            "variant": "A",
            "impressions": 4000,
            "clicks": 200,
            "ctr": 0.05,
            "ctr_95": [0.04367, 0.057187],
            "p_value": None,
            "significant": False,
        },
        {
            "variant": "B",
            "impressions": 0,
            "clicks": 0,
            "ctr": 0.0,
            "ctr_95": [0.0, 1.0],
            "p_value": None,
            "significant": False,
        },
        {
            "variant": "C",
            "impressions": 4100,
            "clicks": 150,
            "ctr": 0.036585,
            "ctr_95": [0.031262, 0.042778],
            "p_value": 0.0000041,
            "significant": True,
        },
    ],
}


def test_experiment_results_per_block(tab: Tab, api: str) -> None:
    # Results exist only once readers' events are counted (another part of issue 14):
    # a canned list, answered in the browser, shows how the page reads them.
    canned = {
        "experiments": [
            {
                "id": "canned-abc",
                "status": "running",
                "variants": [
                    {"name": name, "knobs": {}, "share": 1 / 3} for name in ("A", "B", "C")
                ],
                "started": "2026-11-30T09:00:00+00:00",
                "stopped": None,
                "promoted": None,
                "who": "editor",
                "results": CANNED_RESULTS,
            }
        ]
    }
    page = tab.page
    page.route(
        re.compile(r"/v1/rules/experiments$"),
        lambda route: route.fulfill(json=canned, headers={"Cache-Control": "no-store"}),
    )
    page.goto(f"{api}/editor")
    use_key(page)
    card = page.locator("article.experiment[data-id='canned-abc']")
    expect(card).to_be_visible()
    related = card.locator("table.results[data-block='related']")
    expect(related.locator("caption")).to_have_text("Related articles: click-through by variant")
    expect(related.locator("tbody th")).to_have_text(["A (control)", "B", "C"])
    expect(related.locator("tbody td:nth-child(2)")).to_have_text(["10,000", "10,000", "9,000"])
    expect(related.locator("tbody td:nth-child(3)")).to_have_text(["300", "380", "280"])
    expect(related.locator("tbody td:nth-child(4)")).to_have_text(["3.00%", "3.80%", "3.11%"])
    expect(related.locator("tbody td:nth-child(5)")).to_have_text(
        ["2.68% – 3.35%", "3.44% – 4.19%", "2.77% – 3.49%"]
    )
    expect(related.locator("tbody .verdict")).to_have_text(
        [
            "–",
            "B is better than A, p = 0.002",
            "C against A: no significant difference yet (p = 0.66)",
        ]
    )
    featured = card.locator("table.results[data-block='featured']")
    expect(featured.locator("tbody .verdict")).to_have_text(
        ["–", "B against A: not enough impressions yet", "C is worse than A, p < 0.001"]
    )
    card.evaluate("e => e.scrollIntoView()")
    tab.screenshot("editor-experiment-results.png")
    tab.assert_quiet()


BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SIGNAL_KEYS = {"ctr", "ctr_boost", "impressions", "clicks"}
NEIGHBOUR = "botox-therapy-costs-insurance"  # a bundled article other than UCHIYAMA


def send_events(api: str, events: list[dict[str, Any]]) -> None:
    """Post ``events`` to the real server as a browser would, 10 per batch."""
    for start in range(0, len(events), 10):
        batch = {"events": events[start : start + 10]}
        status, _, counted, _ = call(
            f"{api}/v1/events", "POST", batch, {"User-Agent": BROWSER_AGENT}
        )
        assert (status, counted) == (202, {"counted": len(batch["events"])})


def test_experiment_results_from_real_events(tab: Tab, api: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    body = {"id": "real-ab", "variants": [{"name": "A"}, {"name": "B"}]}
    assert call(f"{api}/v1/rules/experiments", "POST", body, auth)[0] == 201
    try:
        base = {"source": UCHIYAMA, "block": "related"}
        events = []
        for variant, clicks in (("A", 2), ("B", 12)):
            tagged = {**base, "variant": f"real-ab/{variant}"}
            items = [{"shown": NEIGHBOUR, "position": 1}]
            events += [{"type": "impression", **tagged, "items": items}] * 40
            events += [{"type": "click", **tagged, "shown": NEIGHBOUR, "position": 1}] * clicks
        send_events(api, events)
        page = tab.page
        page.goto(f"{api}/editor")
        use_key(page)
        card = page.locator("article.experiment[data-id='real-ab']")
        related = card.locator("table.results[data-block='related']")
        expect(related.locator("tbody th")).to_have_text(["A (control)", "B"])
        expect(related.locator("tbody td:nth-child(2)")).to_have_text(["40", "40"])
        expect(related.locator("tbody td:nth-child(3)")).to_have_text(["2", "12"])
        expect(related.locator("tbody td:nth-child(4)")).to_have_text(["5.00%", "30.00%"])
        expect(related.locator("tbody .verdict").nth(1)).to_contain_text("B is better than A")
        tab.assert_quiet()
    finally:
        call(f"{api}/v1/rules/experiments/real-ab/stop", "POST", {}, auth)


def count_text(value: float) -> str:
    """A decayed count as the editor prints it: at most one decimal, grouped."""
    return f"{round(value, 1):,.1f}".removesuffix(".0")


def test_reader_signals_and_the_most_clicked_view(tab: Tab, api: str) -> None:
    """Events sent to the real server, estimated at once (admin reload), shown per item
    and in the "most clicked" order."""
    page = tab.page
    ranked = [
        item["id"]
        for item in call(f"{api}/v1/articles/{UCHIYAMA}/recommendations?explain=true")[2]["related"]
    ]
    assert len(ranked) >= 5
    base = {"source": UCHIYAMA, "block": "related", "variant": "default"}
    shown = [{"shown": article_id, "position": n} for n, article_id in enumerate(ranked, 1)]
    events = [{"type": "impression", **base, "items": shown}] * 40
    events += [{"type": "click", **base, "shown": ranked[3], "position": 4}] * 10
    events += [{"type": "click", **base, "shown": ranked[1], "position": 2}] * 3
    send_events(api, events)
    auth = {"Authorization": f"Bearer {KEY}"}
    status, _, reloaded, _ = call(f"{api}/v1/admin/reload", "POST", None, auth)
    assert status == 200 and reloaded["click_through"] is True
    real = call(f"{api}/v1/articles/{UCHIYAMA}/recommendations?explain=true")[2]
    assert [item["id"] for item in real["related"]] == ranked, "the boost is off: same order"

    page.goto(f"{api}/editor#article={UCHIYAMA}")
    related = page.locator("#column-current .block").first
    items = related.locator(".item")
    expect(items.first).to_be_visible()
    assert item_ids(page, "#column-current .block:nth-of-type(1)") == ranked
    fourth = items.nth(3)
    expect(fourth.locator(".signals dt")).to_have_text(
        ["impressions", "clicks", "click-through", "ctr boost"]
    )
    # Other tests of this module count events on the same server: read what it counted.
    explained = {item["id"]: item["explanation"] for item in real["related"]}
    fourth_counts = explained[ranked[3]]
    assert fourth_counts["clicks"] >= 10 and fourth_counts["impressions"] >= 40
    expect(fourth.locator(".signals dd")).to_have_text(
        [
            count_text(fourth_counts["impressions"]),
            count_text(fourth_counts["clicks"]),
            f"{fourth_counts['ctr']:.2%}",
            "× 1",
        ]
    )
    expect(items.nth(2).locator(".signals dd").nth(1)).to_have_text(
        count_text(explained[ranked[2]]["clicks"])
    )
    # The other parts stay as they were.
    others = [k for k in real["related"][1]["explanation"] if k not in SIGNAL_KEYS]
    expect(items.nth(1).locator(".explanation:not(.signals) dt")).to_have_text(
        [key.replace("_", " ") for key in others]
    )

    toggle = related.get_by_role("button", name="Most clicked first")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    most = sorted(ranked, key=lambda i: (-round(explained[i]["clicks"], 1), ranked.index(i)))
    assert item_ids(page, "#column-current .block:nth-of-type(1)") == most
    counts = [f"{count_text(explained[i]['clicks'])} clicks" for i in most]
    expect(related.locator(".click-count")).to_have_text(counts)
    expect(related.locator(".ranked")).to_have_text([f"ranked {ranked.index(i) + 1}" for i in most])
    related.scroll_into_view_if_needed()
    tab.screenshot("editor-most-clicked.png")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert item_ids(page, "#column-current .block:nth-of-type(1)") == ranked
    expect(related.locator(".click-count")).to_have_count(0)
    tab.assert_quiet()


# -- the widget ------------------------------------------------------------------------------


def test_widget_on_another_origin_shows_both_blocks(
    tab: Tab, api: str, site: tuple[str, Path]
) -> None:
    url = write_site_page(
        site,
        "article.html",
        f'<div data-related-article="{UCHIYAMA}" data-k="3"></div>'
        f'<script src="{api}/widget.js" async></script>',
    )
    assert not url.startswith(api)
    page = tab.page
    page.goto(url)
    host = page.locator("[data-related-article]")
    expect(host).to_have_attribute("data-rc-state", "ready")
    answer = call(f"{api}/v1/articles/{UCHIYAMA}/recommendations?k=3")[2]
    for kind, heading in (("related", "Related articles"), ("featured", "Featured")):
        section = host.locator(f"section.rc-{kind}")
        labelled_by = section.get_attribute("aria-labelledby")
        expect(page.locator(f"#{labelled_by}")).to_have_text(heading)
        expect(section.locator("h2")).to_have_text(heading)
        links = section.locator("ul > li.rc-item > a.rc-link")
        expect(links).to_have_count(len(answer[kind]))
        expect(links).to_have_text([i["title"] for i in answer[kind]])
        hrefs = [links.nth(n).get_attribute("href") for n in range(links.count())]
        assert hrefs == [i["url"] for i in answer[kind]]
    featured = host.locator("section.rc-featured .rc-item")
    expect(featured.locator(".rc-label")).to_have_text(["Featured article"] * featured.count())
    expect(host.locator(".rc-teaser").first).to_have_text(answer["related"][0]["summary"])
    expect(page.locator("#rc-widget-style")).to_have_count(1)
    tab.screenshot("widget.png", full_page=True)
    tab.assert_quiet()
    assert not tab.network_errors


def test_widget_renders_nothing_when_the_api_fails(
    tab: Tab, api: str, site: tuple[str, Path]
) -> None:
    with refused_port() as port:
        closed = f"http://127.0.0.1:{port}"
        url = write_site_page(
            site,
            "down.html",
            f'<div id="down" data-related-article="{UCHIYAMA}" data-api="{closed}"></div>'
            '<div id="unknown" data-related-article="no-such-article"></div>'
            f'<script src="{api}/widget.js" async></script><p id="after">Comments</p>',
        )
        page = tab.page

        def failed_load(address: str) -> Any:
            # The browser's note of a failed load reaches us as its own event, in no
            # fixed order with the page's state: wait for each note itself.
            return page.expect_console_message(
                lambda message: (
                    message.text.startswith(NETWORK_LOG)
                    and address in message.location.get("url", "")
                )
            )

        with failed_load(closed), failed_load("no-such-article"):
            page.goto(url)
        for host in ("#down", "#unknown"):
            expect(page.locator(host)).to_have_attribute("data-rc-state", "error")
            assert page.locator(host).evaluate("e => e.childNodes.length") == 0
    expect(page.locator(".rc-widget")).to_have_count(0)
    expect(page.locator("#rc-widget-style")).to_have_count(0)
    tab.screenshot("widget-api-down.png")
    tab.assert_quiet()  # only the browser's own note of each failed load
    assert len(tab.network_errors) == 2, tab.network_errors


def canned_answer(site: tuple[str, Path], article_id: str, answer: dict[str, Any]) -> None:
    """Serve ``answer`` as the site's own /v1/articles/<id>/recommendations (a static file)."""
    folder = site[1] / "v1" / "articles" / article_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recommendations").write_text(json.dumps(answer), encoding="utf-8")


def canned_item(article_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": article_id, "title": f"Title of {article_id}", "summary": "", **fields}


def test_widget_warns_once_about_items_it_cannot_link(
    tab: Tab, api: str, site: tuple[str, Path]
) -> None:
    # Canned answers from the site's own origin: exact counts, whatever the index holds.
    good = "https://news.example.org/articles/"
    canned_answer(
        site,
        "mixed",
        {
            "related": [
                canned_item("a", url=good + "a"),
                canned_item("b", url=None),
                canned_item("c"),  # no url member at all
                canned_item("d", url="javascript:alert(1)"),
            ],
            "featured": [canned_item("e", url=None), canned_item("f", url=good + "f")],
        },
    )
    canned_answer(site, "unlinked", {"related": [canned_item("g", url=None)], "featured": []})
    canned_answer(
        site,
        "linked",
        {"related": [canned_item("h", url=good + "h")], "featured": []},
    )
    url = write_site_page(
        site,
        "canned.html",
        f'<div id="mixed" data-related-article="mixed" data-api="{site[0]}"></div>'
        f'<div id="unlinked" data-related-article="unlinked" data-api="{site[0]}"></div>'
        f'<div id="linked" data-related-article="linked" data-api="{site[0]}"></div>'
        f'<script src="{api}/widget.js" async></script>',
    )
    page = tab.page
    page.goto(url)
    expect(page.locator("#mixed")).to_have_attribute("data-rc-state", "ready")
    expect(page.locator("#unlinked")).to_have_attribute("data-rc-state", "empty")
    expect(page.locator("#linked")).to_have_attribute("data-rc-state", "ready")
    expect(page.locator("#mixed .rc-link")).to_have_text(["Title of a", "Title of f"])
    assert sorted(tab.console_warnings) == [
        'recommender widget: left out 1 item for article "unlinked": 1 without a url '
        "(set RECOMMENDER_URL_TEMPLATE on the API server)",
        'recommender widget: left out 4 items for article "mixed": 3 without a url '
        "(set RECOMMENDER_URL_TEMPLATE on the API server); 1 whose url is not http(s)",
    ]
    tab.assert_quiet()


def test_widget_warns_about_an_article_without_url_from_the_api(
    tab: Tab, api: str, site: tuple[str, Path]
) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    unlinked = {
        "title": "Botulinum toxin and calf stretching: a clinic note",
        "body": "Botulinum toxin injections into the calf eased spasticity after stroke, "
        "and daily stretching kept the ankle supple.",
        "tags": ["spasticity", "botulinum-toxin"],
        "published": "2025-01-04",
    }
    status, _, body, _ = call(f"{api}/v1/articles/no-url-probe", "PUT", unlinked, auth)
    assert status in (200, 201), body
    try:
        answer = call(f"{api}/v1/articles/{UCHIYAMA}/recommendations?k=50")[2]
        missing = [i for i in answer["related"] + answer["featured"] if not i["url"]]
        assert [i["id"] for i in missing] == ["no-url-probe"]
        url = write_site_page(
            site,
            "unlinked.html",
            f'<div data-related-article="{UCHIYAMA}" data-k="50"></div>'
            f'<script src="{api}/widget.js" async></script>',
        )
        tab.page.goto(url)
        host = tab.page.locator("[data-related-article]")
        expect(host).to_have_attribute("data-rc-state", "ready")
        shown = len(answer["related"]) + len(answer["featured"]) - 1
        expect(host.locator(".rc-link")).to_have_count(shown)
        assert tab.console_warnings == [
            f'recommender widget: left out 1 item for article "{UCHIYAMA}": 1 without a url '
            "(set RECOMMENDER_URL_TEMPLATE on the API server)"
        ]
        tab.assert_quiet()
    finally:
        assert call(f"{api}/v1/articles/no-url-probe", "DELETE", headers=auth)[0] == 204


def write_picture(site: tuple[str, Path], name: str) -> str:
    """A 320×180 PNG on the site's origin, where a site keeps its thumbnails."""
    from PIL import Image

    Image.new("RGB", (320, 180), (40, 110, 170)).save(site[1] / name)
    return f"{site[0]}/{name}"


# Whether an <img> has loaded a picture (not merely been given a source).
LOADED = "image => image.complete && image.naturalWidth > 0"


def test_thumbnails_render_with_their_size_and_title(
    tab: Tab, api: str, site: tuple[str, Path]
) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    picture = write_picture(site, "calf.png")
    probe = {
        "title": "Calf stretching after botulinum toxin: a picture story",
        "body": "Botulinum toxin injections into the calf eased spasticity after stroke, "
        "and daily stretching kept the ankle supple.",
        "url": "https://news.example.org/articles/thumbnail-probe",
        "tags": ["spasticity", "botulinum-toxin"],
        "published": "2025-01-05",
        "image": picture,
    }
    status, _, body, _ = call(f"{api}/v1/articles/thumbnail-probe", "PUT", probe, auth)
    assert status in (200, 201), body
    try:
        answer = call(f"{api}/v1/articles/{UCHIYAMA}/recommendations?k=50")[2]
        shown = answer["related"] + answer["featured"]
        assert [i["id"] for i in shown if i["image"]] == ["thumbnail-probe"]
        url = write_site_page(
            site,
            "thumbnails.html",
            f'<div id="default" data-related-article="{UCHIYAMA}" data-k="50"></div>'
            f'<div id="sized" data-related-article="{UCHIYAMA}" data-k="50" '
            'data-image-width="120" data-image-height="80"></div>'
            f'<script src="{api}/widget.js" async></script>',
        )
        page = tab.page
        page.goto(url)
        for host, (width, height) in (("#default", (160, 90)), ("#sized", (120, 80))):
            expect(page.locator(host)).to_have_attribute("data-rc-state", "ready")
            images = page.locator(f"{host} .rc-item img")
            expect(images).to_have_count(1)  # the articles without an image show none
            image = page.locator(f"{host} .rc-item", has_text=probe["title"]).locator("img")
            expect(image).to_have_attribute("src", picture)
            expect(image).to_have_attribute("alt", probe["title"])
            expect(image).to_have_attribute("loading", "lazy")
            expect(image).to_have_attribute("width", str(width))
            expect(image).to_have_attribute("height", str(height))
            # The space is reserved at that size, loaded or not: the page does not jump.
            box = image.bounding_box()
            assert box is not None and (box["width"], box["height"]) == (width, height)
            image.scroll_into_view_if_needed()
            page.wait_for_function(LOADED, arg=image.element_handle())
        expect(page.locator("#default .rc-link")).to_have_count(len(shown))
        page.locator("#default .rc-item-image").scroll_into_view_if_needed()
        tab.screenshot("widget-thumbnails.png")
        assert not tab.network_errors  # every picture the widget asked for was there

        # The editor shows a small one beside the item (its page allows images elsewhere).
        page.goto(f"{api}/editor#article={UCHIYAMA}")
        page.fill("#knob-k", "50")
        page.get_by_role("button", name="Compare").click()
        item = page.locator("#column-knobs .item[data-id='thumbnail-probe']")
        thumb = item.locator("img.thumb")
        expect(thumb).to_have_attribute("src", picture)
        expect(page.locator("#column-knobs .item img")).to_have_count(1)
        item.scroll_into_view_if_needed()
        page.wait_for_function(LOADED, arg=thumb.element_handle())
        tab.screenshot("editor-thumbnail.png")
        tab.assert_quiet()
    finally:
        assert call(f"{api}/v1/articles/thumbnail-probe", "DELETE", headers=auth)[0] == 204


# -- escaping ---------------------------------------------------------------------------------


def test_article_markup_shows_as_text(tab: Tab, api: str, site: tuple[str, Path]) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    probe = {
        "title": XSS_TITLE,
        "summary": "<script>alert(2)</script> Botulinum toxin eases calf spasticity.",
        "body": "Botulinum toxin injections into stiff calf muscles after a stroke eased "
        "spasticity in a small clinic study, and walking practice did the rest.",
        "url": "https://news.example.org/articles/xss-probe",
        "tags": ["spasticity", "botulinum-toxin"],
        "published": "2025-01-02",
    }
    link_probe = {
        "title": "Botox clinics and spasticity: a link that must not be followed",
        "body": "Clinics offering botulinum toxin for spasticity after stroke differ in "
        "waiting times and follow-up physiotherapy.",
        "url": "javascript:alert(3)",
        "tags": ["spasticity"],
        "published": "2025-01-03",
    }
    for article_id, article in (("xss-probe", probe), ("xss-link", link_probe)):
        status, _, body, _ = call(f"{api}/v1/articles/{article_id}", "PUT", article, auth)
        assert status in (200, 201), body

    page = tab.page
    # The editor: in the type-ahead, as the open article, and in a list.
    page.goto(f"{api}/editor")
    page.fill("#search", "<img src")
    option = page.locator("#search-results [role=option][data-id='xss-probe']")
    expect(option).to_contain_text(XSS_TITLE)
    option.click()
    expect(page.locator("#article-title")).to_have_text(XSS_TITLE)
    page.goto(f"{api}/editor#article={UCHIYAMA}")
    page.fill("#knob-k", "50")
    page.get_by_role("button", name="Compare").click()
    knob_item = page.locator("#column-knobs .item[data-id='xss-probe']")
    expect(knob_item.locator(".item-title")).to_have_text(XSS_TITLE)
    stored = call(f"{api}/v1/articles/xss-probe")[2]
    assert stored["title"] == XSS_TITLE  # kept as typed; only the page decides how to show it
    expect(knob_item.locator(".teaser")).to_have_text(stored["summary"])
    expect(page.locator("main img")).to_have_count(0)
    expect(page.locator("main script")).to_have_count(0)
    expect(page.locator("a[href^='javascript:']")).to_have_count(0)
    assert page.evaluate(INLINE_HANDLERS) == []
    knob_item.scroll_into_view_if_needed()
    tab.screenshot("editor-xss.png")

    # The widget on the other origin.
    url = write_site_page(
        site,
        "xss.html",
        f'<div data-related-article="{UCHIYAMA}" data-k="50"></div>'
        f'<script src="{api}/widget.js" async></script>',
    )
    page.goto(url)
    expect(page.locator("[data-related-article]")).to_have_attribute("data-rc-state", "ready")
    link = page.locator(".rc-link", has_text=XSS_TITLE)
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", probe["url"])
    expect(page.locator(".rc-widget img, .rc-widget script")).to_have_count(0)
    # An item whose url is not http(s) is left out rather than linked.
    expect(page.locator(".rc-link", has_text="must not be followed")).to_have_count(0)
    expect(page.locator("a[href^='javascript:']")).to_have_count(0)
    assert page.evaluate(INLINE_HANDLERS) == []
    link.scroll_into_view_if_needed()
    tab.screenshot("widget-xss.png")
    tab.assert_quiet()

    for article_id in ("xss-probe", "xss-link"):
        assert call(f"{api}/v1/articles/{article_id}", "DELETE", headers=auth)[0] == 204


# -- reader events -------------------------------------------------------------------------


def shown_here(api: str, article_id: str) -> dict[str, tuple[float, float]]:
    """(impressions, clicks) of each article shown on ``article_id``'s page, per the API."""
    status, _, body, _ = call(
        f"{api}/v1/articles/{article_id}/events", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert status == 200, body
    return {row["shown"]: (row["impressions"], row["clicks"]) for row in body["shown_here"]}


def added(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> Any:
    """What ``after`` counts beyond ``before``, per shown id (decay since is below 1e-3)."""
    rounded = {}
    for shown, (impressions, clicks) in after.items():
        old = before.get(shown, (0.0, 0.0))
        delta = (round(impressions - old[0], 3), round(clicks - old[1], 3))
        if delta != (0.0, 0.0):
            rounded[shown] = delta
    return rounded


def is_event_post(api: str) -> Any:
    return lambda request: request.url == f"{api}/v1/events" and request.method == "POST"


def test_widget_counts_one_impression_per_block_then_a_click(
    reader: Tab, api: str, site: tuple[str, Path]
) -> None:
    url = write_site_page(
        site,
        "events.html",
        '<div id="spacer" style="height:2500px">The long article text.</div>'
        f'<div data-related-article="{UCHIYAMA}" data-k="3"></div>'
        f'<script src="{api}/widget.js" async></script>',
    )
    page = reader.page
    posts: list[Any] = []
    page.on(
        "request", lambda request: posts.append(request) if is_event_post(api)(request) else None
    )
    answer = call(f"{api}/v1/articles/{UCHIYAMA}/recommendations?k=3")[2]
    related = [item["id"] for item in answer["related"]]
    featured = [item["id"] for item in answer["featured"]]
    before = shown_here(api, UCHIYAMA)

    page.goto(url)
    host = page.locator("[data-related-article]")
    expect(host).to_have_attribute("data-rc-state", "ready")
    assert posts == []  # below the fold: not seen yet

    with page.expect_request(is_event_post(api)) as sent:
        host.scroll_into_view_if_needed()
    batch = json.loads(sent.value.post_data)
    assert batch == {
        "events": [
            {
                "type": "impression",
                "source": UCHIYAMA,
                "block": block,
                "variant": "default",
                "items": [{"shown": i, "position": n} for n, i in enumerate(ids, 1)],
            }
            for block, ids in (("related", related), ("featured", featured))
        ]
    }
    assert sent.value.response().status == 202  # counted before the answer
    impressions: dict[str, tuple[float, float]] = {}
    for shown in related + featured:
        impressions[shown] = (impressions.get(shown, (0.0, 0.0))[0] + 1.0, 0.0)
    assert added(before, shown_here(api, UCHIYAMA)) == impressions

    # Out of view and back: no second impression; the next event sent is a click.
    page.locator("#spacer").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    host.scroll_into_view_if_needed()
    links = host.locator("section.rc-related a.rc-link")
    opened, followed = answer["related"][0], answer["related"][1]
    for item in (opened, followed):
        page.context.route(item["url"], lambda route: route.fulfill(body="<p>the article</p>"))
    middle = shown_here(api, UCHIYAMA)
    # A middle click opens a tab and this page stays: the API's answer comes back here.
    with page.expect_request(is_event_post(api)) as opened_click:
        links.nth(0).click(button="middle")
    assert json.loads(opened_click.value.post_data) == click_event(opened["id"], 1)
    assert opened_click.value.response().status == 202
    assert added(middle, shown_here(api, UCHIYAMA)) == {opened["id"]: (0.0, 1.0)}
    # A plain click leaves the page: the beacon still goes as it unloads (its answer
    # reaches no page, so the count is checked above, on the middle click).
    with page.expect_request(is_event_post(api)) as followed_click:
        links.nth(1).click()
    assert json.loads(followed_click.value.post_data) == click_event(followed["id"], 2)
    expect(page.locator("p")).to_have_text("the article")  # the link was followed
    assert len(posts) == 3
    reader.assert_quiet()


def click_event(shown: str, position: int) -> dict[str, Any]:
    click = {"type": "click", "source": UCHIYAMA, "block": "related", "variant": "default"}
    return {"events": [{**click, "shown": shown, "position": position}]}


def test_widget_events_to_an_api_that_is_down_break_nothing(
    reader: Tab, api: str, site: tuple[str, Path]
) -> None:
    # The answer comes from the site's own origin, whose /v1/events is refused.
    good = "https://news.example.org/articles/"
    canned_answer(
        site,
        "counted",
        {"related": [canned_item("r1", url=good + "r1")], "featured": []},
    )
    url = write_site_page(
        site,
        "events-down.html",
        f'<div data-related-article="counted" data-api="{site[0]}"></div>'
        f'<script src="{api}/widget.js" async></script><p id="after">Comments</p>',
    )
    page = reader.page
    page.route(f"{site[0]}/v1/events", lambda route: route.abort("connectionrefused"))
    page.route(good + "r1", lambda route: route.fulfill(body="<p>the article</p>"))
    with page.expect_request(is_event_post(site[0])) as impression:
        page.goto(url)
    assert json.loads(impression.value.post_data)["events"][0]["type"] == "impression"
    host = page.locator("[data-related-article]")
    expect(host).to_have_attribute("data-rc-state", "ready")
    expect(host.locator("a.rc-link")).to_have_text(["Title of r1"])
    with page.expect_request(is_event_post(site[0])) as click:
        host.locator("a.rc-link").click()
    assert json.loads(click.value.post_data)["events"][0]["type"] == "click"
    expect(page.locator("p")).to_have_text("the article")  # the link was followed
    reader.assert_quiet()


def test_widget_keeps_its_tabs_bucket_and_tags_events_with_the_variant(
    reader: Tab, api: str, site: tuple[str, Path]
) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    body = {"id": "widget-ab", "variants": [{"name": "a"}, {"name": "b"}]}
    status, _, started, _ = call(f"{api}/v1/rules/experiments", "POST", body, auth)
    assert status == 201, started
    experiment = Experiment(
        "widget-ab", tuple(Variant(v["name"], v["knobs"], v["share"]) for v in started["variants"])
    )
    try:
        url = write_site_page(
            site,
            "ab.html",
            f'<div data-related-article="{UCHIYAMA}" data-k="2"></div>'
            f'<script src="{api}/widget.js" async></script>',
        )
        page = reader.page
        reads: list[str] = []
        page.on("request", lambda r: reads.append(r.url) if "/recommendations" in r.url else None)
        with page.expect_request(is_event_post(api)) as sent:
            page.goto(url)  # the block is in view at once: its impression follows
        bucket = int(parse_qs(urlsplit(reads[0]).query)["bucket"][0])
        assert 0 <= bucket < 10_000
        variant = experiment.tag(experiment.variant_for(bucket))
        events = json.loads(sent.value.post_data)["events"]
        assert {event["variant"] for event in events} == {variant}
        page.reload()
        expect(page.locator("[data-related-article]")).to_have_attribute("data-rc-state", "ready")
        assert len(reads) == 2 and f"bucket={bucket}" in reads[1], "one bucket per tab"
        reader.assert_quiet()
    finally:
        call(f"{api}/v1/rules/experiments/widget-ab/stop", "POST", {}, auth)
