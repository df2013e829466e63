"""The documentation's own code: the proofs_check report page generator, the claim ids the
theory page links to, and (slow) the tutorials, which the docs build also executes."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FIXTURE = DOCS / "fixtures" / "proofs_report_fixture.json"
TUTORIALS = sorted((DOCS / "tutorials").glob("tutorial_*.py"))


def _load_generator():
    spec = importlib.util.spec_from_file_location("proofs_report", DOCS / "_ext" / "proofs_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    pytest.importorskip("matplotlib")
    return _load_generator()


def test_report_page_from_fixture(generator, tmp_path):
    report = json.loads(FIXTURE.read_text())
    page = generator.render_report(report, tmp_path)
    text = page.read_text()
    # one table row per claim, linking to a section with the claim's label
    rows = [line for line in text.splitlines() if line.startswith("| {ref}")]
    assert len(rows) == len(report["claims"]) == 3
    for claim in report["claims"]:
        label = generator.claim_label(claim["id"])
        assert f"({label})=" in text
        assert f"<{label}>" in text
    # the pipe in a reference is escaped so it cannot split the table row
    assert "fixture \\| 1" in rows[0] and rows[0].count(" | ") == 8
    # numbers: 3 significant digits; the report's non-finite strings rendered as symbols
    assert "| 1e-13 |" in rows[0] and "| 0.5 | 0.5 |" in rows[1]
    assert "−∞" in rows[2] and "NaN" in rows[2]
    assert "**2 of 3 claims pass; 2 of 3 wrong variants are caught.**" in text
    # a figure per claim with a margin grid, none for the claim without one
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "margins-fixture-bound.png", "margins-fixture-exact.png"]
    assert text.count("```{figure}") == 2


def test_report_page_rejects_a_report_missing_fields(generator, tmp_path):
    report = json.loads(FIXTURE.read_text())
    del report["claims"][1]["min_margin"]
    with pytest.raises(generator.ReportError, match=r"fixture-bound.*min_margin"):
        generator.render_report(report, tmp_path)
    with pytest.raises(generator.ReportError, match="max_examples"):
        generator.render_report({k: v for k, v in report.items() if k != "max_examples"},
                                tmp_path)


def test_claim_labels_are_distinct_and_safe(generator):
    labels = {generator.claim_label(i) for i in ("prop1-oracle-ts", "Prop1.oracle_ts", "x")}
    assert labels == {"claim-prop1-oracle-ts", "claim-x"}


def _docs_pages():
    for page in DOCS.glob("**/*.md"):
        if "_build" not in page.parts and "generated" not in page.parts:
            yield page


def test_claims_for_matches_whole_statements(generator):
    refs = {"a": "THEORY.md 4.3, Proposition 1", "b": "THEORY.md 4.3 (Proposition 1b)",
            "c": "THEORY.md 5, Proposition 1.", "d": "Proposition 12", "e": "Corollary 2"}
    assert generator.claims_for("Proposition 1", refs) == ["a", "c"]
    assert generator.claims_for("Proposition 1b", refs) == ["b"]
    assert generator.claims_for("Corollary 2", refs) == ["e"]
    assert generator.claims_for("Proposition 3", refs) == []


def test_docs_link_only_registered_claims(generator):
    """Every {claim}`id` on a docs page names a registered claim, and every {claims}`statement`
    (a numbered (P) statement of the theory) is the reference of at least one claim. The
    strict docs build fails otherwise; this finds it without Sphinx."""
    proofs_check = pytest.importorskip("proofs_check")
    references = {claim.id: claim.reference for claim in proofs_check.all_claims()}
    ids, statements = {}, {}
    for page in _docs_pages():
        text = page.read_text()
        for claim_id in re.findall(r"\{claim\}`([^`]+)`", text):
            ids.setdefault(claim_id, page.name)
        for statement in re.findall(r"\{claims\}`([^`]+)`", text):
            statements.setdefault(statement, page.name)
    assert ids and statements, "the theory page links no claim"
    unknown = {i: p for i, p in ids.items() if i not in references}
    assert not unknown, f"docs link claims that are not registered: {unknown}"
    unchecked = [s for s in statements if not generator.claims_for(s, references)]
    assert not unchecked, f"no registered claim refers to these statements: {unchecked}"


@pytest.mark.slow
@pytest.mark.parametrize("script", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(script, tmp_path):
    """Each tutorial runs as a plain script (the docs build runs them through sphinx-gallery)."""
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
