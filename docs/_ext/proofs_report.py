"""Render a proofs_check report (``report.json``) as a MyST page with one margin plot per claim.

Pure functions of the report dict (no Sphinx), so the generator is tested on a small fixture
(``tests/test_docs.py``). The report schema, written by ``python -m proofs_check --out DIR``::

    {"profile", "max_examples", "hypothesis_version", "seconds",
     "claims": [{"id", "statement", "formula", "reference", "kind", "tolerance", "examples",
                 "min_margin", "min_slack", "worst_params", "status", "wrong_description",
                 "wrong_status", "seconds"}],
     "margins": {"<id>": {"axes": [...], "points": [{<params>, "lhs", "rhs", "slack",
                                                      "margin"}]}}}

A claim holds at a parameter point when its margin (``slack + tol``) is >= 0; ``min_margin``
is the smallest margin Hypothesis found, ``min_slack`` the smallest slack (how tight the
statement itself is, before the numerical tolerance).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

__all__ = ["claim_label", "claims_for", "render_report", "render_unavailable", "load_report"]

REQUIRED_TOP = ("profile", "max_examples", "hypothesis_version", "seconds", "claims")
REQUIRED_CLAIM = ("id", "statement", "formula", "reference", "kind", "tolerance", "examples",
                  "min_margin", "min_slack", "worst_params", "status", "wrong_description",
                  "wrong_status", "seconds")
PASSED = {"passed", "pass", "ok", "holds", "held"}
CAUGHT = {"caught", "failed", "fails", "detected", "refuted"}


class ReportError(ValueError):
    """The report does not follow the schema; the message names the missing field."""


def load_report(path) -> dict:
    """Read and validate ``report.json``."""
    report = json.loads(Path(path).read_text())
    validate(report)
    return report


def validate(report: dict) -> None:
    missing = [key for key in REQUIRED_TOP if key not in report]
    if missing:
        raise ReportError(f"proofs_check report lacks the top-level field(s) {missing}")
    for i, claim in enumerate(report["claims"]):
        missing = [key for key in REQUIRED_CLAIM if key not in claim]
        if missing:
            raise ReportError(f"claim #{i} ({claim.get('id', '?')}) lacks the field(s) {missing}")
    ids = [claim["id"] for claim in report["claims"]]
    if len(set(ids)) != len(ids):
        raise ReportError(f"duplicate claim ids in the report: {ids}")


def claims_for(statement: str, references: dict) -> list[str]:
    """Ids of the claims whose reference names ``statement`` as whole words: ``"Proposition 1"``
    matches "THEORY.md 4.3, Proposition 1" and "(Proposition 1)." but not "Proposition 1b"."""
    pattern = re.compile(r"(?<![\w.])" + re.escape(statement) + r"(?!\w)(?!\.\d)")
    return [cid for cid, ref in references.items() if pattern.search(str(ref))]


def claim_label(claim_id: str) -> str:
    """The cross-reference label of a claim's section: ``claim-<id>`` with a safe alphabet."""
    return "claim-" + re.sub(r"[^a-z0-9]+", "-", claim_id.lower()).strip("-")


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x + 0.0:.{digits}g}"  # + 0.0 turns -0.0 into 0.0


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]<>#+!|$~])")


