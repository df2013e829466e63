"""Report plumbing of `overlapcal reproduce` (the full run is exercised by the main job)."""

import csv

import numpy as np

from overlapcal.experiments import reproduce as reproduce_module
from overlapcal.experiments.config import config_from_dict
from overlapcal.experiments.reproduce import Verdict, _report, FigureResult, figure_configs


def test_verdicts_from_numpy_comparisons_count_as_agreeing():
    verdict = Verdict("F1", "claim", np.float64(1.0) > 0, "detail")
    assert verdict.passed is True and "**agrees**" in verdict.line()
    finding = Verdict("F3", "observation", None, "numbers")
    assert "**finding**" in finding.line()
    report = _report([FigureResult("F1", "t", "p", verdicts=[verdict, finding,
                                                             Verdict("F1", "c", False, "d")])],
                     quick=True)
    assert "1 of 2 agree" in report


def test_every_figure_config_is_valid_and_quick_is_smaller():
    quick, full = figure_configs(True), figure_configs(False)
    assert set(quick) == set(full) == {"F1", "F2", "F3", "F5"}
    n_quick = sum(c.n_cells for cs in quick.values() for c in cs)
    n_full = sum(c.n_cells for cs in full.values() for c in cs)
    assert n_quick < n_full


def tiny_configs(quick=True):
    """The quick configuration shrunk to seconds: two values per grid axis but every method, tiny
    samples and nets.

    Every sweep, method and recalibration of the real run is kept, so each figure, table and
    verdict is drawn from real rows of the same shape.
    """
    shrink = {"n_per_class": 10, "n_train": 120, "n_val": 200, "n_test": 400, "kl_samples": 400,
              "epochs": 2, "width": 16}
    configs = {}
    for key, sweeps in figure_configs(True).items():
        configs[key] = []
        for config in sweeps:
            # every method (F4 redraws a hard-interpolator and a local-Mixup cell), two values
            # of every other axis
            grid = {name: list(values if name == "method" else values[:2])
                    for name, values in config.grid.items()}
            fixed = {name: shrink.get(name, value) if value is not None else None
                     for name, value in config.fixed.items()}
            fixed.pop("until_interpolation", None)  # 2 epochs cannot interpolate
            configs[key].append(config_from_dict(
                {"name": config.name, "task": config.task, "seed": config.seed,
                 "replicates": 1, "grid": grid, "fixed": fixed}, source="tiny"))
    return configs


