"""The report of a proofs_check run: a Markdown-ish table, ``report.json`` and ``margins.csv``.

JSON schema (the docs build a page from it; keep it stable)::

    {"profile", "max_examples", "hypothesis_version", "seconds",
     "claims": [{"id", "statement", "formula", "reference", "kind", "tolerance", "examples",
                 "min_margin", "min_slack", "worst_params", "status", "wrong_description",
                 "wrong_status", "seconds"}],
     "margins": {"<claim id>": {"axes": [...], "points": [{<params...>, "lhs", "rhs", "slack",
                                                          "margin"}]}}}

Non-finite floats are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (so the file
is strict JSON), tuples as lists. ``wrong_status`` is null when the self-test was not run.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from .core import Claim
from .runner import ClaimResult, literal

__all__ = ["json_safe", "claim_record", "build_report", "write_report", "format_table",
           "format_failures"]

CLAIM_KEYS = ("id", "statement", "formula", "reference", "kind", "tolerance", "examples",
              "min_margin", "min_slack", "worst_params", "status", "wrong_description",
              "wrong_status", "seconds")
REPORT_KEYS = ("profile", "max_examples", "hypothesis_version", "seconds", "claims", "margins")
POINT_KEYS = ("lhs", "rhs", "slack", "margin")


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as strings, tuples as lists, numpy scalars as Python.

    Parameters
    ----------
    value : object
        Dicts (keys become ``str``), lists and tuples are converted recursively; anything
        else other than a float or numpy scalar is returned as is.

    Returns
    -------
    object
        Serialisable with ``json.dumps(..., allow_nan=False)`` when ``value`` is built from
        plain literals.

    Examples
    --------
    >>> import numpy as np
    >>> from proofs_check.report import json_safe
    >>> json_safe({"margin": float("-inf"), "at": (np.float64(0.5), np.int64(3)), 1: float("nan")})
    {'margin': '-inf', 'at': [0.5, 3], '1': 'nan'}
    """
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict, str)):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def claim_record(claim: Claim, result: ClaimResult, wrong: ClaimResult | None) -> dict:
    """One entry of ``report["claims"]``.

    Parameters
    ----------
    claim : Claim
    result : ClaimResult
        The run of ``claim.check``.
    wrong : ClaimResult or None
        The run of ``claim.wrong`` (None when the self-test was not run).

    Returns
    -------
    dict
        The keys ``CLAIM_KEYS``, made strict-JSON-safe by :func:`json_safe`; ``seconds`` is the
        time of both runs.

    Examples
    --------
    >>> from hypothesis import strategies as st
    >>> from proofs_check import Check, Claim
    >>> from proofs_check.runner import run_claim
    >>> claim = Claim("square-below", "x**2 <= x on [0, 1]", "x^2 <= x", "a doctest", "bound",
    ...               "none: rounding is monotone",
    ...               parameters=lambda: st.fixed_dictionaries({"x": st.floats(0.0, 1.0)}),
    ...               check=lambda p: Check(p["x"] ** 2, p["x"], "<="),
    ...               wrong=lambda p: Check(p["x"], p["x"] ** 2, "<="),
    ...               wrong_description="the sides swapped", examples=({"x": 1.0},))
    >>> result = run_claim(claim, max_examples=10)
    >>> wrong = run_claim(claim, variant="wrong", max_examples=10)
    >>> from proofs_check.report import CLAIM_KEYS, claim_record
    >>> record = claim_record(claim, result, wrong)
    >>> tuple(record) == CLAIM_KEYS
    True
    >>> record["status"], record["wrong_status"], record["min_margin"], record["worst_params"]
    ('holds', 'caught', 0.0, {'x': 1.0})
    """
    return json_safe({
        "id": claim.id,
        "statement": claim.statement,
        "formula": claim.formula,
        "reference": claim.reference,
        "kind": claim.kind,
        "tolerance": claim.tolerance,
        "examples": result.examples,
        "min_margin": result.min_margin,
        "min_slack": result.min_slack,
        "worst_params": result.worst_params,
        "status": result.status,
        "wrong_description": claim.wrong_description,
        "wrong_status": None if wrong is None else wrong.status,
        "seconds": result.seconds + (0.0 if wrong is None else wrong.seconds),
    })


