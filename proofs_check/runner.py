"""Run a claim (or its deliberately wrong variant) under Hypothesis and record the tightest margin.

:func:`run_claim` wraps ``claim.check`` (or ``claim.wrong``) in a Hypothesis property over
``claim.parameters()``: every example's :class:`~proofs_check.core.Check` is recorded, its margin
is passed to :func:`hypothesis.target` (negated, so the search hunts small margins), and a margin
below zero fails the property, so Hypothesis shrinks the failure to a small counterexample. The
result is a frozen :class:`ClaimResult`: the number of examples tried, the smallest margin seen
and where, the status, and for a failure the shrunk parameters with a one-line replay.

Profiles
--------
``ci``
    Deterministic: ``derandomize=True``, no example database, no deadline, no target phase,
    ``CI_MAX_EXAMPLES`` examples per claim. Sized so that every claim and every wrong variant
    run in about two minutes on two cores (the pytest suite uses this profile).
``thorough``
    Randomized, ``THOROUGH_MAX_EXAMPLES`` examples, with Hypothesis' target phase (hill
    climbing on ``-margin``) switched on.

Statuses
--------
For a claim: ``"holds"`` (no example had a negative margin), ``"violated"`` (one did: the shrunk
counterexample and its replay are reported) or ``"error"`` (the check raised, or Hypothesis
could not run it: the traceback is reported). For a wrong variant: ``"caught"`` (a violation was
found, which is what the self-test wants), ``"missed"`` or ``"error"``.
"""

from __future__ import annotations

import math
import shlex
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal

from .core import Check, Claim

__all__ = [
    "ClaimResult", "run_claim", "profile_settings", "literal", "replay_command", "PROFILES",
    "CI_MAX_EXAMPLES", "THOROUGH_MAX_EXAMPLES",
]

#: Examples per claim (and per wrong variant) in the ``ci`` profile.
CI_MAX_EXAMPLES = 30
#: Examples per claim in the ``thorough`` profile.
THOROUGH_MAX_EXAMPLES = 500
PROFILES = ("ci", "thorough")

Variant = Literal["claim", "wrong"]


