"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender import Settings
from recommender.errors import InvalidArgument


def test_defaults_and_environment() -> None:
    settings = Settings.from_env(
        {"RECOMMENDER_INDEX_DIR": "/srv/idx", "RECOMMENDER_DENSE_WEIGHT": "0.5", "OTHER": "x"}
    )
    assert settings.index_dir == Path("/srv/idx")
    assert settings.dense_weight == 0.5
    assert settings.default_k == 5
    assert Settings.from_env({}, port=9000).port == 9000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RECOMMENDER_PORT", "eighty"),
        ("RECOMMENDER_DENSE_WEIGHT", "1.5"),
        ("RECOMMENDER_CACHE_MAX_AGE", "-1"),
        ("RECOMMENDER_WORKERS", "0"),
        ("RECOMMENDER_WXR_ID_NAMESPACE", "host"),
        ("RECOMMENDER_STRIP_SHORTCODES", "none"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Settings.from_env({name: value})
    assert caught.value.parameter == name
