"""The documentation's own Sphinx extension.

- Generates the proofs_check report page (``docs/generated/proofs_check/index.md``) when the
  build starts, from ``OVERLAPCAL_PROOFS_REPORT`` (an existing ``report.json``) or by running
  ``python -m proofs_check --profile ci --out docs/_build/proofs_check`` (reused while no
  ``.py`` file of ``proofs_check/`` or ``overlapcal/`` is newer than it).
- The ``oc-run`` directive: runs a Python block at build time and shows the code and what it
  printed (one namespace per page, so later blocks see earlier names). ``:from-readme:`` takes
  the code from the README's single ``python`` block, so the page and the README cannot drift
  apart. An exception is a build warning (an error in the strict build).
- The ``claim`` role: ``{claim}`ts-argmax``` links to that claim's section of the report
  page. An id that is not on the report page is a build warning (an error in the strict
  build); without a report (no runner in this checkout) the id is shown as text.
- The ``claims`` role: ``{claims}`Proposition 1``` links to every claim whose reference names
  that statement; none is a build warning (each (P) statement needs a claim).
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

import proofs_report

logger = logging.getLogger(__name__)

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
PAGE_DIR = DOCS / "generated" / "proofs_check"


#: The claims on the generated report page, id -> reference (set when the page is generated;
#: None when there is no report). The ``claim`` and ``claims`` roles link to their sections.
_REPORT_IDS: dict = {"ids": None, "references": {}}



def _newest_source() -> float:
    files = [*ROOT.joinpath("proofs_check").rglob("*.py"), *ROOT.joinpath("overlapcal").rglob("*.py")]
    return max((f.stat().st_mtime for f in files), default=0.0)


def _run_runner(app, out_dir: Path) -> Path | None:
    """Run the proofs_check runner unless a fresh report exists; returns report.json or None."""
    report = out_dir / "report.json"
    if report.exists() and report.stat().st_mtime > _newest_source():
        logger.info(f"[oc_docs] reusing the proofs_check report {report}")
        return report
    if not (ROOT / "proofs_check" / "__main__.py").exists():
        return None
    profile = app.config.oc_proofs_profile
    cmd = [sys.executable, "-m", "proofs_check", "--profile", profile, "--out", str(out_dir)]
    logger.info(f"[oc_docs] running {' '.join(cmd[1:])} ...")
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
    logger.info(f"[oc_docs] proofs_check exited {done.returncode} after {seconds:.1f} s")
    if not report.exists():
        logger.warning("proofs_check wrote no report (exit %s):\n%s", done.returncode,
                       "\n".join(tail), type="oc_docs")
        return None
    if done.returncode != 0:
        logger.warning("proofs_check exited %s (a claim failed or a wrong variant was not "
                       "caught):\n%s", done.returncode, "\n".join(tail), type="oc_docs")
    return report


def generate_proofs_page(app) -> None:
    configured = app.config.oc_proofs_report
    if configured:
        report_path = Path(configured)
        if not report_path.is_absolute():
            report_path = (ROOT / report_path).resolve()
        source = str(configured)
    else:
        report_path = _run_runner(app, Path(app.outdir).parent / "proofs_check")
        source = f"python -m proofs_check --profile {app.config.oc_proofs_profile}"
    if report_path is None:
        proofs_report.render_unavailable(
            PAGE_DIR,
            "The proofs_check runner (`python -m proofs_check`) is not available in this "
            "checkout, so no report could be generated.",
        )
        logger.info("[oc_docs] no proofs_check runner: wrote the placeholder report page")
        return
    report = proofs_report.load_report(report_path)
    proofs_report.render_report(report, PAGE_DIR, source=source)
    _REPORT_IDS["ids"] = {c["id"] for c in report["claims"]}
    _REPORT_IDS["references"] = {c["id"]: str(c["reference"]) for c in report["claims"]}
    failed = [c["id"] for c in report["claims"] if not proofs_report._passed(c)]
    missed = [c["id"] for c in report["claims"]
              if c["wrong_status"] is not None and not proofs_report._caught(c)]
    if failed or missed:
        logger.warning(f"proofs_check report: failing claims {failed}, wrong variants not "
                       f"caught {missed}", type="oc_docs")
    logger.info(f"[oc_docs] wrote {PAGE_DIR / 'index.md'} ({len(report['claims'])} claims)")


class ClaimRole(SphinxRole):
    """``{claim}`ID``` -> a link to the claim's section of the proofs_check report."""

    def run(self):
        claim_id = self.text.strip()
        known = _REPORT_IDS["ids"]
        literal = nodes.literal(claim_id, claim_id, classes=["xref", "claim"])
        if known is None:  # no report in this checkout (no runner yet): text only
            return [literal], []
        if claim_id not in known:
            msg = self.inliner.reporter.warning(
                f"unknown proofs_check claim {claim_id!r}; the report has: {sorted(known)}",
                line=self.lineno)
            return [literal, msg], []
        return [_claim_link(claim_id)], []


