"""proofs_check: every registered claim holds, every wrong variant is caught, the runner and CLI.

Runs in the deterministic ``ci`` profile (derandomized, no example database), so a failure here
is reproducible with ``python -m proofs_check --claim ID``.
"""

import csv
import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import strategies as st

from proofs_check import REGISTRY, Check, Claim, all_claims
from proofs_check.__main__ import main
from proofs_check.core import all_of
from proofs_check.report import CLAIM_KEYS, POINT_KEYS, REPORT_KEYS, format_failures
from proofs_check.runner import literal, profile_settings, replay_command, run_claim

CLAIMS = all_claims()
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------
# Every claim, both variants
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_claim_holds(claim):
    result = run_claim(claim, profile="ci")
    assert result.status == "holds", format_failures([result])
    assert result.examples >= 1
    assert result.min_margin >= 0.0


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_wrong_variant_is_caught(claim):
    result = run_claim(claim, profile="ci", variant="wrong")
    assert result.status == "caught", format_failures([result])
    assert result.counterexample is not None
    assert result.counterexample_check is not None and not result.counterexample_check.holds


def test_registry_is_well_formed():
    ids = [c.id for c in CLAIMS]
    assert len(ids) == len(set(ids))
    for claim in CLAIMS:
        assert claim.kind in ("exact", "bound", "monte-carlo"), claim.id
        assert claim.statement and claim.formula and claim.reference and claim.tolerance
        assert claim.wrong_description, claim.id
        for params in claim.examples:  # explicit examples must replay from their literal
            assert eval(literal(params)) == params  # noqa: S307


# ----------------------------------------------------------------------------------------------
# Check
# ----------------------------------------------------------------------------------------------


def test_check_margins_per_relation():
    assert Check(1.0, 2.0, "<=").margin == 1.0
    assert Check(1.0, 2.0, ">=").margin == -1.0
    assert Check(3.0, 2.0, ">=", tol=0.5).margin == 1.5
    eq = Check(1.0, 1.5, "==", tol=0.25)
    assert eq.slack == -0.5 and eq.margin == -0.25 and not eq.holds
    assert Check(1.0, 1.5, "==", tol=0.5).holds  # margin exactly 0 holds


def test_check_non_finite_never_holds():
    assert not Check(math.nan, 0.0, "<=").holds
    assert not Check(math.inf, math.inf, "==").holds  # inf - inf is nan
    assert not Check(math.inf, 0.0, "<=", tol=1e300).holds


def test_check_rejects_bad_relation_and_tolerance():
    with pytest.raises(ValueError, match="relation"):
        Check(0.0, 0.0, "<")
    with pytest.raises(ValueError, match="tol"):
        Check(0.0, 0.0, "==", tol=-1.0)
    with pytest.raises(ValueError, match="tol"):
        Check(0.0, 0.0, "==", tol=math.nan)


def test_all_of_takes_the_smallest_margin_and_nan_as_worst():
    worst = all_of([Check(0.0, 1.0, "<="), Check(0.0, 0.5, "<="), Check(0.0, 3.0, "<=")])
    assert worst.margin == 0.5
    assert math.isnan(all_of([Check(0.0, 1.0, "<="), Check(math.nan, 0.0, "<=")]).margin)
    with pytest.raises(ValueError):
        all_of([])


# ----------------------------------------------------------------------------------------------
# Runner, on toy claims (not registered)
# ----------------------------------------------------------------------------------------------


def _toy(check, wrong=None, claim_id="toy"):
    return Claim(
        id=claim_id, statement="toy", formula="x <= 10", reference="none", kind="bound",
        tolerance="none", parameters=lambda: st.fixed_dictionaries({"x": st.integers(0, 1000)}),
        check=check, wrong=wrong or check, wrong_description="toy",
    )


def test_runner_reports_a_shrunk_counterexample_with_a_replay():
    claim = _toy(lambda p: Check(p["x"], 10, "<="))
    result = run_claim(claim, profile="ci", max_examples=200)
    assert result.status == "violated" and not result.ok
    assert result.counterexample == {"x": 11}  # shrunk to the smallest violation
    assert result.counterexample_check.margin == -1
    assert result.min_margin < 0
    assert "get_claim('toy').check({'x': 11})" in result.replay


def test_runner_reports_errors_with_their_traceback():
    def check(p):
        return Check(math.sqrt(500 - p["x"]), 0.0, ">=")  # ValueError for x > 500

    result = run_claim(_toy(check), profile="ci", max_examples=200)
    assert result.status == "error" and not result.ok
    assert "ValueError: math domain error" in result.error
    assert result.counterexample == {"x": 501}


