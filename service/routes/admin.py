"""Background reindex jobs and reloads (every route needs a key)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask_openapi3.models.tag import Tag

from ..errors import ApiProblem
from ..schemas import JobOut, JobPath, JobStarted, ReindexBody, ReloadResult
from .common import SECURITY, blueprint, engine, problems

ADMIN = Tag(name="admin", description="Reindex jobs and reloads (key required).")

api = blueprint("admin", __name__)


@api.post(
    "/v1/admin/reindex",
    tags=[ADMIN],
    security=SECURITY,
    responses={202: JobStarted, **problems(400, 401, 403, 409, 415, 422)},
    summary="Start a background reindex of the configured sources",
)
def admin_reindex(body: ReindexBody) -> Any:
    job_id = current_app.extensions["recommender.jobs"].start_reindex(full=body.full)
    return jsonify({"job_id": job_id, "state": "queued", "url": f"/v1/admin/jobs/{job_id}"}), 202


@api.get(
    "/v1/admin/jobs/<job_id>",
    tags=[ADMIN],
    security=SECURITY,
    responses={200: JobOut, **problems(400, 401, 403, 404)},
    summary="State, progress and summary of a background job",
)
def admin_job(path: JobPath) -> Any:
    job = current_app.extensions["recommender.jobs"].get(path.job_id)
    if job is None:
        raise ApiProblem(404, "job-not-found", f"no job with id {path.job_id!r}")
    return jsonify(job.to_json())


@api.post(
    "/v1/admin/reload",
    tags=[ADMIN],
    security=SECURITY,
    responses={200: ReloadResult, **problems(401, 403, 415, 503)},
    summary="Load a newly published snapshot, and estimate the click-through rates, now "
    "(workers also poll for both)",
)
def admin_reload() -> Any:
    reloaded = engine().reload()
    estimated = engine().refresh_clicks() is not None
    return jsonify(
        {
            "reloaded": reloaded,
            "index_version": engine().index_version,
            "click_through": estimated,
        }
    )
