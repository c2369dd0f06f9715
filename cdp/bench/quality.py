"""How well identity resolution grouped events, against the people who really produced them.

Pairwise scores over events: a pair of events is predicted together when both landed on one
profile, and truly together when one person produced both. Precision is the share of predicted
pairs that are true, recall the share of true pairs that were predicted. They are computed from
the contingency counts (events per profile and person), never by listing pairs, so millions of
events cost one pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

__all__ = ["PairCounts", "pair_counts"]


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True, slots=True)
class PairCounts:
    """Pairs of events: together on a profile and of one person, on a profile, of a person."""

    together: int
    predicted: int
    actual: int
    items: int
    clusters: int
    """Profiles the items landed on."""
    classes: int
    """People behind the items."""

    @property
    def precision(self) -> float:
        """True pairs among predicted ones; 1.0 when nothing was put together."""
        return self.together / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Predicted pairs among true ones; 1.0 when no two items share a person."""
        return self.together / self.actual if self.actual else 1.0


def pair_counts(assignments: Iterable[tuple[Hashable, Hashable]]) -> PairCounts:
    """Pair counts of (predicted cluster, true class) assignments, one per item."""
    cells: Counter[tuple[Hashable, Hashable]] = Counter(assignments)
    clusters: Counter[Hashable] = Counter()
    classes: Counter[Hashable] = Counter()
    for (cluster, klass), n in cells.items():
        clusters[cluster] += n
        classes[klass] += n
    return PairCounts(
        together=sum(_pairs(n) for n in cells.values()),
        predicted=sum(_pairs(n) for n in clusters.values()),
        actual=sum(_pairs(n) for n in classes.values()),
        items=sum(cells.values()),
        clusters=len(clusters),
        classes=len(classes),
    )
