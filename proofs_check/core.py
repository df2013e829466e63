"""The claim registry: a statement, a strategy for its parameters, and a check with a margin.

A **claim** is one numbered statement of THEORY.md made executable. Hypothesis draws parameters
from ``claim.parameters()``; ``claim.check(params)`` computes both sides of the statement and
returns a :class:`Check`, whose ``margin`` is how far the statement is from failing at those
parameters (``margin >= 0`` means it holds). ``claim.wrong(params)`` is the same computation with
a deliberate mistake (a bound multiplied by 1.5, an argmax moved ...): the runner must catch it,
which proves the check can fail.

Margins
-------
For ``lhs <= rhs`` the slack is ``rhs - lhs``; for ``lhs >= rhs`` it is ``lhs - rhs``; for
``lhs == rhs`` it is ``-|lhs - rhs|``. The margin is ``slack + tol``: the tolerance is the part of
the slack the numerics may eat (float64 rounding, quadrature error, a stated number of Monte Carlo
standard errors), and every claim justifies its tolerance in words (``Claim.tolerance``).

Parameters are plain literals
-----------------------------
``claim.parameters()`` must produce ``dict``s with ``str`` keys whose values are built from
``int``, ``float`` (``inf`` and ``nan`` allowed), ``bool``, ``str``, ``None`` and tuples / lists
of these: no numpy arrays, no objects. Draw a seed and build arrays inside ``check`` instead
(``np.random.default_rng(params["seed"])``). The runner prints every counterexample as a
one-line replay::

    python -c "from proofs_check import get_claim; print(get_claim('ID').check({...}))"

and writes the parameters to the JSON report, so they must survive ``repr`` / ``eval``
(:func:`proofs_check.runner.literal`) and JSON. ``check`` must be deterministic in its
parameters (a replay gives the same margin) and should take well under a second in the ``ci``
profile. An exception raised by ``check`` is reported as an error of the claim, never skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

__all__ = ["Check", "Claim", "REGISTRY", "register", "get_claim", "all_claims", "all_of", "EPS"]

#: float64 machine epsilon ``2**-52``: the unit in which claims state rounding tolerances.
EPS = 2.0**-52

Relation = Literal["<=", ">=", "=="]
Kind = Literal["exact", "bound", "monte-carlo"]


@dataclass(frozen=True)
class Check:
    """Both sides of a claim at one parameter point, the relation and the tolerance.

    ``margin = slack + tol`` with ``slack = rhs - lhs`` (``<=``), ``lhs - rhs`` (``>=``) or
    ``-|lhs - rhs|`` (``==``). The claim holds at this point iff the margin is finite and >= 0.
    """

    lhs: float
    rhs: float
    relation: Relation
    tol: float = 0.0
    note: str = ""

    def __post_init__(self):
        if self.relation not in ("<=", ">=", "=="):
            raise ValueError(f"The 'relation' of a Check must be '<=', '>=' or '=='. Got {self.relation!r} instead.")
        if not (self.tol >= 0.0):
            raise ValueError(f"The 'tol' of a Check must be a float >= 0. Got {self.tol!r} instead.")

    @property
    def slack(self) -> float:
        lhs, rhs = float(self.lhs), float(self.rhs)
        if self.relation == "<=":
            return rhs - lhs
        if self.relation == ">=":
            return lhs - rhs
        return -abs(lhs - rhs)

    @property
    def margin(self) -> float:
        return self.slack + float(self.tol)

    @property
    def holds(self) -> bool:
        margin = self.margin
        return math.isfinite(margin) and margin >= 0.0

    def __str__(self) -> str:
        text = f"{self.lhs!r} {self.relation} {self.rhs!r} (tol {self.tol:.3g}, margin {self.margin:.3g})"
        return f"{text}: {self.note}" if self.note else text


def all_of(checks: list[Check], note: str = "") -> Check:
    """The check with the smallest margin: a claim over several points holds iff each does."""
    if not checks:
        raise ValueError("all_of needs at least one Check.")
    worst = min(checks, key=lambda c: c.margin if math.isfinite(c.margin) else -math.inf)
    if note:
        worst = Check(worst.lhs, worst.rhs, worst.relation, worst.tol, f"{note}; {worst.note}".strip("; "))
    return worst


@dataclass(frozen=True)
class Claim:
    """One executable statement of THEORY.md.

    Attributes
    ----------
    id : short stable identifier, e.g. ``"prop1-oracle-ts"``; used by ``--claim``.
    statement : the statement in words.
    formula : the statement as a formula (plain text, THEORY.md symbols).
    reference : where it is stated, e.g. ``"THEORY.md 4.3, Proposition 1"``.
    kind : ``"exact"`` (float64 identity), ``"bound"`` (an inequality) or ``"monte-carlo"``.
    tolerance : why ``Check.tol`` is what it is (and, for Monte Carlo claims, the false-alarm rate).
    parameters : a zero-argument function returning a Hypothesis strategy of parameter dicts.
    check : ``params -> Check``, both sides of the statement.
    wrong : ``params -> Check``, the deliberately wrong variant the runner must catch.
    wrong_description : what the wrong variant changes.
    grid : optional zero-argument function returning a list of parameter dicts; the runner
        writes the margin at each point (margins as data, for the docs' plots).
    grid_axes : the keys of the grid's dicts to plot against (e.g. ``("n_classes", "overlap")``).
    examples : parameter dicts that every run tries first, whatever the profile (Hypothesis'
        explicit examples): the known edge cases (huge logits, ties, k = 1000 ...), so that a
        short deterministic run still covers them. They also run for the wrong variant.
    """

    id: str
    statement: str
    formula: str
    reference: str
    kind: Kind
    tolerance: str
    parameters: Callable[[], Any]
    check: Callable[[dict], Check]
    wrong: Callable[[dict], Check]
    wrong_description: str
    grid: Callable[[], list[dict]] | None = None
    grid_axes: tuple[str, ...] = field(default_factory=tuple)
    examples: tuple[dict, ...] = field(default_factory=tuple)


REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (ids are unique); returns it, so it can be used inline."""
    if claim.id in REGISTRY:
        raise ValueError(f"A claim with id {claim.id!r} is already registered.")
    REGISTRY[claim.id] = claim
    return claim


def all_claims() -> list[Claim]:
    """Every registered claim, in registration order (importing the claim modules registers them)."""
    from . import claims  # noqa: F401  (registers on import)

    return list(REGISTRY.values())


def get_claim(claim_id: str) -> Claim:
    """The claim with id ``claim_id``; a clear error listing the known ids otherwise."""
    known = {c.id: c for c in all_claims()}
    if claim_id not in known:
        raise KeyError(f"Unknown claim {claim_id!r}. Known claims: {', '.join(known)}.")
    return known[claim_id]