def test_runner_rejects_a_check_that_returns_no_check():
    result = run_claim(_toy(lambda p: True), profile="ci", max_examples=5)
    assert result.status == "error" and "must return a proofs_check.Check" in result.error


def test_runner_holds_and_missed_wrong_variant():
    claim = _toy(lambda p: Check(p["x"], 2000, "<="))
    holds = run_claim(claim, profile="ci", max_examples=10)
    assert holds.status == "holds" and holds.ok and holds.examples >= 10
    assert 1000 <= holds.min_margin <= 2000
    missed = run_claim(claim, profile="ci", max_examples=10, variant="wrong")
    assert missed.status == "missed" and not missed.ok and missed.replay is None


def test_ci_profile_is_deterministic():
    claim = _toy(lambda p: Check(p["x"] % 7, 10, "<="))
    a = run_claim(claim, profile="ci", max_examples=30)
    b = run_claim(claim, profile="ci", max_examples=30)
    assert (a.examples, a.min_margin, a.worst_params) == (b.examples, b.min_margin, b.worst_params)
    settings = profile_settings("ci")
    assert settings.derandomize and settings.database is None and settings.deadline is None


def test_profile_settings_validate():
    assert profile_settings("thorough", 7).max_examples == 7
    with pytest.raises(ValueError, match="profile"):
        profile_settings("fast")
    with pytest.raises(ValueError, match="max_examples"):
        profile_settings("ci", 0)


def test_literal_round_trips_non_finite_floats_and_nesting():
    params = {"a": (1.0, -0.0, 5e-324, 1e300), "b": [float("inf"), -float("inf")], "c": None,
              "d": "it's", "e": ((1,),), "f": True}
    assert eval(literal(params)) == params  # noqa: S307
    assert math.isnan(eval(literal({"x": float("nan")}))["x"])  # noqa: S307
    with pytest.raises(TypeError, match="Claim parameters"):
        literal({"x": object()})


def test_replay_command_runs():
    claim = CLAIMS[0]
    params = claim.examples[0] if claim.examples else None
    if params is None:
        pytest.skip("the first claim has no explicit example")
    command = replay_command(claim.id, params)
    out = subprocess.run(shlex.split(command.replace("python", sys.executable, 1)), cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    assert str(claim.check(params)) in out.stdout


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def _strict_json(path):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(Path(path).read_text(), parse_constant=reject)


def test_cli_writes_the_report_schema(tmp_path, capsys):
    with_grid = next(c for c in CLAIMS if c.grid is not None)
    ids = list(dict.fromkeys([CLAIMS[0].id, with_grid.id]))
    argv = [arg for cid in ids for arg in ("--claim", cid)]
    code = main([*argv, "--max-examples", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    report = _strict_json(tmp_path / "report.json")
    assert tuple(report) == REPORT_KEYS
    assert report["profile"] == "ci" and report["max_examples"] == 2
    assert [c["id"] for c in report["claims"]] == ids
    for record in report["claims"]:
        assert tuple(record) == CLAIM_KEYS
        assert record["status"] == "holds" and record["wrong_status"] == "caught"
        assert isinstance(record["worst_params"], dict)
    grid = report["margins"][with_grid.id]
    assert grid["axes"] == list(with_grid.grid_axes)
    assert len(grid["points"]) == len(with_grid.grid())
    for point in grid["points"]:
        assert set(POINT_KEYS) <= set(point) and set(with_grid.grid_axes) <= set(point)
    with open(tmp_path / "margins.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(grid["points"]) and rows[0]["claim"] == with_grid.id
    for cid in ids:
        assert f"| {cid} |" in out


def test_cli_exit_status_and_details_on_a_violation(tmp_path, capsys, monkeypatch):
    claim = _toy(lambda p: Check(p["x"], 10, "<="), claim_id="toy-cli")
    monkeypatch.setitem(REGISTRY, claim.id, claim)
    code = main(["--claim", "toy-cli", "--no-self-test", "--no-grid", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "violated" in out and "replay: python -c" in out and "{'x': 11}" in out
    record = _strict_json(tmp_path / "report.json")["claims"][0]
    assert record["status"] == "violated" and record["wrong_status"] is None


def test_cli_rejects_unknown_claims_and_bad_counts(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--claim", "no-such-claim"])
    assert exc.value.code == 2
    assert "no-such-claim" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--max-examples", "0"])
    assert exc.value.code == 2
    assert "int >= 1" in capsys.readouterr().err


def test_cli_list(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(c.id in out for c in CLAIMS)
