"""A number together with how it was obtained and how uncertain it is."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Estimate"]


@dataclass(frozen=True)
class Estimate:
    """A scalar ground-truth quantity: ``value``, its Monte Carlo ``stderr`` and the ``method``.

    ``method`` is ``"exact"`` (closed form or finite sum), ``"quadrature"`` (deterministic
    numerical integration, absolute error below ``1e-10`` unless stated) or ``"monte-carlo"``
    (``stderr`` is the standard error of the mean over ``n_samples`` independent draws).
    ``float(estimate)`` gives the value, so an Estimate can be used wherever a number is expected.

    Examples
    --------
    >>> est = Estimate(0.5, 0.01, "monte-carlo", 10_000)
    >>> float(est), est.interval(2.0)
    (0.5, (0.48, 0.52))
    """

    value: float
    stderr: float = 0.0
    method: str = "exact"
    n_samples: int | None = None

    def __float__(self) -> float:
        return float(self.value)

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """``value -/+ z * stderr`` (a normal-approximation interval for Monte Carlo estimates)."""
        return (self.value - z * self.stderr, self.value + z * self.stderr)

    def __format__(self, spec: str) -> str:
        text = format(self.value, spec or ".6g")
        if self.stderr > 0:
            text += " ± " + format(self.stderr, ".1g")
        return text
