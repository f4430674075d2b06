"""What a user hits at once over HTTP (fake model, Flask's test client): every valid
id works in the URL path and in ``exclude``, ``RECOMMENDER_DEFAULT_K`` applies
wherever ``k`` is omitted, and ``RECOMMENDER_URL_TEMPLATE`` links articles that
have no ``url``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from recommender import Engine, Settings, cli
from recommender.articles import ID_MAX_LENGTH, ID_PATTERN
from recommender.corpus import load_corpus
from recommender.errors import InvalidArgument
from recommender.links import article_url, url_template_problem
from recommender.pipeline import build_index
from service import create_app

from .conftest import TOPICS, topic_records
from .fakes import FakeEmbedder

KEY = "details-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TAG_42 = "tag:example.org,2025:42"
TAG_43 = "tag:example.org,2025:43"
# An article whose id looks like a comma list of two other ids.
PAIR = "sleep-1,sleep-2"


def extra_records() -> list[dict[str, Any]]:
    """Sleep articles with ids that need care over HTTP (no url: see the template tests)."""
    return [
        {"id": TAG_42, "title": "Night shifts and sleep", "body": TOPICS["sleep"]},
        {"id": TAG_43, "title": "Snoring remedies", "body": TOPICS["sleep"]},
        {"id": PAIR, "title": "Two sleep studies", "body": TOPICS["sleep"]},
    ]


def make_client(settings: Settings, folder: Path, **overrides: Any) -> FlaskClient:
    settings = settings.replace(api_keys=KEY, **overrides)
    source = folder / "corpus.jsonl"
    records = topic_records() + extra_records()
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    embedder = FakeEmbedder()
    if not settings.index_dir.exists():
        build_index([source], settings, embedder)
    app: Flask = create_app(engine=Engine(settings, embedder=embedder))
    app.testing = True
    return app.test_client()


@pytest.fixture
def client(settings: Settings, tmp_path: Path) -> FlaskClient:
    return make_client(settings, tmp_path)


def ids_of(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# -- exclude -----------------------------------------------------------------------------

EXCLUDE_FORMS = {
    "one id": ("exclude=sleep-3", {"sleep-3"}),
    "comma list": ("exclude=sleep-3,sleep-4", {"sleep-3", "sleep-4"}),
    "comma list, encoded commas": ("exclude=sleep-3%2Csleep-4", {"sleep-3", "sleep-4"}),
    "repeated parameter": ("exclude=sleep-3&exclude=sleep-4", {"sleep-3", "sleep-4"}),
    "tag URI, percent-encoded": (f"exclude={quote(TAG_42, safe='')}", {TAG_42}),
    "tag URI, raw comma": (f"exclude={TAG_42}", {TAG_42}),
    "two tag URIs, repeated": (
        f"exclude={quote(TAG_42, safe='')}&exclude={quote(TAG_43, safe='')}",
        {TAG_42, TAG_43},
    ),
    "tag URI and a comma list, repeated": (
        f"exclude={quote(TAG_42, safe='')}&exclude=sleep-3,sleep-4",
        {TAG_42, "sleep-3", "sleep-4"},
    ),
    "an id that looks like a list is that id": (f"exclude={PAIR}", {PAIR}),
    "the two ids it looks like, repeated": (
        "exclude=sleep-1&exclude=sleep-2",
        {"sleep-1", "sleep-2"},
    ),
    "unknown parts are ignored": ("exclude=sleep-3,ghost&exclude=", {"sleep-3"}),
    "spaces around commas": ("exclude=sleep-3%20,%20sleep-4", {"sleep-3", "sleep-4"}),
}


@pytest.mark.parametrize("form", list(EXCLUDE_FORMS))
def test_exclude_forms(client: FlaskClient, form: str) -> None:
    query, excluded = EXCLUDE_FORMS[form]
    everything = ids_of(client.get("/v1/articles/sleep-0/related?k=50").get_json()["items"])
    assert excluded <= set(everything)
    for route in ("related", "featured", "recommendations"):
        body = client.get(f"/v1/articles/sleep-0/{route}?k=50&{query}").get_json()
        shown = ids_of(body.get("items", [])) + ids_of(body.get("related", []))
        shown += ids_of(body.get("featured", []))
        assert not excluded & set(shown), (route, shown)
    listed = ids_of(client.get(f"/v1/articles/sleep-0/related?k=50&{query}").get_json()["items"])
    assert sorted(listed) == sorted(set(everything) - excluded)


def test_exclude_is_a_repeatable_parameter_in_the_spec(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    parameters = spec["paths"]["/v1/articles/{article_id}/related"]["get"]["parameters"]
    exclude = next(p for p in parameters if p["name"] == "exclude")
    assert exclude["schema"]["type"] == "array"
    assert "Repeat the parameter" in exclude["description"]


def test_too_many_exclude_values_is_400(client: FlaskClient) -> None:
    query = "&".join(f"exclude=x{i}" for i in range(501))
    response = client.get(f"/v1/articles/sleep-0/related?{query}")
    assert response.status_code == 400 and response.get_json()["parameter"] == "exclude"


# -- any valid id over HTTP -----------------------------------------------------------------


def valid_id(value: str) -> bool:
    return (
        re.fullmatch(ID_PATTERN, value) is not None
        and len(value) <= ID_MAX_LENGTH
        and value not in {".", ".."}
    )


NOTABLE_IDS = [
    TAG_42,
    "%",
    "%41",
    "a%2Fb",
    "100%",
    "a+b",
    "a;b=c&d",
    "...",
    ".hidden",
    "~user",
    "it's",
    'say-"hi"',
    "<b>",
    "back\\slash",
    "emoji-\U0001f634",
    "zürich",
    "東京",
    "x" * ID_MAX_LENGTH,
]

IDS = st.one_of(
    st.sampled_from(NOTABLE_IDS),
    st.text(
        alphabet=st.characters(codec="utf-8"),
        min_size=1,
        max_size=ID_MAX_LENGTH,
    ).filter(valid_id),
)


@pytest.fixture
def id_client(settings: Settings, tmp_path: Path) -> Iterator[FlaskClient]:
    yield make_client(settings, tmp_path)


def test_every_valid_id_works_over_http(id_client: FlaskClient) -> None:
    """PUT, GET, related and exclude for ids drawn from the whole id rule, percent-encoded
    as a browser's encodeURIComponent would (Python's quote with no safe characters)."""
    client = id_client

    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(article_id=IDS)
    def check(article_id: str) -> None:
        path = "/v1/articles/" + quote(article_id, safe="")
        body = {"title": "Sleep probe", "body": TOPICS["sleep"], "tags": ["sleep"]}
        written = client.put(path, json=body, headers=AUTH)
        assert written.status_code in (200, 201), written.get_json()
        assert written.get_json()["id"] == article_id
        assert client.get(path).get_json()["id"] == article_id
        related = client.get(path + "/related?k=3")
        assert related.status_code == 200 and related.get_json()["article_id"] == article_id
        assert article_id not in ids_of(related.get_json()["items"])
        listed = ids_of(client.get("/v1/articles/sleep-0/related?k=50").get_json()["items"])
        assert article_id in listed
        excluded = client.get(
            f"/v1/articles/sleep-0/related?k=50&exclude={quote(article_id, safe='')}"
        )
        assert article_id not in ids_of(excluded.get_json()["items"])
        assert client.delete(path, headers=AUTH).status_code == 204

    check()


@pytest.mark.parametrize("bad_id", [".", ".."])
def test_dot_ids_are_refused_with_a_reason(
    client: FlaskClient, write_jsonl: Callable[..., Path], bad_id: str
) -> None:
    # Browsers resolve "." and ".." (even as %2E%2E) as folder steps, so no URL reaches them.
    reason = f"{bad_id!r} cannot be an id: URL clients read it as a folder step"
    loaded = load_corpus([write_jsonl([{"id": bad_id, "title": "T", "body": "b"}])])
    (rejection,) = loaded.rejections
    assert rejection.field == "id" and rejection.reason.startswith(reason)
    encoded = bad_id.replace(".", "%2E")
    response = client.put(f"/v1/articles/{encoded}", json={"title": "T", "body": "b"}, headers=AUTH)
    problem = response.get_json()
    assert response.status_code == 400 and problem["parameter"] == "article_id"
    assert problem["detail"].startswith(f"article_id: {reason}")


# -- RECOMMENDER_DEFAULT_K ------------------------------------------------------------------


@pytest.mark.parametrize("default_k", [2, 3])
def test_default_k_applies_to_every_route(
    settings: Settings, tmp_path: Path, default_k: int
) -> None:
    client = make_client(settings, tmp_path, default_k=default_k)
    assert len(client.get("/v1/articles/sleep-0/related").get_json()["items"]) == default_k
    assert len(client.get("/v1/articles/sleep-0/featured").get_json()["items"]) == default_k
    both = client.get("/v1/articles/sleep-0/recommendations").get_json()
    assert (len(both["related"]), len(both["featured"])) == (default_k, default_k)
    draft = client.post("/v1/recommendations", json={"title": "Night", "body": TOPICS["sleep"]})
    assert len(draft.get_json()["related"]) == default_k
    # An explicit k still wins.
    assert len(client.get("/v1/articles/sleep-0/related?k=5").get_json()["items"]) == 5


def test_default_k_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    parameters = spec["paths"]["/v1/articles/{article_id}/related"]["get"]["parameters"]
    k = next(p for p in parameters if p["name"] == "k")
    assert "RECOMMENDER_DEFAULT_K" in k["description"]
    assert k["schema"].get("default") is None  # the server's setting decides, not the spec
    draft = spec["components"]["schemas"]["DraftBody"]["properties"]["k"]
    assert "RECOMMENDER_DEFAULT_K" in draft["description"]


def test_default_k_on_the_command_line(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_client(settings, tmp_path)  # builds the index
    monkeypatch.setenv("RECOMMENDER_MODEL", "fake-bow")
    monkeypatch.setenv("RECOMMENDER_DEFAULT_K", "3")
    runner, where = CliRunner(), ["--index-dir", str(settings.index_dir)]
    for command in ("related", "featured"):
        result = runner.invoke(cli.main, [command, "sleep-0", "--json", *where])
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.output)["items"]) == 3
    out = tmp_path / "lists.jsonl"
    result = runner.invoke(cli.main, ["export", str(out), *where])
    assert result.exit_code == 0, result.output
    first = json.loads(out.read_text().splitlines()[0])
    assert len(first["related"]) == 3


# -- RECOMMENDER_URL_TEMPLATE ---------------------------------------------------------------

TEMPLATE = "https://news.example.org/a/{id}"


def test_url_template_links_every_item_without_url(settings: Settings, tmp_path: Path) -> None:
    client = make_client(settings, tmp_path, url_template=TEMPLATE)
    client.put(
        "/v1/articles/with-url",
        json={"title": "Linked", "body": TOPICS["sleep"], "url": "https://elsewhere.example/x"},
        headers=AUTH,
    )
    expected = {
        TAG_42: "https://news.example.org/a/tag%3Aexample.org%2C2025%3A42",
        PAIR: "https://news.example.org/a/sleep-1%2Csleep-2",
        "sleep-3": "https://news.example.org/a/sleep-3",
        "with-url": "https://elsewhere.example/x",  # an article's own url is kept
    }

    def check(items: list[dict[str, Any]]) -> None:
        urls = {item["id"]: item["url"] for item in items}
        assert all(url for url in urls.values()), urls
        for article_id, url in expected.items():
            if article_id in urls:
                assert urls[article_id] == url

    related = client.get("/v1/articles/sleep-0/related?k=50").get_json()["items"]
    assert set(expected) <= set(ids_of(related))
    check(related)
    check(client.get("/v1/articles/sleep-0/featured?k=50").get_json()["items"])
    both = client.get("/v1/articles/sleep-0/recommendations?k=50").get_json()
    check(both["related"] + both["featured"])
    draft = client.post("/v1/recommendations", json={"title": "N", "body": TOPICS["sleep"]})
    check(draft.get_json()["related"] + draft.get_json()["featured"])
    check(client.get("/v1/articles?limit=200").get_json()["items"])
    one = client.get("/v1/articles/" + quote(TAG_42, safe="")).get_json()
    assert one["url"] == expected[TAG_42]


def test_url_template_needs_no_reindex(settings: Settings, tmp_path: Path) -> None:
    plain = make_client(settings, tmp_path)
    assert plain.get("/v1/articles/sleep-3").get_json()["url"] is None
    # The same index served with a template: the snapshot holds no made-up links.
    version = plain.get("/v1/status").get_json()["snapshot_version"]
    templated = make_client(settings, tmp_path, url_template="/articles/{id}.html")
    assert templated.get("/v1/status").get_json()["snapshot_version"] == version
    assert templated.get("/v1/articles/sleep-3").get_json()["url"] == "/articles/sleep-3.html"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("https://x.example/{slug}", "unknown placeholder {slug}; the only one is {id}"),
        ("https://x.example/{}", "unknown placeholder {}; the only one is {id}"),
        ("https://x.example/{0}", "unknown placeholder {0}; the only one is {id}"),
        ("https://x.example/{id!r}", "unknown placeholder {id!r}; the only one is {id}"),
        ("https://x.example/{id:>9}", "unknown placeholder {id:>9}; the only one is {id}"),
        ("https://x.example/{id", "expected '}' before end of string"),
        ("https://x.example/", "has no {id}: every article would get the same link"),
        ("ftp://x.example/{id}", "must start with https://, http:// or /"),
        ("x.example/{id}", "must start with https://, http:// or /"),
    ],
)
def test_bad_url_template_is_refused_naming_the_setting(template: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Settings.from_env({"RECOMMENDER_URL_TEMPLATE": template})
    assert caught.value.parameter == "RECOMMENDER_URL_TEMPLATE"
    assert reason in caught.value.reason, caught.value.reason


@pytest.mark.parametrize(
    ("template", "article_id", "url"),
    [
        ("https://x.example/{id}", "Zürich", "https://x.example/Z%C3%BCrich"),
        ("https://x.example/{id}", "100%+a&b", "https://x.example/100%25%2Ba%26b"),
        ("https://x.example/{{raw}}/{id}/", "tag:a,1", "https://x.example/{raw}/tag%3Aa%2C1/"),
        ("/p/{id}?from=related", "x", "/p/x?from=related"),
    ],
)
def test_template_encodes_the_id(template: str, article_id: str, url: str) -> None:
    assert url_template_problem(template) is None
    assert article_url(article_id, template) == url
