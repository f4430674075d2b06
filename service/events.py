"""The gate in front of ``POST /v1/events``: the route is public (browsers send it
with ``navigator.sendBeacon``), so it is bounded before anything is counted.

* **Rate**: a moving window per client address (the ``limits`` library, kept in
  this worker's memory, so the limit holds per worker process). The key is an
  HMAC of the address under a secret made when the process starts: addresses are
  never stored or logged, and the keys cannot be reversed by hashing every IPv4
  address.
* **Bots**: a request whose user agent the ``crawlerdetect`` list names as a
  crawler, or that sends none (browsers always do), is answered 202 and counts
  nothing: a crawler that runs the widget should not learn that it is refused.
* **Body**: ``text/plain`` (what ``sendBeacon`` sends for a string) or
  ``application/json``, at most ``RECOMMENDER_EVENTS_MAX_BYTES``, holding JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
from typing import Any

from crawlerdetect import CrawlerDetect
from flask import Request
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from .errors import ApiProblem

BODY_TYPES = ("application/json", "text/plain")


class EventGate:
    """Rate limit and bot filter of one worker process.

    Args:
        per_minute: batches one client may send per minute; 0: no limit.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._secret = secrets.token_bytes(32)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._item = RateLimitItemPerMinute(max(per_minute, 1))
        self._bots = CrawlerDetect()

    def client_key(self, address: str) -> str:
        """The rate limit's key for a client address (never the address itself)."""
        return hmac.new(self._secret, address.encode(), hashlib.sha256).hexdigest()

    def check_rate(self, address: str) -> None:
        """Count one batch against the client's window.

        Raises:
            ApiProblem: 429 with ``Retry-After`` once the client is over the limit.
        """
        if self.per_minute == 0:
            return
        key = self.client_key(address)
        if self._limiter.hit(self._item, key):
            return
        reset = self._limiter.get_window_stats(self._item, key).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        raise ApiProblem(
            429,
            "too-many-requests",
            f"more than {self.per_minute} event batches a minute from this client "
            "(RECOMMENDER_EVENTS_PER_MINUTE); retry later",
            headers={"Retry-After": str(retry_after)},
        )

    def is_bot(self, user_agent: str) -> bool:
        """Whether the user agent is missing or names a crawler."""
        return not user_agent.strip() or self._bots.is_crawler(user_agent)


def read_batch(request: Request, max_bytes: int) -> Any:
    """The decoded JSON body of an events request.

    Raises:
        ApiProblem: 415 for another content type, 413 over ``max_bytes``, 400 for
            a body that is not JSON.
    """
    if request.mimetype not in BODY_TYPES:
        raise ApiProblem(
            415,
            "unsupported-media-type",
            f"send the events as application/json or text/plain, not "
            f"{request.mimetype or 'nothing'}",
        )
    too_large = ApiProblem(
        413,
        "content-too-large",
        f"the events body is larger than {max_bytes} bytes (RECOMMENDER_EVENTS_MAX_BYTES)",
    )
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    # A chunked body has no length up front: read one byte past the limit to know.
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise too_large
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiProblem(400, "invalid-json", "the body is not valid JSON") from None


__all__ = ["BODY_TYPES", "EventGate", "read_batch"]
