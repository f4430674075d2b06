"""Running the app: gunicorn for production, Flask's dev server for ``--debug``."""

from __future__ import annotations

import logging
from typing import Any

from recommender.config import Settings

from .app import create_app

log = logging.getLogger(__name__)


def run(settings: Settings, debug: bool = False) -> None:
    """Serve the API on ``settings.host:settings.port`` until interrupted."""
    if debug:
        create_app(settings).run(host=settings.host, port=settings.port, debug=True)
        return
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": settings.workers,
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": "info",
                "timeout": 120,
                # Each worker loads the snapshot after the fork, so reloads stay per-process.
                "preload_app": False,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app(settings)

    log.info(
        "serving on http://%s:%d with %d workers", settings.host, settings.port, settings.workers
    )
    _Server().run()
