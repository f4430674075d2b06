"""Single-rule edits: add or remove one pin, block, exclude or featured override,
each checked first against the rules in force and the ids that exist.

The rule store itself refuses only what the rules alone decide (a self-pin, a
position held by another pin); whether an id exists depends on what is served,
which the store does not know. A :class:`RuleEditor` holds both, so every
caller (the ``recommender rules`` commands, an admin route) gets the same checks
and the same typed errors. Build one for a deployment with
:meth:`recommender.state.State.rule_editor`.
"""

from __future__ import annotations

from collections.abc import Callable, Container

from .errors import RuleNotFound
from .rules import check_block, check_known, check_pin
from .stores import EditorialRuleStore


class RuleEditor:
    """Single-rule edits of one rule store, checked against the ids that exist.

    Adding a rule reads the ids (``known``); removing one does not, so a rule about
    an article that is gone can still be removed.

    Args:
        rules: the store the rules are written to.
        known: returns the ids a new rule may name (called once per addition).
    """

    def __init__(self, rules: EditorialRuleStore, known: Callable[[], Container[str]]) -> None:
        self.rules = rules
        self.known = known

    def add_pin(self, article_id: str, target_id: str, position: int, who: str) -> int:
        """Show ``target_id`` at the 1-based ``position`` under ``article_id`` (a pin of
        the same target moves); returns the new rules version.

        Raises:
            InvalidRule: a position outside 1-50 or held by another pin, a self-pin,
                a blocked target, or an id that does not exist.
            NoSnapshot: nothing is published, so no id can be checked.
        """
        current = self.rules.load().for_article(article_id)
        check_pin(current, target_id, position, self.known())
        return self.rules.add_pin(article_id, target_id, position, who)

    def add_block(self, article_id: str, target_id: str, who: str) -> int:
        """Never list ``target_id`` under ``article_id``; returns the new rules version.

        Raises:
            InvalidRule: the target is pinned there, or an id does not exist.
            NoSnapshot: nothing is published.
        """
        check_block(self.rules.load().for_article(article_id), target_id, self.known())
        return self.rules.add_block(article_id, target_id, who)

    def add_exclude(self, target_id: str, who: str) -> int:
        """Never list ``target_id`` anywhere; returns the new rules version.

        Raises:
            InvalidRule: the id does not exist (field ``target_id``).
            NoSnapshot: nothing is published.
        """
        check_known("target_id", target_id, self.known())
        return self.rules.add_exclude(target_id, who)

    def set_featured(self, target_id: str, value: bool, who: str) -> int:
        """Force ``target_id``'s featured flag on or off; returns the new rules version.

        Raises:
            InvalidRule: the id does not exist (field ``target_id``).
            NoSnapshot: nothing is published.
        """
        check_known("target_id", target_id, self.known())
        return self.rules.set_featured(target_id, value, who)

    def remove_pin(self, article_id: str, target_id: str, who: str) -> None:
        """Unpin ``target_id`` under ``article_id``.

        Raises:
            RuleNotFound: it is not pinned there.
        """
        if not self.rules.remove_pin(article_id, target_id, who):
            raise RuleNotFound(f"pin of {target_id} under {article_id}")

    def remove_block(self, article_id: str, target_id: str, who: str) -> None:
        """Lift the block of ``target_id`` under ``article_id``.

        Raises:
            RuleNotFound: it is not blocked there.
        """
        if not self.rules.remove_block(article_id, target_id, who):
            raise RuleNotFound(f"block of {target_id} under {article_id}")

    def remove_exclude(self, target_id: str, who: str) -> None:
        """Lift the global exclude of ``target_id``.

        Raises:
            RuleNotFound: it is not excluded.
        """
        if not self.rules.remove_exclude(target_id, who):
            raise RuleNotFound(f"exclude of {target_id}")

    def remove_featured(self, target_id: str, who: str) -> None:
        """Drop the featured override of ``target_id`` (the corpus decides again).

        Raises:
            RuleNotFound: it has no override.
        """
        if target_id not in self.rules.load().featured:
            raise RuleNotFound(f"featured override of {target_id}")
        self.rules.set_featured(target_id, None, who)


__all__ = ["RuleEditor"]
