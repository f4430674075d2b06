"""A/B tests of ranking knobs (recommender/experiments.py): variants checked and
assigned by bucket, stored with the editorial rules on both backends, served over
HTTP by the reader's bucket, stopped with a variant promoted to the default."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from recommender import Settings
from recommender.errors import ExperimentConflict, ExperimentNotFound, InvalidRule
from recommender.experiments import (
    BUCKETS,
    Experiment,
    Variant,
    check_experiment,
    compare_variants,
)
from recommender.rules import RuleStore

from .conftest import AUTH, assert_problem, make_app, topic_records


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The problem+json body, checked to be of ``status`` and type ``slug``."""
    body = assert_problem(response, status)
    assert body["type"] == f"/problems/{slug}", body
    return body


STRICT = {"min_score": 0.99}  # every item falls short: the fallback fills the lists
TWO = [Variant("control"), Variant("strict", STRICT)]


@pytest.mark.parametrize(
    ("experiment_id", "variants", "field", "message"),
    [
        ("has space", TWO, "id", "1–64 letters"),
        ("-dash-first", TWO, "id", "1–64 letters"),
        ("one", [Variant("a")], "variants", "2 to 8 variants"),
        ("nine", [Variant(f"v{i}") for i in range(9)], "variants", "2 to 8 variants"),
        ("twice", [Variant("a"), Variant("a")], "variants.1.name", "'a' is named twice"),
        ("reserved", [Variant("a"), Variant("default")], "variants.1.name", "not 'default'"),
        ("zero", [Variant("a"), Variant("b", share=0)], "variants.1.share", "above 0"),
        ("knob", [Variant("a"), Variant("b", {"k": 3})], "variants.1.knobs.k", "not a knob"),
        (
            "range",
            [Variant("a", {"mmr_lambda": 1.5}), Variant("b")],
            "variants.0.knobs.mmr_lambda",
            "1",
        ),
        (
            "tiny",
            [Variant("a", share=1.0), Variant("b", share=1e-6)],
            "variants",
            "at least 1/10000",
        ),
    ],
)
def test_variants_that_cannot_hold_are_refused_naming_the_field(
    experiment_id: str, variants: list[Variant], field: str, message: str
) -> None:
    with pytest.raises(InvalidRule, match=message) as raised:
        check_experiment(experiment_id, variants)
    assert raised.value.field == field


def test_shares_are_weights_and_buckets_follow_them() -> None:
    variants = check_experiment("split", [Variant("a", share=3), Variant("b", share=1)])
    assert [v.share for v in variants] == [0.75, 0.25]
    experiment = Experiment("split", variants)
    counts = Counter(experiment.variant_for(bucket).name for bucket in range(BUCKETS))
    assert counts["a"] == pytest.approx(7500, abs=150)
    assert counts["a"] + counts["b"] == BUCKETS
    # The same bucket always gets the same variant; another experiment splits anew.
    assert [experiment.variant_for(7).name for _ in range(3)] == [
        experiment.variant_for(7).name
    ] * 3
    other = Experiment("other", variants)
    moved = sum(experiment.variant_for(b).name != other.variant_for(b).name for b in range(BUCKETS))
    assert moved > 2000


def test_variants_are_compared_with_the_control() -> None:
    control, same, better = compare_variants([("A", 4000, 200), ("B", 4000, 210), ("C", 4000, 320)])
    assert control.p_value is None and not control.significant
    assert control.ctr == 0.05 and control.interval[0] < 0.05 < control.interval[1]
    assert not same.significant and same.p_value is not None and same.p_value > 0.5
    assert better.significant and better.p_value is not None and better.p_value < 1e-5
    assert better.to_json()["ctr_95"][0] > control.to_json()["ctr_95"][1]
    (empty, none) = compare_variants([("A", 0, 0), ("B", 0, 0)])
    assert (empty.ctr, empty.interval, none.p_value) == (0.0, (0.0, 1.0), None)


def test_experiments_are_stored_with_the_rules(backend_settings: Settings) -> None:
    from recommender.state import open_state

    state = open_state(backend_settings)
    rules = state.rules
    assert isinstance(rules, RuleStore) or backend_settings.database_url
    before = rules.version()
    rules.start_experiment("first", TWO, "alice")
    assert rules.version() > before
    running = rules.load().experiment
    assert running is not None and running.id == "first" and running.who == "alice"
    assert [v.share for v in running.variants] == [0.5, 0.5]
    with pytest.raises(ExperimentConflict, match="'first' is running"):
        rules.start_experiment("second", TWO, "bob")
    with pytest.raises(InvalidRule, match="no variant 'nope'"):
        rules.stop_experiment("first", "nope", "alice")
    with pytest.raises(ExperimentNotFound):
        rules.stop_experiment("missing", None, "alice")
    rules.stop_experiment("first", "strict", "alice")
    loaded = rules.load()
    assert loaded.experiment is None and loaded.knobs == {"min_score": 0.99}
    stopped = rules.experiments()[0]
    assert (stopped.status, stopped.promoted) == ("stopped", "strict")
    assert stopped.stopped is not None
    with pytest.raises(ExperimentConflict, match="stopped already"):
        rules.stop_experiment("first", None, "alice")
    with pytest.raises(ExperimentConflict, match="exists already"):
        rules.start_experiment("first", TWO, "alice")
    rules.reset_knobs("carol")
    assert rules.load().knobs == {}
    actions = [entry.action for entry in rules.history(limit=10)]
    assert actions[:4] == ["reset-knob", "serve-knob", "stop-experiment", "start-experiment"]
    for close in state.closers:
        close()


