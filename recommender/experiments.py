"""A/B tests of ranking settings: variants, their traffic shares, and which one a
reader gets.

An editor defines an **experiment**: two or more **variants**, each a set of ranking
knobs (any of :data:`EXPERIMENT_KNOBS`, within the settings' limits) and a traffic
share. The widget keeps a random **bucket** per browser tab (0–9,999; no cookie) and
sends it with each request; the bucket decides the variant, so one tab sees one
variant throughout, and the bucket is mixed with the experiment's id so that
successive experiments split readers differently. The answer names its variant and
the widget tags its impressions and clicks with it (see docs/signals.md).

At most one experiment runs at a time. Stopping it may make one variant's knobs the
served default (**promote**): they then apply to every request that does not set
them, until changed again. Experiments live with the editorial rules (the same
store, version counter and audit log: :mod:`recommender.rules`), so every server
sees a change on its next request.

How the variants compare (impressions, clicks, click-through with a 95% Wilson
interval, and the χ² test of each variant against the first): :func:`compare_variants`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy.stats import binomtest, chi2_contingency

from .config import EXPERIMENT_KNOBS, PARAMETERS
from .errors import InvalidRule
from .events import DEFAULT_VARIANT

BUCKETS = 10_000
"""Buckets are 0..BUCKETS − 1; shares are cut at whole buckets (0.01% steps)."""


MAX_VARIANTS = 8
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Experiment ids and variant names: what is safe in a URL, a log and a query string."""


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment.

    Attributes:
        name: shown in answers and events (:data:`NAME`).
        knobs: knob name → value, replacing the served ones for its readers.
        share: the fraction of buckets it gets, in (0, 1].
    """

    name: str
    knobs: Mapping[str, float] = field(default_factory=dict)
    share: float = 0.5

    def to_json(self) -> dict[str, Any]:
        """The variant as a JSON-ready mapping."""
        return {"name": self.name, "knobs": dict(self.knobs), "share": self.share}


@dataclass(frozen=True)
class Experiment:
    """An A/B test of knob sets.

    Attributes:
        id: its name (:data:`NAME`), unique among experiments ever run.
        variants: 2..:data:`MAX_VARIANTS` variants; the first is the control that the
            others are compared with.
        status: ``running`` or ``stopped``.
        started: ISO 8601 time it started.
        stopped: ISO 8601 time it stopped (None while running).
        promoted: the variant whose knobs became the default when it stopped.
        who: who started it.
    """

    id: str
    variants: tuple[Variant, ...]
    status: str = "running"
    started: str = ""
    stopped: str | None = None
    promoted: str | None = None
    who: str = ""

    def variant_for(self, bucket: int) -> Variant:
        """The variant of a reader's ``bucket`` (0..:data:`BUCKETS` − 1)."""
        # Mixed with the id: a reader in B of one experiment is not in B of every one.
        digest = hashlib.blake2b(f"{self.id}:{bucket}".encode(), digest_size=8).digest()
        slot = int.from_bytes(digest, "big") % BUCKETS
        edge = 0
        for variant in self.variants:
            edge += round(variant.share * BUCKETS)
            if slot < edge:
                return variant
        return self.variants[-1]  # the rounding's last bucket

    def tag(self, variant: Variant) -> str:
        """How answers and events name ``variant``: ``<experiment id>/<variant name>``,
        so that variants of different experiments never share counts."""
        return f"{self.id}/{variant.name}"

    def variant(self, name: str) -> Variant:
        """The variant called ``name``.

        Raises:
            InvalidRule: there is none (``promote``).
        """
        for variant in self.variants:
            if variant.name == name:
                return variant
        names = ", ".join(v.name for v in self.variants)
        raise InvalidRule("promote", f"experiment {self.id!r} has no variant {name!r} ({names})")

    def definition(self) -> str:
        """The variants as stored (JSON)."""
        return json.dumps([v.to_json() for v in self.variants], sort_keys=True)

    @staticmethod
    def variants_from(definition: str) -> tuple[Variant, ...]:
        """The variants of a stored definition."""
        return tuple(
            Variant(v["name"], dict(v["knobs"]), float(v["share"])) for v in json.loads(definition)
        )

    def to_json(self) -> dict[str, Any]:
        """The experiment as a JSON-ready mapping."""
        return {
            "id": self.id,
            "status": self.status,
            "variants": [v.to_json() for v in self.variants],
            "started": self.started,
            "stopped": self.stopped,
            "promoted": self.promoted,
            "who": self.who,
        }


