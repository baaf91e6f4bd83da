"""Agreement of binary verdicts with human labels: confusion, accuracy, P/R/F1, Cohen's kappa.

"Positive" is harmful. Undecided verdicts (None) are counted apart, never as a side, so a
jury that abstains is not rewarded or punished as if it had voted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Confusion:
    """Counts of (predicted, true) pairs; ``undecided`` predictions are kept apart."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    undecided: int = 0

    @classmethod
    def of(cls, pairs: Iterable[tuple[bool | None, bool]]) -> Confusion:
        tp = fp = fn = tn = undecided = 0
        for predicted, truth in pairs:
            if predicted is None:
                undecided += 1
            elif predicted and truth:
                tp += 1
            elif predicted:
                fp += 1
            elif truth:
                fn += 1
            else:
                tn += 1
        return cls(tp, fp, fn, tn, undecided)

    @classmethod
    def majority_baseline(cls, truths: Iterable[bool]) -> Confusion:
        """What always answering the labels' majority class scores: the floor a judge must
        beat, since accuracy alone flatters any judge on a lopsided set. A tie is "not
        harmful", as the human majority of a tied item is (``labels.majority``)."""
        values = list(truths)
        harmful = sum(values) * 2 > len(values)
        return cls.of((harmful, truth) for truth in values)

    @property
    def n(self) -> int:
        """Decided items."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.n)

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def kappa(self) -> float:
        """Cohen's kappa: agreement beyond what the two sides' base rates give by chance."""
        n = self.n
        if n == 0:
            return 0.0
        observed = (self.tp + self.tn) / n
        chance = (
            (self.tp + self.fp) * (self.tp + self.fn) + (self.fn + self.tn) * (self.fp + self.tn)
        ) / (n * n)
        if chance == 1.0:
            # Both sides said the same single thing throughout: perfect, trivially.
            return 1.0 if observed == 1.0 else 0.0
        return (observed - chance) / (1.0 - chance)


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0