@pytest.fixture
def client(backend_settings: Settings, write_jsonl: Callable[..., Path]) -> FlaskClient:
    return make_app(backend_settings, write_jsonl(topic_records())).test_client()


def bucket_of(experiment_id: str, variant: str) -> int:
    experiment = Experiment(experiment_id, check_experiment(experiment_id, TWO))
    return next(b for b in range(BUCKETS) if experiment.variant_for(b).name == variant)


def answer(client: FlaskClient, bucket: int | None = None) -> dict[str, Any]:
    url = "/v1/articles/sleep-0/recommendations?k=3"
    response = client.get(url if bucket is None else f"{url}&bucket={bucket}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def rules_of(body: dict[str, Any]) -> list[Any]:
    return [item["explanation"]["rule"] for item in body["related"]]


def test_readers_get_their_buckets_variant(client: FlaskClient) -> None:
    plain = answer(client, bucket_of("ab", "strict"))
    assert plain["variant"] == "default" and rules_of(plain) == [None, None, None]
    body = {"id": "ab", "variants": [{"name": "control"}, {"name": "strict", "knobs": STRICT}]}
    started = client.post("/v1/rules/experiments", json=body, headers=AUTH)
    assert started.status_code == 201, started.get_data(as_text=True)
    assert started.get_json()["status"] == "running"
    assert started.headers["Cache-Control"] == "no-store"
    strict = answer(client, bucket_of("ab", "strict"))
    control = answer(client, bucket_of("ab", "control"))
    assert strict["variant"] == "ab/strict" and rules_of(strict) == ["fallback"] * 3
    assert control["variant"] == "ab/control" and control["related"] == plain["related"]
    # Without a bucket: the served knobs, whatever runs.
    assert answer(client)["variant"] == "default"
    for path in ("related", "featured"):
        url = f"/v1/articles/sleep-0/{path}?k=2&bucket={bucket_of('ab', 'strict')}"
        assert client.get(url).get_json()["variant"] == "ab/strict"


def test_stopping_promotes_a_variant_to_the_default(client: FlaskClient) -> None:
    body = {"id": "ab", "variants": [{"name": "control"}, {"name": "strict", "knobs": STRICT}]}
    client.post("/v1/rules/experiments", json=body, headers=AUTH)
    stop = client.post("/v1/rules/experiments/ab/stop", json={"promote": "strict"}, headers=AUTH)
    assert stop.status_code == 200, stop.get_data(as_text=True)
    assert (stop.get_json()["status"], stop.get_json()["promoted"]) == ("stopped", "strict")
    promoted = answer(client, bucket_of("ab", "control"))
    assert promoted["variant"] == "default" and rules_of(promoted) == ["fallback"] * 3
    knobs = client.get("/v1/rules/knobs", headers=AUTH).get_json()
    assert knobs["promoted"] == {"min_score": 0.99} and knobs["knobs"]["min_score"] == 0.99
    assert client.delete("/v1/rules/knobs", headers=AUTH).status_code == 204
    assert rules_of(answer(client)) == [None, None, None]
    listed = client.get("/v1/rules/experiments", headers=AUTH).get_json()["experiments"]
    assert [e["id"] for e in listed] == ["ab"]
    assert client.get("/v1/rules/experiments/ab", headers=AUTH).get_json()["promoted"] == "strict"


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "kind", "field"),
    [
        (
            "post",
            "/v1/rules/experiments",
            {"id": "x", "variants": [{"name": "a"}]},
            422,
            "invalid-body",
            "variants",
        ),
        (
            "post",
            "/v1/rules/experiments",
            {"id": "x", "variants": [{"name": "a"}, {"name": "b", "knobs": {"mmr_lambda": 2}}]},
            422,
            "invalid-rule",
            "variants.1.knobs.mmr_lambda",
        ),
        (
            "post",
            "/v1/rules/experiments",
            {"id": "x", "variants": [{"name": "a"}, {"name": "b", "share": -1}]},
            422,
            "invalid-body",
            "variants.1.share",
        ),
        ("post", "/v1/rules/experiments/missing/stop", {}, 404, "experiment-not-found", None),
        ("get", "/v1/rules/experiments/missing", None, 404, "experiment-not-found", None),
    ],
)
def test_bad_experiment_requests_are_problems(
    client: FlaskClient,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    status: int,
    kind: str,
    field: str | None,
) -> None:
    response = getattr(client, method)(url, json=body, headers=AUTH)
    body = problem(response, status, kind)
    if field is not None:
        assert body.get("field") == field, body