def check_experiment(experiment_id: str, variants: Sequence[Variant]) -> tuple[Variant, ...]:
    """The variants, checked; shares given as weights are scaled to add up to 1.

    Raises:
        InvalidRule: naming the field (``id``, ``variants``, ``variants.<n>.name``,
            ``variants.<n>.share``, ``variants.<n>.knobs.<knob>``) and why.
    """
    if not NAME.match(experiment_id):
        raise InvalidRule(
            "id", "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if not 2 <= len(variants) <= MAX_VARIANTS:
        raise InvalidRule("variants", f"an experiment has 2 to {MAX_VARIANTS} variants")
    seen: set[str] = set()
    for n, variant in enumerate(variants):
        where = f"variants.{n}"
        if not NAME.match(variant.name) or variant.name == DEFAULT_VARIANT:
            raise InvalidRule(
                f"{where}.name",
                "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit, "
                f"and not {DEFAULT_VARIANT!r}",
            )
        if variant.name in seen:
            raise InvalidRule(f"{where}.name", f"{variant.name!r} is named twice")
        seen.add(variant.name)
        if not variant.share > 0:
            raise InvalidRule(f"{where}.share", "must be above 0")
        for knob, value in variant.knobs.items():
            if knob not in EXPERIMENT_KNOBS:
                raise InvalidRule(
                    f"{where}.knobs.{knob}",
                    f"not a knob a variant may set ({', '.join(EXPERIMENT_KNOBS)})",
                )
            problem = PARAMETERS[knob].problem(value)
            if problem:
                raise InvalidRule(f"{where}.knobs.{knob}", problem)
    total = sum(v.share for v in variants)
    scaled = tuple(Variant(v.name, dict(v.knobs), v.share / total) for v in variants)
    if any(round(v.share * BUCKETS) == 0 for v in scaled):
        raise InvalidRule("variants", f"each share must be at least 1/{BUCKETS} of the total")
    return scaled


@dataclass(frozen=True)
class VariantResult:
    """How one variant did on one block.

    Attributes:
        name: the variant.
        impressions: items shown.
        clicks: items clicked.
        ctr: clicks / impressions (0 before any impression).
        interval: 95% Wilson interval of the click-through.
        p_value: χ² test (the two-proportion z-test) against the control, the first
            variant (None for the control, or without impressions on either side).
        significant: ``p_value`` < 0.05.
    """

    name: str
    impressions: int
    clicks: int
    ctr: float
    interval: tuple[float, float]
    p_value: float | None
    significant: bool

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready mapping."""
        return {
            "variant": self.name,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "ctr": round(self.ctr, 6),
            "ctr_95": [round(self.interval[0], 6), round(self.interval[1], 6)],
            "p_value": None if self.p_value is None else float(f"{self.p_value:.6g}"),
            "significant": self.significant,
        }


def compare_variants(counts: Sequence[tuple[str, int, int]]) -> list[VariantResult]:
    """Each variant's click-through against the first's.

    Args:
        counts: ``(variant, impressions, clicks)`` per variant, the control first.
    """
    results = []
    _, control_shown, control_clicks = counts[0] if counts else ("", 0, 0)
    for index, (name, shown, clicks) in enumerate(counts):
        clicks = min(clicks, shown)
        interval = (0.0, 1.0)
        if shown:
            ci = binomtest(clicks, shown).proportion_ci(confidence_level=0.95, method="wilson")
            interval = (float(ci.low), float(ci.high))
        p_value = None
        if index and shown and control_shown:
            table = [
                [control_clicks, control_shown - control_clicks],
                [clicks, shown - clicks],
            ]
            if min(sum(column) for column in zip(*table, strict=True)) > 0:
                p_value = float(chi2_contingency(table, correction=False).pvalue)
            else:  # no clicks at all, or all clicked, on both sides: nothing differs
                p_value = 1.0
        results.append(
            VariantResult(
                name,
                shown,
                clicks,
                clicks / shown if shown else 0.0,
                interval,
                p_value,
                p_value is not None and p_value < 0.05,
            )
        )
    return results
