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
    """``value`` with non-finite floats as strings, tuples as lists, numpy scalars as Python."""
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
    """One entry of ``report["claims"]``."""
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
    """Write ``report.json`` and ``margins.csv`` (long format: one row per grid point)."""
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
    """The Markdown table: claim, statement, examples, smallest margin and where, status."""
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
    """Details of every result that is not a success: counterexample, check, replay, traceback."""
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
