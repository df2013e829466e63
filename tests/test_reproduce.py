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
    """The quick configuration shrunk to seconds: two grid values per axis, tiny samples and nets.

    Every sweep, method and recalibration of the real run is kept, so each figure, table and
    verdict is drawn from real rows of the same shape.
    """
    shrink = {"n_per_class": 10, "n_train": 120, "n_val": 200, "n_test": 400, "kl_samples": 400,
              "epochs": 2, "width": 16}
    configs = {}
    for key, sweeps in figure_configs(True).items():
        configs[key] = []
        for config in sweeps:
            grid = {name: list(values[:2]) for name, values in config.grid.items()}
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