def build_report(*, profile, max_examples, seconds, records, margins) -> dict:
    """The whole report (the JSON schema of the module docstring), made strict-JSON-safe.

    Parameters
    ----------
    profile : {"ci", "thorough"}
        The profile the claims ran in.
    max_examples : int
        Examples per claim.
    seconds : float
        Wall time of the whole run.
    records : list of dict
        One :func:`claim_record` per claim.
    margins : dict
        ``{claim id: {"axes": [...], "points": [...]}}`` from
        :func:`proofs_check.runner.grid_margins`.

    Returns
    -------
    dict
        The keys ``REPORT_KEYS``; ``hypothesis_version`` is the installed Hypothesis'.

    Examples
    --------
    >>> from proofs_check.report import REPORT_KEYS, build_report
    >>> report = build_report(profile="ci", max_examples=30, seconds=0.5, records=[],
    ...                       margins={"toy": {"axes": ["x"], "points": [
    ...                           {"x": 2.0, "lhs": 4.0, "rhs": 2.0, "slack": -2.0,
    ...                            "margin": float("-inf")}]}})
    >>> tuple(report) == REPORT_KEYS
    True
    >>> report["margins"]["toy"]["points"][0]["margin"]
    '-inf'
    """
    import hypothesis

    return json_safe({
        "profile": profile,
        "max_examples": max_examples,
        "hypothesis_version": hypothesis.__version__,
        "seconds": seconds,
        "claims": records,
        "margins": margins,
    })


