"""Sweep configurations: validation of every field, and the cells a config expands to."""

import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from overlapcal.experiments.config import (
    ConfigError,
    SweepConfig,
    config_from_dict,
    expand,
    load_config,
)


def base(**changes):
    """A valid calibration config (as parsed from TOML), with top-level ``changes`` applied."""
    data = {
        "name": "demo",
        "task": "calibration",
        "seed": 11,
        "replicates": 2,
        "grid": {"n_classes": [2, 4], "method": ["hard_interpolator", "soft_interpolator"]},
        "fixed": {"family": "overlapping_uniform", "overlap": 0.5},
    }
    data.update(changes)
    return data


def without(key):
    data = base()
    del data[key]
    return data


# -- validation ------------------------------------------------------------------------------

def test_valid_config_is_normalised():
    config = config_from_dict(base(workers=2, scheduler="tcp://h:8786", description="d"))
    assert isinstance(config, SweepConfig)
    assert config.grid == {"n_classes": (2, 4),
                           "method": ("hard_interpolator", "soft_interpolator")}
    assert config.fixed == {"family": "overlapping_uniform", "overlap": 0.5}
    assert (config.seed, config.replicates, config.workers) == (11, 2, 2)
    assert config.scheduler == "tcp://h:8786" and config.description == "d"
    # The calibration task's data keys are the default: the method is not one of them.
    assert "family" in config.data_keys and "method" not in config.data_keys
    assert config.n_cells == 2 * 2 * 2


