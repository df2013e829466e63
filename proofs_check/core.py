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

    Parameters
    ----------
    lhs, rhs : float
        The two sides of the statement, computed independently where the statement allows.
    relation : {"<=", ">=", "=="}
        The statement is ``lhs <= rhs``, ``lhs >= rhs`` or ``lhs == rhs``.
    tol : float >= 0, default 0.0
        The part of the slack the numerics may eat (rounding, quadrature error, a stated
        number of Monte Carlo standard errors); the claim says why in ``Claim.tolerance``.
    note : str, default ""
        Free text shown with the check (where the worst point of several was, what was
        compared ...).

    Raises
    ------
    ValueError
        ``relation`` is not one of the three, or ``tol`` is negative or NaN.

    Notes
    -----
    ``margin = slack + tol`` with ``slack = rhs - lhs`` (``<=``), ``lhs - rhs`` (``>=``) or
    ``-|lhs - rhs|`` (``==``). The claim holds at this point iff the margin is finite and
    ``>= 0`` (``holds``); a NaN side gives a NaN margin, which never holds.

    Examples
    --------
    >>> from proofs_check import Check
    >>> c = Check(1.0, 2.0, "<=", tol=0.5)
    >>> c.slack, c.margin, c.holds
    (1.0, 1.5, True)
    >>> Check(0.1 + 0.2, 0.3, "==", tol=2**-52).holds      # off by one ulp, within the tolerance
    True
    >>> print(Check(3.0, 2.0, "<=", note="at x = 1"))
    3.0 <= 2.0 (tol 0, margin -1): at x = 1
    >>> Check(float("nan"), 0.0, ">=").holds
    False
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
        """``rhs - lhs``, ``lhs - rhs`` or ``-|lhs - rhs|`` for ``<=``, ``>=`` and ``==``."""
        lhs, rhs = float(self.lhs), float(self.rhs)
        if self.relation == "<=":
            return rhs - lhs
        if self.relation == ">=":
            return lhs - rhs
        return -abs(lhs - rhs)

    @property
    def margin(self) -> float:
        """``slack + tol``: how far the statement is from failing here (``>= 0``: it holds)."""
        return self.slack + float(self.tol)

    @property
    def holds(self) -> bool:
        """Whether the margin is finite and ``>= 0``."""
        margin = self.margin
        return math.isfinite(margin) and margin >= 0.0

    def __str__(self) -> str:
        text = f"{self.lhs!r} {self.relation} {self.rhs!r} (tol {self.tol:.3g}, margin {self.margin:.3g})"
        return f"{text}: {self.note}" if self.note else text