class _Violation(AssertionError):
    """Raised inside the property when an example's margin is negative (or not finite)."""


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of running one claim (or its wrong variant) under Hypothesis.

    Attributes
    ----------
    id : str
        The claim id.
    variant : {"claim", "wrong"}
        Which of ``claim.check`` and ``claim.wrong`` ran.
    examples : int
        How many times the check ran (generation, targeting, shrinking and replay).
    min_margin, min_slack : float
        The smallest margin seen (NaN counts as ``-inf``) and the slack of that example; NaN
        if no example completed.
    worst_params : dict or None
        The parameters of that example (None if none completed).
    worst_check : Check or None
        Its :class:`proofs_check.Check`.
    status : str
        ``"holds"`` / ``"violated"`` / ``"error"`` for a claim; ``"caught"`` / ``"missed"`` /
        ``"error"`` for a wrong variant.
    counterexample : dict or None
        The shrunk failing parameters (violation or error), else None.
    counterexample_check : Check or None
        The Check at the counterexample (None for an error).
    replay : str or None
        A shell command that re-runs the check at the counterexample (``replay_command``),
        else None.
    error : str or None
        The traceback (or Hypothesis' message) of an error, else None.
    seconds : float
        Wall time.

    Examples
    --------
    A toy claim (``x**2 <= x`` on ``[0, 1]``, see :class:`proofs_check.Claim`) and its wrong
    variant (the sides swapped):

    >>> from hypothesis import strategies as st
    >>> from proofs_check import Check, Claim
    >>> claim = Claim("square-below", "x**2 <= x on [0, 1]", "x^2 <= x", "a doctest", "bound",
    ...               "none: rounding is monotone",
    ...               parameters=lambda: st.fixed_dictionaries({"x": st.floats(0.0, 1.0)}),
    ...               check=lambda p: Check(p["x"] ** 2, p["x"], "<="),
    ...               wrong=lambda p: Check(p["x"], p["x"] ** 2, "<="),
    ...               wrong_description="the sides swapped", examples=({"x": 1.0},))
    >>> from proofs_check.runner import run_claim
    >>> result = run_claim(claim)
    >>> result.variant, result.status, result.ok, result.counterexample
    ('claim', 'holds', True, None)
    >>> result.min_margin, result.worst_params        # x = 1 is tight: 1**2 == 1
    (0.0, {'x': 1.0})
    >>> wrong = run_claim(claim, variant="wrong")
    >>> wrong.status, wrong.ok, wrong.counterexample_check.holds
    ('caught', True, False)
    >>> 0.0 < wrong.counterexample["x"] < 1.0          # shrunk by Hypothesis, replayable
    True
    """

    id: str
    variant: str
    examples: int
    min_margin: float
    min_slack: float
    worst_params: dict | None
    worst_check: Check | None
    status: str
    counterexample: dict | None
    counterexample_check: Check | None
    replay: str | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether this result is a success: a claim that holds, a wrong variant caught."""
        return self.status == ("holds" if self.variant == "claim" else "caught")


def profile_settings(profile: str = "ci", max_examples: int | None = None):
    """The ``hypothesis.settings`` of a profile (``max_examples`` overrides its default).

    Parameters
    ----------
    profile : {"ci", "thorough"}, default "ci"
        See the module docstring.
    max_examples : int >= 1, optional
        Examples per claim; default ``CI_MAX_EXAMPLES`` (ci) or ``THOROUGH_MAX_EXAMPLES``.

    Returns
    -------
    hypothesis.settings
        Both profiles: no example database, no deadline, quiet, the slow-data health checks
        off. ``ci`` is derandomized without the target phase; ``thorough`` is random with it.

    Raises
    ------
    ValueError
        Unknown ``profile``, or ``max_examples`` not an int >= 1.

    Examples
    --------
    >>> from proofs_check.runner import profile_settings
    >>> ci = profile_settings("ci")
    >>> ci.max_examples, ci.derandomize, ci.database, ci.deadline
    (30, True, None, None)
    >>> thorough = profile_settings("thorough", max_examples=50)
    >>> thorough.max_examples, thorough.derandomize
    (50, False)
    """
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    if profile not in PROFILES:
        raise ValueError(f"The 'profile' must be one of {PROFILES}. Got {profile!r} instead.")
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise ValueError(f"The 'max_examples' must be an int >= 1. Got {max_examples!r} instead.")
    common = dict(
        database=None,
        deadline=None,
        print_blob=False,
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        # checks are numerical computations that may take tens of milliseconds by design
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.large_base_example, HealthCheck.differing_executors],
    )
    if profile == "ci":
        return settings(
            max_examples=max_examples or CI_MAX_EXAMPLES,
            derandomize=True,
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            **common,
        )
    return settings(
        max_examples=max_examples or THOROUGH_MAX_EXAMPLES,
        derandomize=False,
        phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
        **common,
    )


# ----------------------------------------------------------------------------------------------
# Parameters as Python source
# ----------------------------------------------------------------------------------------------


def literal(value: Any) -> str:
    """Python source that evaluates to ``value`` (dicts, tuples, lists, numbers, str, None).

    Parameters
    ----------
    value : dict, tuple, list, int, float, bool, str, None or numpy scalar
        Nested as deep as needed.

    Returns
    -------
    str
        ``eval(literal(value)) == value`` (NaN aside, which is not equal to itself).

    Raises
    ------
    TypeError
        Something else inside ``value`` (an array, an object): claim parameters must be
        plain literals (see :mod:`proofs_check.core`).

    Notes
    -----
    Floats use ``repr`` (which round-trips exactly); ``inf`` and ``nan`` become
    ``float('inf')`` / ``float('nan')``. numpy scalars are converted with ``.item()``.

    Examples
    --------
    >>> from proofs_check.runner import literal
    >>> literal({"k": 3, "T": float("inf"), "logits": (1.0, -2.5)})
    "{'k': 3, 'T': float('inf'), 'logits': (1.0, -2.5)}"
    >>> literal((0.1,))                     # a one-tuple keeps its comma
    '(0.1,)'
    """
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict, str)):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "-float('inf')"
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(
        "Claim parameters must be built from int, float, bool, str, None, tuples, lists and "
        f"dicts (see proofs_check.core). Got {type(value).__name__} instead."
    )