BAD_CONFIGS = [
    # (parsed config, regex the ConfigError must match: the field, then the problem)
    ([1, 2], r"expected a table of fields, got list"),
    (without("name"), r"field 'name' is required but missing"),
    (without("task"), r"field 'task' is required but missing"),
    (without("seed"), r"field 'seed' is required but missing"),
    (without("grid"), r"field 'grid' is required but missing"),
    (base(colour="red"), r"field 'colour' is not a known field \(known: .*replicates"),
    (base(name=""), r"field 'name' must be a non-empty string, got ''"),
    (base(name=3), r"field 'name' must be a non-empty string, got 3"),
    (base(task=["calibration"]), r"field 'task' must be a string"),
    (base(task="train"), r"field 'task' must be one of \['calibration'\], got 'train'"),
    (base(seed=-1), r"field 'seed' must be a non-negative integer, got -1"),
    (base(seed=1.5), r"field 'seed' must be a non-negative integer, got 1.5"),
    (base(seed=True), r"field 'seed' must be a non-negative integer, got True"),
    (base(seed="7"), r"field 'seed' must be a non-negative integer, got '7'"),
    (base(replicates=0), r"field 'replicates' must be an integer >= 1, got 0"),
    (base(replicates=2.0), r"field 'replicates' must be an integer >= 1, got 2.0"),
    (base(replicates=True), r"field 'replicates' must be an integer >= 1, got True"),
    (base(grid={}), r"field 'grid' must be a non-empty table"),
    (base(grid=[2, 4]), r"field 'grid' must be a non-empty table"),
    (base(grid={"n_classes": 4}), r"field 'grid.n_classes' must be a non-empty list of values, "
                                  r"got 4"),
    (base(grid={"n_classes": []}), r"field 'grid.n_classes' must be a non-empty list"),
    (base(grid={"n_classes": [2, 4, 2]}), r"field 'grid.n_classes' has repeated values: "
                                          r"\[2, 4, 2\]"),
    (base(grid={"n_classes": [[2, 4]]}), r"field 'grid.n_classes' must hold only strings, "
                                         r"numbers or booleans"),
    (base(grid={"n_classes": [{"k": 2}]}), r"field 'grid.n_classes' must hold only strings"),
    (base(fixed=["family"]), r"field 'fixed' must be a table of parameter = value"),
    (base(fixed={"n_classes": 4}), r"field 'fixed.n_classes' is also a grid axis"),
    (base(fixed={"overlap": {"a": 1}}), r"field 'fixed.overlap' must be a string, number, "
                                        r"boolean or list of them"),
    (base(fixed={"recalibrations": [["none"]]}), r"field 'fixed.recalibrations' must be a "
                                                 r"string, number, boolean or list of them"),
    (base(scheduler=""), r"field 'scheduler' must be a scheduler address string, got ''"),
    (base(scheduler=8786), r"field 'scheduler' must be a scheduler address string, got 8786"),
    (base(workers=0), r"field 'workers' must be an integer >= 1, got 0"),
    (base(workers=True), r"field 'workers' must be an integer >= 1, got True"),
    (base(data_keys="family"), r"field 'data_keys' must be a list of parameter names"),
    (base(data_keys=["family", 3]), r"field 'data_keys' must be a list of parameter names"),
    # The calibration task's own checks.
    (base(grid={"temperature": [1.0, 2.0]}), r"field 'grid.temperature' is not a parameter of "
                                             r"the calibration task \(known: .*n_classes"),
    (base(fixed={"colour": "red"}), r"field 'fixed.colour' is not a parameter of the "
                                    r"calibration task"),
    (base(fixed={"family": "cauchy"}), r"field 'fixed.family' must be one of "
                                       r"\['overlapping_uniform', .*\], got 'cauchy'"),
    (base(grid={"family": ["gaussian_pairs", "cauchy"]}, fixed={}),
     r"field 'grid.family' must be one of .*got 'cauchy'"),
    (base(grid={"method": ["hard_interpolator", "svm"]}), r"field 'grid.method' must be one of "
                                                          r"\['bayes', .*\], got 'svm'"),
    (base(fixed={"method": "svm"}, grid={"n_classes": [2]}), r"field 'fixed.method' must be one "
                                                             r"of .*got 'svm'"),
    (base(fixed={"noise_kind": "flip"}), r"field 'fixed.noise_kind' must be one of "
                                         r"\['pair', 'symmetric'\], got 'flip'"),
    (base(fixed={"recalibrations": "none"}), r"field 'fixed.recalibrations' must be a non-empty "
                                             r"list .*got 'none'"),
    (base(fixed={"recalibrations": []}), r"field 'fixed.recalibrations' must be a non-empty "
                                         r"list"),
    (base(fixed={"recalibrations": ["none", "platt"]}),
     r"field 'fixed.recalibrations' .*\['none', 'oracle', 'fitted', 'paper_lbfgs'\], "
     r"got \['none', 'platt'\]"),
    (base(fixed={"recalibrations": ["none", "none"]}), r"field 'fixed.recalibrations' must be a "
                                                       r"non-empty list of distinct names"),
    # A grid of recalibrations would hand each cell one name, which the task iterates by letter.
    (base(grid={"recalibrations": ["none", "oracle"]}), r"field 'grid.recalibrations' cannot "
                                                        r"be a grid axis"),
    # Types and ranges of every parameter, before any cell runs.
    (base(fixed={"overlap": "half"}), r"field 'fixed.overlap' must be a number in \[0, 1\], "
                                      r"got 'half'"),
    (base(fixed={"overlap": 1.5}), r"field 'fixed.overlap' must be a number in \[0, 1\]"),
    (base(fixed={"n_per_class": "many"}), r"field 'fixed.n_per_class' must be an integer >= 1"),
    (base(fixed={"kl_samples": -5}), r"field 'fixed.kl_samples' must be an integer >= 2, "
                                     r"got -5"),
    (base(fixed={"epochs": 0}), r"field 'fixed.epochs' must be an integer >= 1, got 0"),
    (base(fixed={"epochs": True}), r"field 'fixed.epochs' must be an integer >= 1, got True"),
    (base(fixed={"n_bins": 0}), r"field 'fixed.n_bins' must be an integer >= 1, got 0"),
    (base(fixed={"lr": float("nan")}), r"field 'fixed.lr' must be a finite number > 0"),
    (base(grid={"n_classes": [0]}), r"field 'grid.n_classes' must be an integer >= 2, got 0"),
    (base(grid={"n_classes": ["a"]}), r"field 'grid.n_classes' must be an integer >= 2, "
                                      r"got 'a'"),
    (base(fixed={"lr_schedule": "step"}), r"field 'fixed.lr_schedule' must be 'constant' or "
                                          r"'cosine'"),
    (base(fixed={"until_interpolation": 1}), r"field 'fixed.until_interpolation' must be true "
                                             r"or false"),
    (base(fixed={"lr_schedule": "cosine", "until_interpolation": True}),
     r"'lr_schedule' = 'cosine' and 'until_interpolation' = true exclude each other"),
    (base(data_keys=["family", "colour"]), r"field 'data_keys' names 'colour'"),
    # A parameter none of the sweep's methods (families) reads would be a silently ignored
    # column of the results: three values of max_distance, three identical rows.
    (base(grid={"method": ["mixup_optimum"], "max_distance": [0.5, 1.0]}),
     r"field 'grid.max_distance' is read only by method 'mixup_optimum_local', which this "
     r"sweep does not run \(its method: \['mixup_optimum'\]\)"),
    (base(fixed={"epochs": 5}), r"field 'fixed.epochs' is read only by method 'erm_net' or "
                                r"'mixup_net' or 'dmixup_net'"),
    (base(fixed={"family": "gaussian_pairs", "separation": 3.0}),
     r"field 'fixed.separation' is read only by family 'gaussian_orthogonal'"),
    # The name is a file name in OUT/: no path separators, no '..', nothing hidden.
    (base(name="../escaped"), r"field 'name' must be a file name .*got '../escaped'"),
    (base(name="sub/dir/x"), r"field 'name' must be a file name"),
    (base(name=".hidden"), r"field 'name' must be a file name"),
    (base(name="a b"), r"field 'name' must be a file name"),
    (base(description=5), r"field 'description' must be a string, got 5"),
    # The exact Mixup optimum's lam-quadrature is checked on [0.01, 100] only.
    (base(grid={"method": ["hard_interpolator", "mixup_optimum_local"]},
          fixed={"mix_alpha": 1e-17}),
     r"'mix_alpha' = 1e-17 is outside the range of the exact Mixup optimum, \[0.01, 100\] "
     r"\(grid point \{'method': 'mixup_optimum_local'\}\)"),
    # Every grid point must describe a distribution, so no cell runs before a bad one fails.
    (base(grid={"n_classes": [2, 3]}), r"grid point \{'n_classes': 3\} does not describe a "
                                       r"valid distribution: .*group_size"),
    (base(grid={"n_classes": [2, 4]}, fixed={"family": "gaussian_shifted"}),
     r"grid point \{'n_classes': 4\} .*'gaussian_shifted' has 2 classes"),
]