def write_report(report: dict, out_dir) -> tuple[Path, Path]:
    """Write ``report.json`` and ``margins.csv`` (long format: one row per grid point).

    Parameters
    ----------
    report : dict
        From :func:`build_report`.
    out_dir : str or path-like
        Created if needed; both files are overwritten.

    Returns
    -------
    json_path, csv_path : pathlib.Path

    Raises
    ------
    ValueError
        The report holds a non-finite float (it did not go through :func:`json_safe`).

    Notes
    -----
    ``margins.csv`` has the columns ``claim``, the union of every grid's parameter names (in
    order of appearance; empty where a claim's grid lacks one) and ``lhs, rhs, slack,
    margin``; list and dict values are written as JSON.

    Examples
    --------
    >>> import tempfile
    >>> from proofs_check.report import build_report, write_report
    >>> report = build_report(profile="ci", max_examples=30, seconds=0.5, records=[],
    ...                       margins={"toy": {"axes": ["x"], "points": [
    ...                           {"x": 0.5, "lhs": 0.25, "rhs": 0.5, "slack": 0.25,
    ...                            "margin": 0.25}]}})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     json_path, csv_path = write_report(report, folder)
    ...     print(json_path.name, csv_path.read_text().splitlines())
    report.json ['claim,x,lhs,rhs,slack,margin', 'toy,0.5,0.25,0.5,0.25,0.25']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    columns: list[str] = []
    for entry in report["margins"].values():
        for point in entry["points"]:
            for key in point:
                if key not in POINT_KEYS and key not in columns:
                    columns.append(key)
    csv_path = out / "margins.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["claim", *columns, *POINT_KEYS])
        for claim_id, entry in report["margins"].items():
            for point in entry["points"]:
                row = [claim_id]
                for key in (*columns, *POINT_KEYS):
                    value = point.get(key, "")
                    row.append(json.dumps(value) if isinstance(value, (list, dict)) else value)
                writer.writerow(row)
    return json_path, csv_path


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _num(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def format_table(rows: list[tuple[Claim, ClaimResult, ClaimResult | None]]) -> str:
    """The Markdown table: claim, statement, examples, smallest margin and where, status.

    Parameters
    ----------
    rows : list of (Claim, ClaimResult, ClaimResult or None)
        Each claim with its run and the run of its wrong variant (None: not run, shown
        ``-``).

    Returns
    -------
    str
        A header, a rule and one line per claim; long statements and parameters are cut
        with an ellipsis, ``|`` inside cells becomes ``/``.

    Examples
    --------
    >>> from hypothesis import strategies as st
    >>> from proofs_check import Check, Claim
    >>> from proofs_check.runner import run_claim
    >>> claim = Claim("square-below", "x**2 <= x on [0, 1]", "x^2 <= x", "a doctest", "bound",
    ...               "none: rounding is monotone",
    ...               parameters=lambda: st.fixed_dictionaries({"x": st.floats(0.0, 1.0)}),
    ...               check=lambda p: Check(p["x"] ** 2, p["x"], "<="),
    ...               wrong=lambda p: Check(p["x"], p["x"] ** 2, "<="),
    ...               wrong_description="the sides swapped", examples=({"x": 1.0},))
    >>> result = run_claim(claim, max_examples=10)
    >>> wrong = run_claim(claim, variant="wrong", max_examples=10)
    >>> from proofs_check.report import format_table
    >>> table = format_table([(claim, result, wrong)]).splitlines()
    >>> print(table[0])
    | claim | statement | examples | min margin | at | status | wrong variant | s |
    >>> table[2].split(" | ")[3:7]
    ['0', "{'x': 1.0}", 'holds', 'caught']
    """
    header = ("claim", "statement", "examples", "min margin", "at", "status", "wrong variant", "s")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for claim, result, wrong in rows:
        where = "" if result.worst_params is None else literal(result.worst_params)
        cells = (
            claim.id,
            _short(claim.statement, 48),
            str(result.examples),
            _num(result.min_margin),
            _short(where, 44),
            result.status,
            "-" if wrong is None else wrong.status,
            f"{result.seconds + (wrong.seconds if wrong else 0.0):.1f}",
        )
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def format_failures(results: list[ClaimResult]) -> str:
    """Details of every result that is not a success: counterexample, check, replay, traceback.

    Parameters
    ----------
    results : list of ClaimResult
        Claims and wrong variants; the successes (``result.ok``) are skipped.

    Returns
    -------
    str
        One Markdown block per failure (empty when there is none).

    Examples
    --------
    Running the toy claim's *wrong* variant as if it were the claim reports its
    counterexample (the shrunk ``x`` depends on Hypothesis, so only the first line is shown):

    >>> from hypothesis import strategies as st
    >>> from proofs_check import Check, Claim
    >>> from proofs_check.runner import run_claim
    >>> claim = Claim("square-below", "x**2 <= x on [0, 1]", "x^2 <= x", "a doctest", "bound",
    ...               "none: rounding is monotone",
    ...               parameters=lambda: st.fixed_dictionaries({"x": st.floats(0.0, 1.0)}),
    ...               check=lambda p: Check(p["x"] ** 2, p["x"], "<="),
    ...               wrong=lambda p: Check(p["x"], p["x"] ** 2, "<="),
    ...               wrong_description="the sides swapped", examples=({"x": 1.0},))
    >>> result = run_claim(claim, max_examples=10)
    >>> wrong = run_claim(claim, variant="wrong", max_examples=10)
    >>> from proofs_check.report import format_failures
    >>> format_failures([result, wrong])          # both succeeded: nothing to report
    ''
    >>> swapped = Claim("square-above", "x <= x**2 on [0, 1]", "x <= x^2", "a doctest", "bound",
    ...                 "none", parameters=claim.parameters, check=claim.wrong,
    ...                 wrong=claim.check, wrong_description="the sides swapped back")
    >>> print(format_failures([run_claim(swapped, max_examples=10)]).splitlines()[0])
    ### claim square-above: violated
    """
    blocks = []
    for r in results:
        if r.ok:
            continue
        what = "claim" if r.variant == "claim" else "wrong variant of"
        lines = [f"### {what} {r.id}: {r.status}"]
        if r.status == "missed":
            where = literal(r.worst_params) if r.worst_params else "-"
            lines.append(f"no violation in {r.examples} examples (smallest margin "
                         f"{_num(r.min_margin)} at {where}); the check may be unable to fail")
        if r.counterexample is not None:
            lines.append(f"counterexample: {literal(r.counterexample)}")
        if r.counterexample_check is not None:
            lines.append(f"check: {r.counterexample_check}")
        if r.replay:
            lines.append(f"replay: {r.replay}")
        if r.error:
            lines.append("traceback:\n" + r.error.rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