def test_a_second_experiment_waits_for_the_first(client: FlaskClient) -> None:
    body = {"id": "one", "variants": [{"name": "a"}, {"name": "b"}]}
    assert client.post("/v1/rules/experiments", json=body, headers=AUTH).status_code == 201
    again = client.post("/v1/rules/experiments", json={**body, "id": "two"}, headers=AUTH)
    assert "'one' is running" in problem(again, 409, "experiment-conflict")["detail"]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/v1/rules/experiments"),
        ("post", "/v1/rules/experiments"),
        ("get", "/v1/rules/experiments/x"),
        ("post", "/v1/rules/experiments/x/stop"),
        ("get", "/v1/rules/knobs"),
        ("delete", "/v1/rules/knobs"),
    ],
)
def test_experiment_routes_need_a_key(client: FlaskClient, method: str, url: str) -> None:
    problem(getattr(client, method)(url, json={}), 401, "unauthorized")


def test_a_bucket_out_of_range_is_a_bad_parameter(client: FlaskClient) -> None:
    for bucket in (-1, BUCKETS, "x"):
        response = client.get(f"/v1/articles/sleep-0/related?bucket={bucket}")
        problem(response, 400, "invalid-parameter")


def send_events(client: FlaskClient, events: list[dict[str, Any]]) -> None:
    """Post ``events`` as the widget does (text/plain beacons), 50 per batch."""
    for start in range(0, len(events), 50):
        batch = json.dumps({"events": events[start : start + 50]})
        response = client.post("/v1/events", data=batch, content_type="text/plain;charset=UTF-8")
        assert response.status_code == 202, response.get_data(as_text=True)


def views(variant: str, shown: int, clicked: int) -> list[dict[str, Any]]:
    """``shown`` views of a related block showing sleep-1 and sleep-2 under sleep-0,
    and ``clicked`` clicks on sleep-1, all under ``variant``."""
    base = {"source": "sleep-0", "block": "related", "variant": variant}
    items = [{"shown": "sleep-1", "position": 1}, {"shown": "sleep-2", "position": 2}]
    return [{"type": "impression", **base, "items": items}] * shown + [
        {"type": "click", **base, "shown": "sleep-1", "position": 1}
    ] * clicked


def test_results_compare_the_variants_by_their_events(client: FlaskClient) -> None:
    body = {"id": "ab", "variants": [{"name": "control"}, {"name": "strict", "knobs": STRICT}]}
    client.post("/v1/rules/experiments", json=body, headers=AUTH)
    assert answer(client, bucket_of("ab", "strict"))["variant"] == "ab/strict"
    send_events(client, views("ab/control", 100, 10) + views("ab/strict", 100, 60))
    send_events(client, views("earlier/control", 100, 90))  # another experiment's variant
    results = client.get("/v1/rules/experiments/ab", headers=AUTH).get_json()["results"]
    control, strict = results["related"]
    assert (control["variant"], control["impressions"], control["clicks"]) == ("control", 200, 10)
    assert (strict["variant"], strict["impressions"], strict["clicks"]) == ("strict", 200, 60)
    assert control["ctr"] == 0.05 and strict["ctr"] == 0.3
    assert control["p_value"] is None and strict["significant"] and strict["p_value"] < 1e-6
    assert strict["ctr_95"][0] > control["ctr_95"][1]
    assert [r["impressions"] for r in results["featured"]] == [0, 0]


def test_click_through_from_events_reaches_items_and_the_boost(client: FlaskClient) -> None:
    engine = client.application.extensions["recommender"].get()
    plain = answer(client)["related"]
    last = plain[-1]["id"]
    assert "ctr" not in plain[0]["explanation"]
    base = {"source": "sleep-0", "block": "related", "variant": "default"}
    shown = [{"shown": item["id"], "position": n} for n, item in enumerate(plain, 1)]
    events = [{"type": "impression", **base, "items": shown}] * 100
    events += [{"type": "click", **base, "shown": last, "position": len(plain)}] * 40
    events += [{"type": "click", **base, "shown": plain[0]["id"], "position": 1}] * 5
    send_events(client, events)
    assert engine.refresh_clicks() is not None
    items = answer(client)["related"]
    explained = {item["id"]: item["explanation"] for item in items}
    assert explained[last]["impressions"] == 100.0 and explained[last]["clicks"] == 40.0
    assert explained[last]["ctr"] > explained[plain[0]["id"]]["ctr"]
    assert all(e["ctr_boost"] == 1.0 for e in explained.values()), "the boost is off by default"
    boosted = client.get("/v1/articles/sleep-0/related?k=3&ctr_weight=2").get_json()["items"]
    assert boosted[0]["id"] == last and boosted[0]["explanation"]["ctr_boost"] > 1.0
