"""The browser-facing routes through Flask's test client (fake model): the status
route the editor reads, the editor page and its files, and the widget script.
What they do in a browser is tested in ``test_browser.py``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from recommender.config import PARAMETERS
from recommender.experiments import EXPERIMENT_KNOBS

STATIC = Path(__file__).resolve().parent.parent / "service" / "static"
WIDGET_LIMIT = 10 * 1024


def test_status_reports_what_is_served(client: FlaskClient) -> None:
    response = client.get("/v1/status")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    status = response.get_json()
    assert set(status) == {
        "index_version",
        "snapshot_version",
        "model_id",
        "articles",
        "created",
        "age_seconds",
    }
    assert status["index_version"].startswith(status["snapshot_version"] + "+")
    assert status["articles"] == 20 and status["age_seconds"] >= 0


def test_status_is_documented_and_the_pages_are_not(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "StatusResponse" in str(paths["/v1/status"]["get"]["responses"]["200"])
    assert not {"/editor", "/widget.js"} & set(paths)
    assert not [p for p in paths if p.startswith("/editor")]


def test_editor_page_and_its_files(client: FlaskClient) -> None:
    page = client.get("/editor")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    scripts = re.findall(r'src="([^"]+)"', html) + re.findall(r'href="(/[^"]+)"', html)
    assert "/editor/static/editor/main.js" in scripts
    for url in scripts:
        with client.get(url) as response:
            assert response.status_code == 200, url
    for module in (STATIC / "editor").glob("*.js"):
        with client.get(f"/editor/static/editor/{module.name}") as response:
            assert response.status_code == 200 and "javascript" in response.mimetype


def page_data(html: str, element_id: str) -> object:
    """The JSON the page hands its scripts in ``<script type="application/json">``."""
    found = re.search(rf'<script type="application/json" id="{element_id}">([^<]*)</script>', html)
    assert found, element_id
    return json.loads(found.group(1))


def test_editor_page_hands_over_the_experiment_knobs_with_their_limits(
    client: FlaskClient,
) -> None:
    html = client.get("/editor").get_data(as_text=True)
    knobs = page_data(html, "experiment-knobs")
    limits = page_data(html, "knob-limits")
    assert knobs == list(EXPERIMENT_KNOBS)
    assert isinstance(limits, dict)
    for knob in EXPERIMENT_KNOBS:
        declared = PARAMETERS[knob]
        low = declared.at_least if declared.at_least is not None else declared.above
        assert limits[knob] == {
            "label": declared.label,
            "min": low,
            "max": declared.at_most,
            "step": declared.step,
        }


def test_editor_page_has_the_experiments_panel(client: FlaskClient) -> None:
    html = client.get("/editor").get_data(as_text=True)
    # Shown by the script once the server answers; the API's errors land beside the form.
    assert re.search(r'<section id="experiments-panel"[^>]*\bhidden>', html)
    for element in ("experiment-form", "experiment-variants", "served-knobs", "experiments-list"):
        assert f'id="{element}"' in html
    assert '<p id="experiment-error" class="error" role="alert" hidden>' in html
    assert '<label for="experiment-id">' in html


def test_widget_script_is_small_cacheable_javascript(client: FlaskClient) -> None:
    with client.get("/widget.js") as response:
        assert response.status_code == 200
        assert response.mimetype == "application/javascript"
        assert response.cache_control.public and response.cache_control.max_age == 3600
        assert response.headers["ETag"]
        body = response.get_data()
    assert len(body) < WIDGET_LIMIT
    # Served minified: the source keeps its comments and names.
    source = (STATIC / "widget.js").read_text(encoding="utf-8")
    assert len(body) < len(source) and b"//" not in body.replace(b"://", b"")
    revalidated = client.get("/widget.js", headers={"If-None-Match": response.headers["ETag"]})
    assert revalidated.status_code == 304


@pytest.mark.parametrize("path", sorted(p.name for p in STATIC.rglob("*.js")))
def test_scripts_never_build_html_from_strings(path: str) -> None:
    # Article data must reach the DOM as text only: no HTML-parsing sinks at all.
    source = next(STATIC.rglob(path)).read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, f"{path} uses {sink}"