def _claim_link(claim_id: str):
    literal = nodes.literal(claim_id, claim_id, classes=["xref", "claim"])
    return addnodes.pending_xref(
        "", literal, refdomain="std", reftype="ref",
        reftarget=proofs_report.claim_label(claim_id), refexplicit=True, refwarn=True)


class ClaimsRole(SphinxRole):
    """``{claims}`Proposition 1``` -> links to every claim whose reference names the statement.

    A statement that no claim of the report refers to is a build warning: every (P) statement
    of the theory must be checked by at least one claim.
    """

    def run(self):
        statement = self.text.strip()
        if _REPORT_IDS["ids"] is None:
            return [nodes.emphasis(statement, f"the claims on {statement}")], []
        ids = proofs_report.claims_for(statement, _REPORT_IDS["references"])
        if not ids:
            msg = self.inliner.reporter.warning(
                f"no proofs_check claim refers to {statement!r} (searched the references of "
                f"the {len(_REPORT_IDS['ids'])} claims of the report)", line=self.lineno)
            return [nodes.emphasis(statement, f"(no claim yet for {statement})"), msg], []
        out = []
        for i, claim_id in enumerate(ids):
            if i:
                out.append(nodes.Text(", "))
            out.append(_claim_link(claim_id))
        return out, []


class RunDirective(SphinxDirective):
    """Execute a Python block while building; show the code, then its printed output.

    ``:output-markup:`` parses the printed output as the page's own markup (Markdown in a
    MyST page) instead of showing it verbatim: tables generated from the code.
    """

    has_content = True
    option_spec = {"from-readme": directives.flag, "hide-code": directives.flag,
                   "output-markup": directives.flag}

    def run(self):
        if "from-readme" in self.options:
            readme = (ROOT / "README.md").read_text()
            blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
            if len(blocks) != 1:
                raise self.error(f"README.md has {len(blocks)} python blocks; expected one")
            code = blocks[0]
            self.env.note_dependency(str(ROOT / "README.md"))
        else:
            code = "\n".join(self.content) + "\n"
        namespaces = self.env.temp_data.setdefault("oc_run_namespaces", {})
        namespace = namespaces.setdefault(self.env.docname, {"__name__": "__oc_run__"})
        stdout = io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout):
                exec(compile(code, f"<{self.env.docname}: oc-run>", "exec"), namespace)
        except Exception:
            logger.warning("oc-run block failed:\n%s", traceback.format_exc(limit=4),
                           location=(self.env.docname, self.lineno), type="oc_docs")
        result = []
        if "hide-code" not in self.options:
            block = nodes.literal_block(code, code.rstrip("\n"), language="python")
            result.append(block)
        printed = stdout.getvalue().rstrip("\n")
        if printed and "output-markup" in self.options:
            container = nodes.container()
            self.state.nested_parse(StringList(printed.splitlines(), source=self.env.docname),
                                    self.content_offset, container)
            result.extend(container.children)
        elif printed:
            out = nodes.literal_block(printed, printed, language="text",
                                      classes=["oc-run-output"])
            result.append(nodes.paragraph("", "", nodes.emphasis("", "Output:")))
            result.append(out)
        return result


#: Short names used in docstrings -> the documented object (aliases and re-exports).
ALIASES = {
    "ece": "overlapcal.metrics.expected_calibration_error",
    "mce": "overlapcal.metrics.maximum_calibration_error",
    "ace": "overlapcal.metrics.average_calibration_error",
    "nll": "overlapcal.metrics.negative_log_likelihood",
    "brier": "overlapcal.metrics.brier_score",
    "Segments": "overlapcal.distributions.Segments",
}


def resolve_alias(app, env, node, contnode):
    """Resolve ``:func:`ece``` and friends (aliases of documented functions) to their page."""
    if node.get("refdomain") != "py":
        return None
    full = ALIASES.get(node["reftarget"].rpartition(".")[2])
    if full is None:
        return None
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder,
                                             node["reftype"], full, node, contnode)


def setup(app):
    app.add_config_value("oc_proofs_report", None, "env")
    app.add_config_value("oc_proofs_profile", "ci", "env")
    app.add_role("claim", ClaimRole())
    app.add_role("claims", ClaimsRole())
    app.add_directive("oc-run", RunDirective)
    app.connect("builder-inited", generate_proofs_page)
    app.connect("missing-reference", resolve_alias)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