@pytest.mark.parametrize("data, match", BAD_CONFIGS)
def test_config_errors_name_the_field(data, match):
    with pytest.raises(ConfigError, match=match) as info:
        config_from_dict(data, source="sweep.toml")
    assert str(info.value).startswith("sweep.toml: ")  # and where the config came from


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_load_config_reads_toml(tmp_path):
    path = tmp_path / "kl.toml"
    path.write_text(textwrap.dedent("""
        name = "demo"
        task = "calibration"
        seed = 11
        replicates = 2

        [grid]
        n_classes = [2, 4]
        method = ["hard_interpolator", "soft_interpolator"]

        [fixed]
        family = "overlapping_uniform"
        overlap = 0.5
    """))
    assert load_config(path) == config_from_dict(base())
    assert load_config(str(path)) == config_from_dict(base())


def test_load_config_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\ntask = "calibration"\nseed = 1\nreplicates = 0\n'
                    '[grid]\nn_classes = [2]\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: field 'replicates' must be an integer"):
        load_config(path)

    path.write_text('name = "x"\nseed = [1,\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML: "):
        load_config(path)

    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read the config file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"cannot read the config file"):
        load_config(tmp_path)  # a folder, not a file

    path.write_bytes(b'name = "\xff"\n')  # not UTF-8: TOML is UTF-8 by definition
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML \(a TOML file is UTF-8\)"):
        load_config(path)


# -- expansion -------------------------------------------------------------------------------

def cells_by_point(config):
    """``{(params as canonical JSON, replicate): cell}``."""
    return {(json.dumps(c.params, sort_keys=True), c.replicate): c for c in expand(config)}


def test_expand_covers_the_grid_times_replicates():
    config = config_from_dict(base(replicates=3, grid={"n_classes": [2, 4, 6],
                                                       "overlap": [0.25, 0.5],
                                                       "method": ["hard_interpolator"]},
                                   fixed={"n_per_class": 5}))
    cells = expand(config)
    assert len(cells) == config.n_cells == 3 * 2 * 1 * 3
    points = {(c.params["n_classes"], c.params["overlap"], c.params["method"], c.replicate)
              for c in cells}
    assert len(points) == len(cells)  # every grid point and replicate exactly once
    assert all(c.params["n_per_class"] == 5 and c.task == "calibration" for c in cells)
    assert len({c.cell_id for c in cells}) == len(cells)
    assert len({c.method_seed for c in cells}) == len(cells)
    assert all(len(c.cell_id) == 16 and int(c.cell_id, 16) >= 0 for c in cells)
    # Replicates are innermost.
    assert [c.replicate for c in cells[:3]] == [0, 1, 2]


def test_cell_ids_do_not_depend_on_grid_order_or_size():
    config = config_from_dict(base())
    reordered = config_from_dict(base(grid={
        "method": ["soft_interpolator", "hard_interpolator"], "n_classes": [4, 2]}))
    grown = config_from_dict(base(grid={
        "n_classes": [8, 2, 4], "method": ["hard_interpolator", "soft_interpolator", "bayes"]}))
    more_replicates = config_from_dict(base(replicates=3))
    original = cells_by_point(config)
    for other in (reordered, grown, more_replicates):
        others = cells_by_point(other)
        assert set(original) <= set(others)
        for point, cell in original.items():
            assert others[point] == cell  # same id, same data and method seeds
    assert len(cells_by_point(grown)) == 3 * 3 * 2


def test_cell_ids_change_with_seed_and_parameters():
    ids = {c.cell_id for c in expand(config_from_dict(base()))}
    assert ids.isdisjoint(c.cell_id for c in expand(config_from_dict(base(seed=12))))
    changed = base(fixed={"family": "overlapping_uniform", "overlap": 0.25})
    assert ids.isdisjoint(c.cell_id for c in expand(config_from_dict(changed)))


