"""The serving baseline of `make bench-scale`: a bare Flask app under the same
gunicorn, answering ``GET /v1/articles/<id>/recommendations`` with one response
captured from the real server (the file named by ``$SCALE_BARE_BODY``).

    SCALE_BARE_BODY=body.json gunicorn -w 2 benchmarks.bare_flask:app

What it costs per request is what any Flask endpoint costs: routing, a response
object, the WSGI round trip. The engine's answers are compared with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response


def create_app(body_file: Path) -> Flask:
    """A Flask app returning the bytes of ``body_file`` as JSON for every article."""
    body = body_file.read_bytes()
    app = Flask(__name__)

    @app.get("/v1/articles/<article_id>/recommendations")
    def recommendations(article_id: str) -> Response:
        return Response(body, mimetype="application/json")

    @app.get("/readyz")
    def readyz() -> Response:
        return Response(b'{"status": "ready"}', mimetype="application/json")

    return app


app = create_app(Path(os.environ["SCALE_BARE_BODY"])) if "SCALE_BARE_BODY" in os.environ else None
