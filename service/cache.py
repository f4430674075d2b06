"""Answers kept per server process, keyed by everything they depend on.

A site shows the same related block under a popular article thousands of times
between two changes. The key of an answer is the one its ETag is made from: the
request (path and query string) and the engine's freshness version (snapshot
version, live-change sequence, rules version, and how many scheduled articles
have gone live), so a publish, an API write, a rule change or a scheduled
article going live makes every older entry unreachable: a stale answer is never
served. Entries are evicted least recently used first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class ResponseCache:
    """A bounded map from an answer's ETag to its JSON body.

    Args:
        size: how many answers are kept (0: none, the cache is off).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """The body kept under ``key``, or None."""
        if not self.size:
            return None
        with self._lock:
            body = self._entries.get(key)
            if body is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: str, body: bytes) -> None:
        """Keep ``body`` under ``key``, evicting the least recently used beyond ``size``."""
        if not self.size:
            return
        with self._lock:
            self._entries[key] = body
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