def replay_command(claim_id: str, params: dict, variant: Variant = "claim") -> str:
    """A shell command printing the Check of ``claim_id`` (or its wrong variant) at ``params``.

    Parameters
    ----------
    claim_id : str
        A registered claim's id.
    params : dict
        Plain-literal parameters (see :func:`literal`).
    variant : {"claim", "wrong"}, default "claim"
        Replay ``check`` or ``wrong``.

    Returns
    -------
    str
        ``python -c "..."``, or the code quoted with :func:`shlex.quote` where it contains a
        character the shell would expand inside double quotes.

    Examples
    --------
    >>> from proofs_check.runner import replay_command
    >>> print(replay_command("toy", {"k": 2, "T": float("inf")}))
    python -c "from proofs_check import get_claim; print(get_claim('toy').check({'k': 2, 'T': float('inf')}))"
    >>> print(replay_command("toy", {"k": 2}, variant="wrong"))
    python -c "from proofs_check import get_claim; print(get_claim('toy').wrong({'k': 2}))"
    """
    method = "check" if variant == "claim" else "wrong"
    code = (f"from proofs_check import get_claim; "
            f"print(get_claim({claim_id!r}).{method}({literal(params)}))")
    if not any(c in code for c in '"$`\\!'):
        return f'python -c "{code}"'
    return "python -c " + shlex.quote(code)


# ----------------------------------------------------------------------------------------------
# Running a claim
# ----------------------------------------------------------------------------------------------


def _sort_key(check: Check) -> float:
    margin = check.margin
    return -math.inf if math.isnan(margin) else margin


class _Tracker:
    def __init__(self):
        self.calls = 0
        self.last_params: dict | None = None
        self.last_check: Check | None = None
        self.worst_params: dict | None = None
        self.worst_check: Check | None = None

    def observe(self, params: dict, check: Check) -> None:
        self.last_check = check
        if self.worst_check is None or _sort_key(check) < _sort_key(self.worst_check):
            self.worst_params, self.worst_check = params, check


def run_claim(claim: Claim, *, profile: str = "ci", max_examples: int | None = None,
              variant: Variant = "claim") -> ClaimResult:
    """Search for a counterexample to ``claim`` (or to its wrong variant) with Hypothesis.

    Parameters
    ----------
    claim : Claim
    profile : {"ci", "thorough"}
        See the module docstring.
    max_examples : int >= 1, optional
        Overrides the profile's number of examples.
    variant : {"claim", "wrong"}
        Run ``claim.check`` or ``claim.wrong``.

    Returns
    -------
    ClaimResult

    Raises
    ------
    ValueError
        Unknown ``variant`` or ``profile``, or a bad ``max_examples``. Whatever ``claim.check``
        raises is *not* re-raised: it is reported as ``status="error"`` with the traceback.

    Notes
    -----
    The property is ``margin(check(params)) >= 0`` for every ``params`` the strategy can
    draw (the explicit ``claim.examples`` first). Each example's ``-margin`` is passed to
    ``hypothesis.target``, so the ``thorough`` profile hill-climbs towards the smallest
    margin; the first negative (or non-finite) margin fails the property and Hypothesis
    shrinks it.

    Examples
    --------
    A toy claim (``x**2 <= x`` on ``[0, 1]``, see :class:`proofs_check.Claim`), searched in
    the deterministic ``ci`` profile in a few milliseconds:

    >>> from hypothesis import strategies as st
    >>> from proofs_check import Check, Claim
    >>> claim = Claim("square-below", "x**2 <= x on [0, 1]", "x^2 <= x", "a doctest", "bound",
    ...               "none: rounding is monotone",
    ...               parameters=lambda: st.fixed_dictionaries({"x": st.floats(0.0, 1.0)}),
    ...               check=lambda p: Check(p["x"] ** 2, p["x"], "<="),
    ...               wrong=lambda p: Check(p["x"], p["x"] ** 2, "<="),
    ...               wrong_description="the sides swapped", examples=({"x": 1.0},))
    >>> from proofs_check.runner import run_claim
    >>> result = run_claim(claim, max_examples=10)
    >>> result.status, result.min_margin, result.replay
    ('holds', 0.0, None)
    >>> wrong = run_claim(claim, variant="wrong", max_examples=10)
    >>> wrong.status, wrong.replay.startswith('python -c "from proofs_check import get_claim')
    ('caught', True)
    """
    from hypothesis import example, given, target

    if variant not in ("claim", "wrong"):
        raise ValueError(f"The 'variant' must be 'claim' or 'wrong'. Got {variant!r} instead.")
    fn = claim.check if variant == "claim" else claim.wrong
    tracker = _Tracker()

    def prop(params):
        tracker.calls += 1
        tracker.last_params, tracker.last_check = params, None
        check = fn(params)
        if not isinstance(check, Check):
            raise TypeError(
                f"The check of claim {claim.id!r} must return a proofs_check.Check. "
                f"Got {type(check).__name__} instead."
            )
        tracker.observe(params, check)
        if math.isfinite(check.margin):
            target(-check.margin)  # maximise -margin: hunt the smallest margin
        if not check.holds:
            raise _Violation(str(check))

    test = given(claim.parameters())(prop)
    for params in reversed(claim.examples):  # decorators apply inside out: keep their order
        test = example(params)(test)
    test = profile_settings(profile, max_examples)(test)
    start = time.perf_counter()
    status, error, counterexample, cex_check = None, None, None, None
    try:
        test()
    except _Violation:
        status = "violated"
        counterexample, cex_check = tracker.last_params, tracker.last_check
    except Exception as exc:  # noqa: BLE001 - every error is reported (Hypothesis' own too)
        status = "error"
        counterexample = tracker.last_params
        error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    seconds = time.perf_counter() - start

    if status is None:
        status = "holds" if variant == "claim" else "missed"
    elif status == "violated" and variant == "wrong":
        status = "caught"
    worst = tracker.worst_check
    return ClaimResult(
        id=claim.id,
        variant=variant,
        examples=tracker.calls,
        min_margin=_sort_key(worst) if worst is not None else math.nan,
        min_slack=worst.slack if worst is not None else math.nan,
        worst_params=tracker.worst_params,
        worst_check=worst,
        status=status,
        counterexample=counterexample,
        counterexample_check=cex_check,
        replay=None if counterexample is None else replay_command(claim.id, counterexample,
                                                                  variant),
        error=error,
        seconds=seconds,
    )