def test_reproduce_writes_every_figure_the_report_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce_module, "figure_configs", tiny_configs)
    results = reproduce_module.reproduce(tmp_path, quick=True, workers=1, progress=False)

    assert [r.key for r in results] == ["F1", "F2", "F3", "F4", "F5"]
    stems = ["F1_kl_vs_k", "F2_kl_vs_overlap", "F3_paper_table", "F4_ece_vs_kl",
             "F5_gaussian_kl_vs_k"]
    for stem in stems:
        for suffix in (".png", ".pdf"):
            path = tmp_path / (stem + suffix)
            assert path.is_file() and path.stat().st_size > 1000, path
    report = (tmp_path / "report.md").read_text()
    for key in ("F1", "F2", "F3", "F4", "F5"):
        assert f"## {key}:" in report
    # Verdict lines are computed, one per checked statement, and the header counts them.
    n_lines = sum(line.startswith(("- **agrees**", "- **DISAGREES**")) for line in report.splitlines())
    n_verdicts = sum(v.passed is not None for r in results for v in r.verdicts)
    assert n_lines == n_verdicts > 0
    assert f"of {n_verdicts} agree with the theory" in report
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["figure"] for row in rows} == {"F1", "F2", "F3", "F5"}
    assert {"kl", "recalibration", "method", "cell_id"} <= set(rows[0])

    # F4's diagrams redraw two stored F1 cells: their ECE and KL are those cells' numbers.
    (f4,) = [r for r in results if r.key == "F4"]
    compared = f4.verdicts[-1]
    k = int(compared.claim.split("k = ")[1].split()[0])
    for method, name in (("hard_interpolator", "hard interpolator"),
                         ("mixup_optimum_local", "local Mixup optimum")):
        (row,) = [r for r in rows if r["figure"] == "F1" and r["method"] == method
                  and r["recalibration"] == "oracle" and int(r["n_classes"]) == k]
        assert (f"{name}: ECE {float(row['test_ece_posterior']):.4f}, "
                f"KL {float(row['kl']):.3f}") in compared.detail

    # Rerunning resumes from the stores: no cell is computed again, the numbers are identical.
    calls = []
    original = reproduce_module.run_sweep

    def counting(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(result.n_run)
        return result

    monkeypatch.setattr(reproduce_module, "run_sweep", counting)
    reproduce_module.reproduce(tmp_path, quick=True, workers=1, progress=False)
    assert calls and set(calls) == {0}
    with open(tmp_path / "results.csv", newline="") as handle:
        assert list(csv.DictReader(handle)) == rows


# ----------------------------------------------------------------------------------------------
# Verdicts on hand-made rows: each can disagree, and failures are findings, not crashes
# ----------------------------------------------------------------------------------------------


def paper_rows(erm_lbfgs_nll, dmixup_nll, failed_shift=None):
    """F3 rows at the four shifts: Bayes (NLL = H), ERM + TS (converged and paper LBFGS),
    4-Mixup; one paper-LBFGS fit can be a recorded failure (no temperature, an error)."""
    entropy = {0.25: 0.041, 0.1: 0.418, 0.05: 0.607, 0.01: 0.689}
    rows = []
    for (mu, h), lbfgs, dmix in zip(entropy.items(), erm_lbfgs_nll, dmixup_nll):
        base = {"shift": mu, "conditional_entropy": h, "test_ece": 0.0, "test_ace": 0.0}
        rows.append({**base, "method": "bayes", "recalibration": "none", "test_nll": h})
        rows.append({**base, "method": "erm_net", "recalibration": "fitted", "test_nll": h + 0.01,
                     "temperature": 3.0})
        if mu == failed_shift:
            rows.append({**base, "method": "erm_net", "recalibration": "paper_lbfgs",
                         "temperature": float("nan"), "test_nll": float("nan"),
                         "error": "The paper's LBFGS step gave a temperature of -0.3"})
        else:
            rows.append({**base, "method": "erm_net", "recalibration": "paper_lbfgs",
                         "test_nll": lbfgs, "temperature": 1.2, "converged_temperature": 3.0})
        rows.append({**base, "method": "dmixup_net", "n_mix": 5, "recalibration": "none",
                     "test_nll": dmix})
    return rows


def verdict(verdicts, start):
    matches = [v for v in verdicts if v.claim.startswith(start)]
    assert len(matches) == 1, [v.claim for v in verdicts]
    return matches[0]


def test_f3_verdicts_test_the_excess_over_the_entropy_and_can_disagree(tmp_path):
    # LBFGS excess over H rising (0.1, 0.2, 0.3, 0.4): the published trend holds
    _, verdicts = reproduce_module._f3(paper_rows([0.141, 0.618, 0.907, 1.089],
                                                  [0.3, 0.5, 0.7, 0.75]), tmp_path)
    assert verdict(verdicts, "the published trend").passed is True
    assert verdict(verdicts, "the published comparison").passed is True
    # NLL rising only because H(Y|X) rises (constant excess 0.1): the trend does not hold
    _, verdicts = reproduce_module._f3(paper_rows([0.141, 0.518, 0.707, 0.789],
                                                  [0.3, 0.5, 0.9, 0.95]), tmp_path)
    assert verdict(verdicts, "the published trend").passed is False
    assert verdict(verdicts, "the published comparison").passed is False


def test_f3_a_failed_lbfgs_fit_is_reported_not_a_crash_or_a_disagreement(tmp_path):
    rows = paper_rows([0.141, 0.618, 0.907, 1.089], [0.3, 0.5, 0.7, 0.75], failed_shift=0.05)
    _, verdicts = reproduce_module._f3(rows, tmp_path)
    failure = verdict(verdicts, "1 paper-LBFGS fit(s) failed")
    assert failure.passed is None and "temperature of -0.3" in failure.detail
    assert verdict(verdicts, "the published comparison").passed is True
    assert verdict(verdicts, "the paper's one-step LBFGS barely moves T").passed is True
    assert "failed: T =" in (tmp_path / "F3_paper_table.md").read_text()


def network_rows(erm_kl, mixup_kl, erm_features=8, mixup_features=8):
    rows = []
    for k, a, b in zip((2, 4, 8), erm_kl, mixup_kl):
        for method, kl, d in (("erm_net", a, erm_features), ("mixup_net", b, mixup_features)):
            for recal in ("none", "oracle"):
                rows.append({"method": method, "recalibration": recal, "n_classes": k,
                             "kl": kl, "n_features": d, "n_per_class": 250,
                             "train_accuracy": 1.0})
    return rows


def test_network_comparison_is_a_verdict_on_the_same_data_and_a_finding_otherwise():
    same = reproduce_module._verdicts_versus_k(network_rows([0.2, 0.3, 0.4], [0.1, 0.1, 0.2]),
                                               "F5", None)
    assert verdict(same, "trained networks: ERM is worse").passed is True
    assert verdict(same, "interpolating ERM networks: KL after oracle TS grows").passed is True
    worse = reproduce_module._verdicts_versus_k(network_rows([0.2, 0.3, 0.4], [0.3, 0.1, 0.2]),
                                                "F5", None)
    assert verdict(worse, "trained networks: ERM is worse").passed is False
    flat = reproduce_module._verdicts_versus_k(network_rows([0.4, 0.3, 0.2], [0.1, 0.1, 0.1]),
                                               "F5", None)
    assert verdict(flat, "interpolating ERM networks: KL after oracle TS grows").passed is False
    other = reproduce_module._verdicts_versus_k(
        network_rows([0.2, 0.3, 0.4], [0.1, 0.1, 0.2], mixup_features=1), "F1", None)
    finding = verdict(other, "trained networks: ERM is worse")
    assert finding.passed is None and "n_features: ERM [8], Mixup [1]" in finding.detail


def test_mixup_networks_are_compared_with_the_optimum_of_their_own_dimension():
    rows = network_rows([0.2, 0.3, 0.4], [0.05, 0.1, 0.15], mixup_features=1)
    rows += [{"method": "mixup_optimum", "recalibration": "oracle", "n_classes": k, "kl": kl}
             for k, kl in ((2, 0.04), (4, 0.09), (8, 0.1))]
    close = verdict(reproduce_module._verdicts_versus_k(rows, "F1", None),
                    "trained Mixup networks approach")
    assert close.passed is True
    rows[-1]["kl"] = 0.01  # the network is now 0.14 nats above the optimum at k = 8
    far = verdict(reproduce_module._verdicts_versus_k(rows, "F1", None),
                  "trained Mixup networks approach")
    assert far.passed is False
    # networks in d = 8 are not compared with the 1-D optimum
    rows8 = network_rows([0.2, 0.3, 0.4], [0.05, 0.1, 0.15]) + rows[-3:]
    assert not [v for v in reproduce_module._verdicts_versus_k(rows8, "F1", None)
                if v.claim.startswith("trained Mixup networks approach")]


def test_missing_torch_fails_before_any_sweep(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))

    def must_not_run(*args, **kwargs):
        raise AssertionError("a sweep ran although torch is missing")

    monkeypatch.setattr(reproduce_module, "run_sweep", must_not_run)
    import pytest

    with pytest.raises(ImportError, match=r"train networks and need PyTorch"):
        reproduce_module.reproduce(tmp_path, progress=False)


