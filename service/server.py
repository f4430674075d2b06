"""Running the app: gunicorn for production, Flask's dev server for ``--debug``."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from recommender import EmbeddingProcess, Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def run(settings: Settings, debug: bool = False) -> None:
    """Serve the API on ``settings.host:settings.port`` until interrupted."""
    if debug:
        from .app import create_app

        create_app(settings).run(host=settings.host, port=settings.port, debug=True)
        return
    # Workers add their metrics up through files in this directory. It must be set
    # before prometheus_client is first imported (the CLI sets it before importing us).
    if MULTIPROC_ENV not in os.environ:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="recommender-metrics-")
    metrics_dir = os.environ[MULTIPROC_ENV]
    try:
        _gunicorn(settings)
    finally:
        if Path(metrics_dir).name.startswith("recommender-metrics-"):
            shutil.rmtree(metrics_dir, ignore_errors=True)


def for_workers(settings: Settings, cores: int) -> Settings:
    """The settings each server worker runs with: unless RECOMMENDER_ENCODE_THREADS
    says otherwise, a model pass (in the embedding process, or in the one worker)
    uses one worker's share of the ``cores`` (at least one). Reads share the cores:
    a PUT embedding on both cores of a 2-core machine starved the other worker's
    reads (docs/benchmarks.md, live changes)."""
    if settings.encode_threads:
        return settings
    return settings.replace(encode_threads=max(1, cores // settings.workers))


def _gunicorn(settings: Settings) -> None:
    worker_settings = for_workers(settings, os.cpu_count() or 1)
    if settings.workers < 2:
        _serve_gunicorn(settings, worker_settings, None)
        return
    # One process holds the model for every worker (0.4 GB each otherwise): started
    # first, so a worker's warm-up finds it listening.
    embedding = EmbeddingProcess(
        settings.model, settings.batch_size, threads=worker_settings.encode_threads or None
    )
    embedding.start()
    # Started again if it dies: otherwise PUTs and drafts would answer 503 until a
    # restart of the whole server.
    embedding.watch(warm=bool(settings.api_key_list))
    try:
        _serve_gunicorn(settings, worker_settings, embedding)
    finally:
        embedding.stop()


def _serve_gunicorn(
    settings: Settings, worker_settings: Settings, embedding: EmbeddingProcess | None
) -> None:
    from gunicorn.app.base import BaseApplication

    from .app import create_app

    def when_ready(server: Any) -> None:
        # The sockets are bound now: name the real address, which differs from the
        # settings with port 0 (the kernel picks a free port; the tests rely on it).
        for listener in server.LISTENERS:
            server.log.info("serving on %s with %d workers", listener, settings.workers)

    def post_worker_init(worker: Any) -> None:
        # Load the snapshot, and the model when writes are possible, before traffic
        # needs them (see EngineHolder.warm_up).
        worker.wsgi.extensions["recommender"].warm_up()

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": settings.workers,
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": "info",
                "timeout": 120,
                "graceful_timeout": 20,
                # Each worker loads the snapshot after the fork and follows new ones itself.
                "preload_app": False,
                "when_ready": when_ready,
                "child_exit": child_exit,
                "post_worker_init": post_worker_init,
                # gunicorn 27's control socket is not needed to run the API.
                "control_socket_disable": True,
            }
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            # Runs in each worker after the fork: each gets its own connection.
            embedder = embedding.client() if embedding is not None else None
            return create_app(worker_settings, embedder=embedder)

    Server().run()
