"""Report plumbing of `overlapcal reproduce` (the full run is exercised by the main job)."""

import numpy as np

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