def growth_rows(kl, stderr, replicates=1):
    return [{"n_classes": k, "kl": v + 0.001 * rep, "kl_stderr": stderr, "replicate": rep}
            for k, v in zip([2, 4, 8], kl) for rep in range(replicates)]


def test_growth_with_k_needs_a_slope_beyond_two_standard_errors():
    (up,) = reproduce_module._growth_verdict("F5", "grows", growth_rows([0.08, 0.12, 0.16], 0.003))
    assert up.passed is True and "(Monte Carlo error only)" in up.detail
    assert "at k [2, 4, 8]" in up.detail  # grid values as written, not 2.0, 4.0, 8.0
    (down,) = reproduce_module._growth_verdict("F5", "grows", growth_rows([0.16, 0.12, 0.08], 0.003))
    assert down.passed is False
    # the helper's case: 0.083, 0.115, 0.110 with errors of 0.01 is not evidence of growth
    (flat,) = reproduce_module._growth_verdict("F5", "grows", growth_rows([0.083, 0.115, 0.110], 0.01))
    assert flat.passed is None and "inconclusive" in flat.claim
    # replicates: their spread counts, so noisy replicates widen the error
    (reps,) = reproduce_module._growth_verdict("F5", "grows",
                                               growth_rows([0.08, 0.12, 0.16], 0.0, replicates=3))
    assert reps.passed is True and "3 replicates" in reps.detail
    assert reproduce_module._growth_verdict("F5", "grows", growth_rows([0.1], 0.01)) == []