def _md(text) -> str:
    """Free text from the report as literal Markdown: every special character escaped (a ``$``
    would start math, a ``|`` split a table row, a ``*`` start emphasis)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", " ")


def _cell(text) -> str:
    return _md(text)


def _passed(claim: dict) -> bool:
    return str(claim["status"]).lower() in PASSED


def _caught(claim: dict) -> bool:
    return str(claim["wrong_status"]).lower() in CAUGHT


def _figure_name(claim_id: str) -> str:
    return "margins-" + claim_label(claim_id)[len("claim-"):] + ".png"


def plot_margins(claim_id: str, grid: dict, path: Path) -> Path | None:
    """Draw the margins of one claim's grid against its axes; returns the file or None.

    One axis: margin against it. Two axes: one line per value of the second axis (a scatter
    coloured by margin when it has more than 8 values). More axes, or none: margin against the
    point index. The zero line (where the claim would fail) is drawn in red; a logarithmic
    scale is used for a positive axis spanning more than a factor 20, and for the margin when
    every margin is positive.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    points = list(grid.get("points") or [])
    if not points:
        return None
    axes = [a for a in (grid.get("axes") or []) if all(a in p for p in points)]
    margins = [float(p["margin"]) for p in points]
    finite = [m for m in margins if math.isfinite(m)]
    fig, ax = plt.subplots(figsize=(6.4, 3.2), layout="constrained")

    def numeric(key):
        try:
            return [float(p[key]) for p in points]
        except (TypeError, ValueError):
            return None

    def style_x(values):
        if values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_xscale("log")

    if len(axes) in (1, 2) and numeric(axes[0]) is not None:
        x = numeric(axes[0])
        ax.set_xlabel(axes[0])
        style_x(x)
        if len(axes) == 1:
            order = sorted(range(len(points)), key=lambda i: x[i])
            ax.plot([x[i] for i in order], [margins[i] for i in order], "o-", ms=3, lw=1)
        else:
            second = [p[axes[1]] for p in points]
            levels = sorted(set(map(repr, second)))
            if len(levels) <= 8:
                for level in levels:
                    idx = sorted((i for i in range(len(points)) if repr(second[i]) == level),
                                 key=lambda i: x[i])
                    ax.plot([x[i] for i in idx], [margins[i] for i in idx], "o-", ms=3, lw=1,
                            label=f"{axes[1]} = {level}")
                ax.legend(fontsize=7, loc="best")
            else:
                sc = ax.scatter(x, numeric(axes[1]) or range(len(points)), c=margins, s=12)
                ax.set_ylabel(axes[1])
                ax.set_title(f"{claim_id}: margin by colour (>= 0 means the statement holds)",
                             fontsize=9)
                fig.colorbar(sc, ax=ax, label="margin")
                fig.savefig(path, dpi=100)
                plt.close(fig)
                return path
    else:
        ax.plot(range(len(points)), margins, "o", ms=3)
        ax.set_xlabel("grid point" + (f" ({', '.join(axes)})" if axes else ""))
    ax.set_ylabel("margin")
    if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        ax.set_yscale("log")
    else:
        ax.axhline(0.0, color="red", lw=1, ls="--")
    ax.set_title(f"{claim_id}: margin (>= 0 means the statement holds)", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


HEADER = """\
(proofs-check-report)=
# The proofs_check report

Every statement marked **(P)** in the [theory](../../theory.md) is a *claim* of the
`proofs_check` package: Hypothesis draws parameters, the claim computes both sides of the
statement, and the **margin** records how far the statement is from failing there
(`margin = slack + tol`; the slack is `rhs - lhs` for `<=`, `lhs - rhs` for `>=` and
`-|lhs - rhs|` for `==`, and the tolerance is the part of the slack the numerics may eat,
justified claim by claim). A claim passes when every margin found is `>= 0`. Each claim also
has a deliberately *wrong* variant (a bound multiplied by 1.5, a moved argmax ...) that the
runner must catch: proof that the check can fail.

This page is generated when the documentation is built, from the report of
`python -m proofs_check --profile {profile} --out DIR` (`DIR/report.json`).
"""


def render_report(report: dict, out_dir, *, source: str = "") -> Path:
    """Write ``out_dir/index.md`` (a table of claims and margins, a section per claim) and one
    PNG per claim with a margin grid; returns the page's path."""
    validate(report)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    claims = report["claims"]
    margins = report.get("margins") or {}
    n_pass = sum(_passed(c) for c in claims)
    n_caught = sum(_caught(c) for c in claims)
    lines = [HEADER.format(profile=report["profile"])]
    lines.append(
        f"**This run:** profile `{report['profile']}`, at most {report['max_examples']} "
        f"examples per claim, Hypothesis {report['hypothesis_version']}, "
        f"{_num(report['seconds'])} s in all. **{n_pass} of {len(claims)} claims pass; "
        f"{n_caught} of {len(claims)} wrong variants are caught.**"
    )
    if source:
        lines.append(f"\n<small>Report: {source}</small>")
    lines += ["", "| claim | reference | kind | status | examples | min margin | min slack "
                  "| wrong variant | seconds |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in claims:
        lines.append(
            f"| {{ref}}`{_cell(c['id'])} <{claim_label(c['id'])}>` | {_cell(c['reference'])} "
            f"| {_cell(c['kind'])} | {_cell(c['status'])} | {_cell(c['examples'])} "
            f"| {_num(c['min_margin'])} | {_num(c['min_slack'])} | {_cell(c['wrong_status'])} "
            f"| {_num(c['seconds'], 2)} |"
        )
    lines += ["", "## The claims", ""]
    for c in claims:
        formula = str(c["formula"]).rstrip().replace("```", "` ` `")
        params = json.dumps(c["worst_params"], default=str).replace("`", "'")
        wrong_status = "not run" if c["wrong_status"] is None else c["wrong_status"]
        lines += [f"({claim_label(c['id'])})=", f"### `{c['id']}`", "",
                  _md(c["statement"]), "", "```text", formula, "```", "",
                  f"- **Reference:** {_md(c['reference'])}; **kind:** {_md(c['kind'])}.",
                  f"- **Tolerance:** {_md(c['tolerance'])}",
                  f"- **Result:** {_md(c['status'])} on {c['examples']} examples; smallest "
                  f"margin {_num(c['min_margin'])}, smallest slack {_num(c['min_slack'])} "
                  f"({_num(c['seconds'], 2)} s).",
                  f"- **Tightest parameters:** `{params}`",
                  f"- **Wrong variant** ({_md(wrong_status)}): {_md(c['wrong_description'])}",
                  ""]
        grid = margins.get(c["id"])
        if grid:
            figure = plot_margins(c["id"], grid, out_dir / _figure_name(c["id"]))
            if figure is not None:
                axes = ", ".join(grid.get("axes") or []) or "the grid points"
                lines += [f"```{{figure}} {figure.name}", ":width: 90%", "",
                          f"Margin of `{c['id']}` on its parameter grid (against {axes}).",
                          "```", ""]
    page = out_dir / "index.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def render_unavailable(out_dir, reason: str) -> Path:
    """The page when no report can be produced in this checkout (no runner yet)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / "index.md"
    page.write_text(HEADER.format(profile="ci") + "\n```{note}\n" + reason + "\n```\n")
    return page