def grid_margins(claim: Claim) -> tuple[list[dict], list[str]]:
    """Evaluate ``claim.check`` over ``claim.grid()``: points with lhs, rhs, slack, margin.

    Parameters
    ----------
    claim : Claim
        A claim with a ``grid``; a claim without one gives two empty lists.

    Returns
    -------
    points : list of dict
        One per grid point that ran: its parameters plus ``lhs``, ``rhs``, ``slack`` and
        ``margin`` (see :class:`proofs_check.Check`).
    problems : list of str
        Grid points where the claim fails (a negative margin) or the check raises, each as a
        message with a replay command.

    Examples
    --------
    >>> from hypothesis import strategies as st
    >>> from proofs_check import Check, Claim
    >>> from proofs_check.runner import grid_margins
    >>> claim = Claim("square-below", "x**2 <= x on [0, 1]", "x^2 <= x", "a doctest", "bound",
    ...               "none", parameters=lambda: st.just({"x": 0.5}),
    ...               check=lambda p: Check(p["x"] ** 2, p["x"], "<="),
    ...               wrong=lambda p: Check(p["x"], p["x"] ** 2, "<="), wrong_description="swapped",
    ...               grid=lambda: [{"x": 0.5}, {"x": 2.0}], grid_axes=("x",))
    >>> points, problems = grid_margins(claim)
    >>> [(p["x"], p["margin"]) for p in points]
    [(0.5, 0.25), (2.0, -2.0)]
    >>> print(problems[0].splitlines()[0])
    square-below: grid point {'x': 2.0} violates the claim: 4.0 <= 2.0 (tol 0, margin -2)
    """
    points: list[dict] = []
    problems: list[str] = []
    if claim.grid is None:
        return points, problems
    for params in claim.grid():
        try:
            check = claim.check(params)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{claim.id}: grid point {literal(params)} raised {exc!r}\n"
                            f"  replay: {replay_command(claim.id, params)}")
            continue
        points.append({**params, "lhs": float(check.lhs), "rhs": float(check.rhs),
                       "slack": check.slack, "margin": check.margin})
        if not check.holds:
            problems.append(f"{claim.id}: grid point {literal(params)} violates the claim: "
                            f"{check}\n  replay: {replay_command(claim.id, params)}")
    return points, problems
