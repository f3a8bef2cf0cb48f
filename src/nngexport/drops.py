"""Messages dropped on arrival: counted by reason, each peer warned about once.

Any peer that can reach a socket can send anything, so a coordinator or a
worker drops what it cannot use and goes on: a frame that does not decode
(``malformed``, which includes a wrong wire version), one whose HMAC is
missing or wrong in shared-secret mode (``unauthenticated``), and a valid
message of the wrong kind or for another job (``stray``). The first drop
from a peer is logged at WARNING, later ones at DEBUG, so a flood cannot
fill a log; after :data:`MAX_PEERS` distinct peers, new ones are no longer
told apart.
"""

from __future__ import annotations

import logging
from collections import Counter

__all__ = ["DROP_REASONS", "MAX_PEERS", "Drops"]

#: Why a message is dropped.
DROP_REASONS = ("malformed", "unauthenticated", "stray")
#: Peers remembered for the once-per-peer warning.
MAX_PEERS = 1024


class Drops:
    """Counters of dropped messages, and the once-per-peer warning."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._counts: Counter[str] = Counter()
        self._warned: set[object] = set()

    def drop(self, reason: str, sender: object, detail: object) -> None:
        """Count a message from ``sender`` dropped for ``reason``; log it.

        ``sender`` tells peers apart by equality (a connection, a name) and is
        named in the log by its ``str()``, computed only when logged.
        """
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}")
        self._counts[reason] += 1
        what = f"{'an' if reason[0] in 'aeiou' else 'a'} {reason}"
        if sender in self._warned or len(self._warned) > MAX_PEERS:
            self._logger.debug("dropped %s message from %s: %s", what, sender, detail)
            return
        self._warned.add(sender)
        if len(self._warned) > MAX_PEERS:
            self._logger.warning(
                "more than %d peers sent messages that were dropped; no longer"
                " warning about each",
                MAX_PEERS,
            )
            return
        self._logger.warning(
            "dropped %s message from %s: %s (further drops from this peer are"
            " logged at DEBUG)",
            what,
            sender,
            detail,
        )

    def counts(self) -> dict[str, int]:
        """Drops so far, for every reason (zeros included)."""
        return {reason: self._counts[reason] for reason in DROP_REASONS}

    def since(self, before: dict[str, int]) -> dict[str, int]:
        """Drops since ``before`` (an earlier :meth:`counts`)."""
        now = self.counts()
        return {reason: now[reason] - before.get(reason, 0) for reason in now}
