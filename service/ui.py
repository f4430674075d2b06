"""Browser-facing pages: the editor preview page (``/editor``) and the embeddable
"Related articles" widget script (``/widget.js``).

They form a plain Flask blueprint, registered with Flask's own
``register_blueprint`` rather than flask-openapi3's route decorators: they serve
HTML and JavaScript, not the JSON API, so they stay out of ``/openapi.json``.
Both call the JSON API from the browser like any other client; nothing here
touches the engine.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import rjsmin
from flask import Blueprint, Response, make_response, render_template, request

from recommender import EXPERIMENT_KNOBS, PARAMETERS, REQUEST_KNOBS

STATIC = Path(__file__).with_name("static")
# Sites cache the widget for an hour; the ETag makes the revalidation after that cheap.
WIDGET_MAX_AGE = 3600
# The editor page loads only its own files and calls only its own origin: even a
# rendering bug could not run injected script or send data elsewhere. Images are the
# exception: thumbnails live on the site's own hosts or CDN, unknown here, and an image
# can neither run script nor read the page.
EDITOR_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https: http:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

ui = Blueprint(
    "ui",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/editor/static",
)


def knob_limits() -> dict[str, dict[str, object]]:
    """Label, limits and step of each numeric knob of the editor's forms (the
    comparison column's query parameters and the A/B variants' knobs): the setting
    of the same name as declared (:data:`recommender.config.PARAMETERS`)."""
    limits: dict[str, dict[str, object]] = {}
    # Each knob once, in order: the lists overlap.
    settings = {"k": "default_k"} | {
        knob: knob for knob in ("min_score", *REQUEST_KNOBS, *EXPERIMENT_KNOBS)
    }
    for name, setting in settings.items():
        declared = PARAMETERS[setting]
        low = declared.at_least if declared.at_least is not None else declared.above
        limits[name] = {"label": declared.label, "min": low, "max": declared.at_most}
        limits[name]["step"] = declared.step
    return limits


@ui.get("/editor")
def editor() -> Response:
    """The editor preview page (its scripts call the JSON API)."""
    response = make_response(
        render_template(
            "editor.html",
            knob_limits=knob_limits(),
            request_knobs=list(REQUEST_KNOBS),
            experiment_knobs=list(EXPERIMENT_KNOBS),
        )
    )
    response.headers["Content-Security-Policy"] = EDITOR_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-cache"
    return response


@functools.cache
def minified_widget() -> bytes:
    """The widget script as served: minified once per process (rjsmin), so the
    source can stay commented and readable while sites load under 10 KB."""
    minified: str = rjsmin.jsmin((STATIC / "widget.js").read_text(encoding="utf-8"))
    return minified.encode()


@ui.get("/widget.js")
def widget() -> Response:
    """The embeddable widget: one dependency-free script that any site may load."""
    body = minified_widget()
    response = make_response(body)
    response.mimetype = "application/javascript"
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = WIDGET_MAX_AGE
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Lets sites that isolate themselves (Cross-Origin-Embedder-Policy) load it too.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.make_conditional(request)  # 304 when the client's ETag still holds
    return response
