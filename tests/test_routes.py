"""What a route declares is what it does: the ``security=`` that ``/openapi.json``
documents is the key check the server makes, and the routes declared ``@cached``
are the ones answering with an ETag. Both walk the app's own routes, so a new
route is checked without being named here."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from service.kept import ANSWER_RULES

from .conftest import AUTH, assert_problem

# Values for the path parameters: an article that exists, a job and an experiment
# that do not (the request must get past the guard, not succeed).
PATH_VALUES = {"article_id": "sleep-0", "job_id": "no-such-job", "experiment_id": "no-such-test"}


def documented_requests(app: Flask, spec: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """``(method, documented path, url, operation)`` of every route the app serves
    that the document describes, ``HEAD`` of a ``GET`` route included."""
    found = []
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<", "{").replace(">", "}")
        if path not in spec["paths"]:
            continue  # the document itself, the editor and the widget: not the API
        url = rule.build(PATH_VALUES, append_unknown=False)[1]
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            operation = spec["paths"][path]["get" if method == "HEAD" else method.lower()]
            found.append((method, path, url, operation))
    return found


def test_a_route_needs_a_key_exactly_when_it_declares_security(
    app: Flask, client: FlaskClient
) -> None:
    spec = client.get("/openapi.json").get_json()
    secured, public = set(), set()
    for method, path, url, operation in documented_requests(app, spec):
        anonymous = client.open(url, method=method)
        if "security" in operation:
            assert operation["security"] == [{"bearer": []}]
            secured.add((method, path))
            assert anonymous.status_code == 401, (method, url)
            if method != "HEAD":  # a HEAD answer has no body to read
                assert assert_problem(anonymous, 401)["type"] == "/problems/unauthorized"
            wrong = client.open(url, method=method, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 403, (method, url)
        else:
            public.add((method, path))
            # A key changes nothing for a public route (no bodies: nothing is written).
            keyed = client.open(url, method=method, headers=AUTH)
            assert anonymous.status_code == keyed.status_code, (method, url)
            assert anonymous.status_code not in {401, 403}, (method, url)
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    # Every documented operation was requested (HEAD besides), and each was one or the other.
    assert {(m, p) for m, p in secured | public if m != "HEAD"} == documented
    assert ("PUT", "/v1/articles/{article_id}") in secured
    assert ("GET", "/v1/articles/{article_id}/rules") in secured
    assert ("HEAD", "/v1/rules/excludes") in secured
    assert ("GET", "/v1/articles/{article_id}") in public
    assert ("POST", "/v1/events") in public


def test_the_routes_declared_cached_are_the_ones_answering_with_an_etag(
    app: Flask, client: FlaskClient
) -> None:
    spec = client.get("/openapi.json").get_json()
    tagged = set()
    for method, path, url, _ in documented_requests(app, spec):
        if method != "GET":
            continue
        response = client.get(url, headers=AUTH)
        if "ETag" in response.headers:
            tagged.add(path)
            again = client.get(url, headers={**AUTH, "If-None-Match": response.headers["ETag"]})
            assert again.status_code == 304, url
    assert tagged == {
        "/v1/articles",
        "/v1/articles/{article_id}",
        "/v1/articles/{article_id}/related",
        "/v1/articles/{article_id}/featured",
        "/v1/articles/{article_id}/recommendations",
    }
    # What the WSGI layer in front of the app serves from the cache is among them.
    kept = {rule.replace("<", "{").replace(">", "}") for rule in ANSWER_RULES.values()}
    assert kept <= tagged