def test_cell_ids_are_stable_across_interpreters():
    """Ids and seeds come from a cryptographic hash, not Python's per-process salted hash()."""
    code = ("import json, sys; from overlapcal.experiments.config import config_from_dict, "
            "expand; cfg = config_from_dict(json.loads(sys.argv[1])); "
            "print(json.dumps([[c.cell_id, c.data_seed, c.method_seed] for c in expand(cfg)]))")
    here = [[c.cell_id, [c.data_seed[0], list(c.data_seed[1])],
             [c.method_seed[0], list(c.method_seed[1])]] for c in expand(config_from_dict(base()))]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(base())], env=env,
                         capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == here


def test_common_random_numbers_across_methods():
    config = config_from_dict(base(replicates=2))
    cells = cells_by_point(config)

    def cell(k, method, replicate):
        params = {"family": "overlapping_uniform", "overlap": 0.5, "n_classes": k,
                  "method": method}
        return cells[json.dumps(params, sort_keys=True), replicate]

    for k in (2, 4):
        for r in (0, 1):
            hard, soft = cell(k, "hard_interpolator", r), cell(k, "soft_interpolator", r)
            assert hard.data_seed == soft.data_seed           # same samples for every method
            assert hard.method_seed != soft.method_seed
            np.testing.assert_array_equal(hard.data_rng().random(4), soft.data_rng().random(4))
        # Replicates draw fresh data.
        first, second = cell(k, "hard_interpolator", 0), cell(k, "hard_interpolator", 1)
        assert first.data_seed != second.data_seed
        assert not np.array_equal(first.data_rng().random(4), second.data_rng().random(4))
    # A data parameter (the number of classes) changes the data seed.
    assert cell(2, "hard_interpolator", 0).data_seed != cell(4, "hard_interpolator", 0).data_seed
    # The data and method streams of one cell are different streams.
    one = cell(2, "hard_interpolator", 0)
    assert not np.array_equal(one.data_rng().random(4), one.method_rng().random(4))
    # Each rng call starts the stream afresh: a cell's numbers do not depend on what ran before.
    np.testing.assert_array_equal(one.data_rng().random(4), one.data_rng().random(4))


def test_data_keys_override():
    """With the method declared a data key, methods no longer share data."""
    config = config_from_dict(base(data_keys=["family", "n_classes", "method"]))
    seeds = {c.params["method"]: c.data_seed for c in expand(config)
             if c.params["n_classes"] == 2 and c.replicate == 0}
    assert seeds["hard_interpolator"] != seeds["soft_interpolator"]


def test_seeds_are_valid_seed_sequences():
    for cell in expand(config_from_dict(base())):
        entropy, key = cell.data_seed
        assert entropy == 11 and key[0] == cell.replicate
        assert all(isinstance(v, int) and 0 <= v < 2**63 for v in key)
        value = cell.method_rng().random()
        assert 0.0 <= value < 1.0 and not math.isnan(value)


def test_spelling_out_a_default_names_the_same_cells_and_a_changed_default_new_ones(monkeypatch):
    # ids and seeds see the task's defaults: a stored cell is reused exactly when its resolved
    # parameters (and the task version) are the same
    from overlapcal.experiments import tasks

    implicit = expand(config_from_dict(base()))
    explicit = expand(config_from_dict(base(fixed={"family": "overlapping_uniform",
                                                   "overlap": 0.5, "margin": 15.0})))
    assert [c.cell_id for c in implicit] == [c.cell_id for c in explicit]
    assert [c.data_seed for c in implicit] == [c.data_seed for c in explicit]
    monkeypatch.setitem(tasks.DEFAULTS, "margin", 20.0)
    changed = expand(config_from_dict(base()))
    assert {c.cell_id for c in changed}.isdisjoint(c.cell_id for c in implicit)
    monkeypatch.setitem(tasks.DEFAULTS, "margin", 15.0)
    monkeypatch.setitem(tasks.TASKS, "calibration",
                        dataclasses.replace(tasks.TASKS["calibration"], version=99))
    bumped = expand(config_from_dict(base()))
    assert {c.cell_id for c in bumped}.isdisjoint(c.cell_id for c in implicit)


def test_a_parameter_read_by_one_of_the_methods_is_accepted():
    # a mixed grid: margin is read by the interpolators, epochs by the network
    config = config_from_dict(base(grid={"method": ["hard_interpolator", "erm_net"]},
                                   fixed={"family": "overlapping_uniform", "margin": 5.0,
                                          "epochs": 2}))
    assert config.fixed["margin"] == 5.0 and config.fixed["epochs"] == 2