def all_of(checks: list[Check], note: str = "") -> Check:
    """The check with the smallest margin: a claim over several points holds iff each does.

    Parameters
    ----------
    checks : list of Check
        One check per point (per class, per bin, per temperature ...).
    note : str, default ""
        Prefixed to the worst check's note.

    Returns
    -------
    Check
        The check of smallest margin (a NaN margin counts as ``-inf``, so it is chosen).

    Raises
    ------
    ValueError
        ``checks`` is empty.

    Notes
    -----
    ``min_i margin_i >= 0`` iff every ``margin_i >= 0``: the minimum is the margin of the
    conjunction of the statements.

    Examples
    --------
    >>> from proofs_check import Check
    >>> from proofs_check.core import all_of
    >>> checks = [Check(0.1, 1.0, "<="), Check(0.9, 1.0, "<=", note="bin 2")]
    >>> print(all_of(checks, note="every bin"))
    0.9 <= 1.0 (tol 0, margin 0.1): every bin; bin 2
    """
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
    id : str
        Short stable identifier, e.g. ``"prop1-oracle-ts"``; used by ``--claim``.
    statement : str
        The statement in words.
    formula : str
        The statement as a formula (plain text, THEORY.md symbols).
    reference : str
        Where it is stated, e.g. ``"THEORY.md 4.3, Proposition 1"``.
    kind : {"exact", "bound", "monte-carlo"}
        A float64 identity, an inequality, or a statement checked by Monte Carlo.
    tolerance : str
        Why ``Check.tol`` is what it is (and, for Monte Carlo claims, the false-alarm rate).
    parameters : callable
        A zero-argument function returning a Hypothesis strategy of parameter dicts (plain
        literals: see the module docstring).
    check : callable
        ``params -> Check``, both sides of the statement.
    wrong : callable
        ``params -> Check``, the deliberately wrong variant the runner must catch.
    wrong_description : str
        What the wrong variant changes.
    grid : callable, optional
        A zero-argument function returning a list of parameter dicts; the runner writes the
        margin at each point (margins as data, for the docs' plots).
    grid_axes : tuple of str, default ()
        The keys of the grid's dicts to plot against (e.g. ``("n_classes", "overlap")``).
    examples : tuple of dict, default ()
        Parameter dicts that every run tries first, whatever the profile (Hypothesis'
        explicit examples): the known edge cases (huge logits, ties, k = 1000 ...), so that a
        short deterministic run still covers them. They also run for the wrong variant.

    Examples
    --------
    A toy statement, ``x**2 <= x`` on ``[0, 1]``; its wrong variant swaps the sides. Rounding
    is monotone, so ``fl(x * x) <= x`` holds exactly and no tolerance is needed:

    >>> from hypothesis import strategies as st
    >>> from proofs_check import Check, Claim
    >>> claim = Claim(
    ...     id="square-below", statement="x**2 <= x on [0, 1]", formula="x^2 <= x",
    ...     reference="a doctest", kind="bound", tolerance="none: rounding is monotone",
    ...     parameters=lambda: st.fixed_dictionaries({"x": st.floats(0.0, 1.0)}),
    ...     check=lambda p: Check(p["x"] ** 2, p["x"], "<="),
    ...     wrong=lambda p: Check(p["x"], p["x"] ** 2, "<="),
    ...     wrong_description="the sides swapped", examples=({"x": 1.0},))
    >>> print(claim.check({"x": 0.5}))
    0.25 <= 0.5 (tol 0, margin 0.25)
    >>> claim.wrong({"x": 0.5}).holds
    False

    :func:`proofs_check.runner.run_claim` searches it for a counterexample; :func:`register`
    adds it to the registry that ``python -m proofs_check`` runs.
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


#: Every registered claim by id, in registration order (filled by :func:`register` when the
#: claim modules are imported; read it through :func:`all_claims`).
REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (ids are unique); returns it, so it can be used inline.

    Parameters
    ----------
    claim : Claim

    Returns
    -------
    Claim
        ``claim`` itself (``CLAIM = register(Claim(...))`` in a claim module).

    Raises
    ------
    ValueError
        A claim with the same id is already registered.

    Examples
    --------
    >>> from hypothesis import strategies as st
    >>> from proofs_check import REGISTRY, Check, Claim, register
    >>> claim = register(Claim(
    ...     "doctest-zero", "0 <= 1", "0 <= 1", "a doctest", "exact", "none",
    ...     parameters=lambda: st.just({}), check=lambda p: Check(0.0, 1.0, "<="),
    ...     wrong=lambda p: Check(1.0, 0.0, "<="), wrong_description="swapped"))
    >>> REGISTRY["doctest-zero"] is claim
    True
    >>> register(claim)
    Traceback (most recent call last):
    ...
    ValueError: A claim with id 'doctest-zero' is already registered.
    >>> del REGISTRY["doctest-zero"]    # leave the registry to the real claims
    """
    if claim.id in REGISTRY:
        raise ValueError(f"A claim with id {claim.id!r} is already registered.")
    REGISTRY[claim.id] = claim
    return claim


def all_claims() -> list[Claim]:
    """Every registered claim, in registration order (importing the claim modules registers them).

    Returns
    -------
    list of Claim
        The values of ``REGISTRY`` after importing ``proofs_check.claims``.

    Examples
    --------
    >>> from proofs_check import all_claims
    >>> claims = all_claims()
    >>> len({c.id for c in claims}) == len(claims)      # ids are unique
    True
    >>> sorted({c.kind for c in claims})
    ['bound', 'exact', 'monte-carlo']
    """
    from . import claims  # noqa: F401  (registers on import)

    return list(REGISTRY.values())


def get_claim(claim_id: str) -> Claim:
    """The claim with id ``claim_id``; a clear error listing the known ids otherwise.

    Parameters
    ----------
    claim_id : str

    Returns
    -------
    Claim

    Raises
    ------
    KeyError
        No claim has this id (the message lists the known ids).

    Examples
    --------
    >>> from proofs_check import get_claim
    >>> claim = get_claim("kl-identity-pointwise")
    >>> claim.kind, claim.reference
    ('exact', 'THEORY.md 2.1 (Identity)')
    >>> claim.check(claim.examples[1]).holds          # replay one point, as a counterexample would
    True
    >>> get_claim("no-such-claim")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "Unknown claim 'no-such-claim'. Known claims: kl-identity-pointwise, ...
    """
    known = {c.id: c for c in all_claims()}
    if claim_id not in known:
        raise KeyError(f"Unknown claim {claim_id!r}. Known claims: {', '.join(known)}.")
    return known[claim_id]
