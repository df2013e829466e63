"""The sweep runner, its results store and the ``overlapcal sweep`` command.

Every sweep here runs fast cells (the hard interpolator on small overlapping-uniform problems,
~10 ms each). Results are compared exactly: every number of every row, as its shortest repr
(so NaN equals NaN), after dropping the wall-clock timings (``fit_seconds``), which are the
only fields allowed to change between runs.
"""

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import textwrap

import pytest

from overlapcal.cli import main
from overlapcal.experiments import sweep as sweep_module
from overlapcal.experiments.config import Cell, config_from_dict, expand, load_config
from overlapcal.experiments.store import ResultStore
from overlapcal.experiments.sweep import SchedulerError, SweepError, run_cell, run_sweep
from overlapcal.experiments.tasks import TASKS, Task

# The oracle temperature of a hard interpolator is often T = inf; the task caps it and warns.
pytestmark = pytest.mark.filterwarnings("ignore::overlapcal.recalibration.CalibrationWarning")

FAST = {"family": "overlapping_uniform", "n_per_class": 5, "n_val": 100, "n_test": 200,
        "kl_samples": 500}


def make_config(name="small", seed=7, replicates=2, grid=None, **fixed):
    grid = grid or {"n_classes": [2, 4, 6], "method": ["hard_interpolator", "soft_interpolator"]}
    return config_from_dict({"name": name, "task": "calibration", "seed": seed,
                             "replicates": replicates, "grid": grid,
                             "fixed": {**FAST, **fixed}})


def canonical(rows):
    """Rows as sorted JSON strings without the timings: equal iff every number is equal."""
    return sorted(json.dumps({k: v for k, v in row.items() if not k.endswith("seconds")},
                             sort_keys=True) for row in rows)


def toml_text(config):
    """The TOML file of a config built by :func:`make_config`."""
    def value(v):
        return json.dumps(v)  # strings, numbers, booleans and lists: JSON is valid TOML here

    lines = [f'name = "{config.name}"', f'task = "{config.task}"', f"seed = {config.seed}",
             f"replicates = {config.replicates}", "[grid]"]
    lines += [f"{axis} = {value(list(values))}" for axis, values in config.grid.items()]
    lines += ["[fixed]"] + [f"{key} = {value(v)}" for key, v in config.fixed.items()]
    return "\n".join(lines) + "\n"


def free_port():
    """A local TCP port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted in-process run every other run is compared with."""
    config = make_config()
    out = tmp_path_factory.mktemp("reference")
    result = run_sweep(config, out, workers=1, progress=False)
    return config, result


# -- the runner --------------------------------------------------------------------------------

def test_reference_run(reference):
    config, result = reference
    n = config.n_cells
    assert (result.n_cells, result.n_run, result.n_skipped) == (n, n, 0) and n == 12
    records = result.store.records()
    assert sorted(r["cell_id"] for r in records) == sorted(c.cell_id for c in expand(config))
    # One row per recalibration (the task's default: none, oracle, fitted) per cell.
    assert len(result.rows) == 3 * n
    assert {row["recalibration"] for row in result.rows} == {"none", "oracle", "fitted"}
    for row in result.rows:
        assert math.isfinite(row["kl"]) and row["kl"] >= 0
        assert row["n_per_class"] == 5 and row["family"] == "overlapping_uniform"
    for record, cell in zip(records, expand(config)):  # in-process runs in grid order
        assert record["cell_id"] == cell.cell_id
        assert record["seeds"] == {"data": [7, list(cell.data_seed[1])],
                                   "method": [7, list(cell.method_seed[1])]}
        assert record["seconds"] >= 0


def test_rerun_of_a_finished_sweep_runs_nothing(reference, tmp_path):
    config, result = reference
    again = run_sweep(config, result.store.path.parent, workers=1, progress=False)
    assert (again.n_run, again.n_skipped) == (0, config.n_cells)
    assert canonical(again.rows) == canonical(result.rows)
    # Nothing to run needs no scheduler: a finished sweep never connects.
    again = run_sweep(config, result.store.path.parent, progress=False,
                      scheduler=f"tcp://127.0.0.1:{free_port()}", connect_timeout=0.5)
    assert again.n_run == 0


def test_same_seed_same_numbers_other_seed_other_numbers(reference, tmp_path):
    config, result = reference
    again = run_sweep(config, tmp_path / "a", workers=1, progress=False)
    assert canonical(again.rows) == canonical(result.rows)

    other = run_sweep(make_config(seed=8), tmp_path / "b", workers=1, progress=False)
    assert {r["cell_id"] for r in other.rows}.isdisjoint(r["cell_id"] for r in result.rows)

    def kl(rows):  # population KL of the uncalibrated predictor, by grid point and replicate
        return {(r["n_classes"], r["method"], r["replicate"]): r["kl"] for r in rows
                if r["recalibration"] == "none"}

    first, second = kl(result.rows), kl(other.rows)
    assert first.keys() == second.keys()
    # The soft interpolator's exact KL moves continuously with the training points, so a new
    # seed changes it in every cell. (The hard interpolator's KL takes few distinct values on
    # 5 points per class, so a tie across seeds is possible there.)
    soft = [key for key in first if key[1] == "soft_interpolator"]
    assert len(soft) == 6 and all(first[key] != second[key] for key in soft)
    assert sum(first[key] != second[key] for key in first) > len(soft)


def test_sweep_results_are_scoped_to_the_config(reference, tmp_path):
    """Two configs sharing a name (and a store) each see only their own cells."""
    config, result = reference
    out = tmp_path / "shared"
    run_sweep(config, out, workers=1, progress=False)
    other = run_sweep(make_config(seed=8), out, workers=1, progress=False)
    assert other.n_run == config.n_cells and len(other.rows) == len(result.rows)
    assert len(ResultStore(out / "small.jsonl").records()) == 2 * config.n_cells
    # run_sweep itself writes NAME.csv, with this config's rows only (the store keeps both)
    with open(out / "small.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(other.rows)
    assert {r["cell_id"] for r in table} == {r["cell_id"] for r in other.rows}
    assert [float(r["kl"]) for r in table] == [r["kl"] for r in other.rows]


@pytest.mark.parametrize("lost", [1, 3])
def test_resume_after_lost_lines(reference, tmp_path, lost):
    config, result = reference
    lines = result.store.path.read_bytes().splitlines(keepends=True)
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"".join(lines[:-lost]))
    resumed = run_sweep(config, tmp_path, workers=1, progress=False)
    assert (resumed.n_run, resumed.n_skipped) == (lost, config.n_cells - lost)
    assert canonical(resumed.rows) == canonical(result.rows)
    assert path.read_bytes().startswith(b"".join(lines[:-lost]))  # append-only


@pytest.mark.parametrize("keep", ["one byte", "half", "all but the newline"])
def test_resume_repairs_a_partial_last_line(reference, tmp_path, keep):
    config, result = reference
    lines = result.store.path.read_bytes().splitlines(keepends=True)
    partial = lines[-2]
    cut = {"one byte": 1, "half": len(partial) // 2, "all but the newline": len(partial) - 1}[keep]
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"".join(lines[:-2]) + partial[:cut])
    resumed = run_sweep(config, tmp_path, workers=1, progress=False)
    # The partial record is dropped and recomputed with the lost last one.
    assert (resumed.n_run, resumed.n_skipped) == (2, config.n_cells - 2)
    data = path.read_bytes()
    assert data.endswith(b"\n") and len(data.splitlines()) == config.n_cells
    assert all(json.loads(line) for line in data.splitlines())
    assert canonical(resumed.rows) == canonical(result.rows)


def test_resume_after_sigkill(tmp_path):
    """Kill a real ``overlapcal sweep`` process mid-run; the rerun completes it exactly."""
    config = make_config(name="killed", replicates=5, grid={"n_classes": [2, 4, 6, 8, 10]},
                         n_test=20000, n_val=5000)  # 25 cells, ~40 ms each
    path = tmp_path / "killed.toml"
    path.write_text(toml_text(config))
    assert load_config(path) == config
    out = tmp_path / "out"
    store = out / "killed.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "overlapcal.cli", "sweep", str(path), "--out", str(out),
         "--workers", "1", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (store.exists() and store.read_bytes().count(b"\n") >= 2):
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the sweep stored nothing in 120 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    stored = len(ResultStore(store).records())
    assert 2 <= stored < config.n_cells, "the sweep finished before it could be killed"

    resumed = run_sweep(config, out, workers=1, progress=False)
    assert (resumed.n_run, resumed.n_skipped) == (config.n_cells - stored, stored)
    uninterrupted = run_sweep(config, tmp_path / "whole", workers=1, progress=False)
    assert canonical(resumed.rows) == canonical(uninterrupted.rows)
    assert len(resumed.rows) == 3 * config.n_cells


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return handle.read().split()


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                    reason="needs Linux /proc to see the pool's workers")
def test_ctrl_c_stops_a_process_pool_sweep_at_once(tmp_path):
    """SIGINT while both workers are inside ~13 s cells: the command exits within a few
    seconds with status 130 and a resume hint, instead of waiting for the cells in flight
    (the old pool shutdown waited for them), and leaves no worker behind."""
    config = make_config(name="slow", replicates=2, grid={"n_classes": [2]},
                         n_test=10_000_000)  # two cells of ~13 s and 1.5 GB each
    path = tmp_path / "slow.toml"
    path.write_text(toml_text(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "overlapcal.cli", "sweep", str(path), "--out",
         str(tmp_path / "out"), "--workers", "2", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(_children(process.pid)) < 2:  # the workers are up (the cells start next)
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the pool's workers did not start in 60 s"
            time.sleep(0.01)
        workers = _children(process.pid)
        time.sleep(1.0)  # well inside the cells
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        waited = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode == 130, err.decode()
    assert "interrupted" in err.decode() and "resumes" in err.decode()
    assert waited < 6.0, f"the sweep took {waited:.1f} s to stop after Ctrl-C"
    assert not any(os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2]
                   != "Z" for pid in workers), "a worker outlived the sweep"


def test_process_pool_equals_in_process(reference, tmp_path):
    config, result = reference
    pooled = run_sweep(config, tmp_path, workers=2, progress=False)
    assert pooled.n_run == config.n_cells
    assert canonical(pooled.rows) == canonical(result.rows)


def test_dask_cluster_equals_local(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    config, result = reference
    # Worker processes (not threads): the realistic setting, and threadpool/torch limits are
    # per process. Two spawned workers start in ~2 s here.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        remote = run_sweep(config, tmp_path, scheduler=address, progress=False)
        assert remote.n_run == config.n_cells
        assert canonical(remote.rows) == canonical(result.rows)
        # The scheduler can also come from the config.
        from_config = config_from_dict({**_as_dict(config), "name": "via_config",
                                        "scheduler": address})
        remote = run_sweep(from_config, tmp_path, progress=False)
        assert remote.n_run == config.n_cells
        assert canonical(remote.rows) == canonical(result.rows)  # ids ignore the name
    assert cluster.status.name == "closed"


def _as_dict(config):
    return {"name": config.name, "task": config.task, "seed": config.seed,
            "replicates": config.replicates, "grid": {k: list(v) for k, v in config.grid.items()},
            "fixed": dict(config.fixed)}


def test_unreachable_scheduler_fails_fast(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(SchedulerError, match=rf"cannot reach the Dask scheduler at "
                                             rf"'{address}' within 1 s"):
        run_sweep(make_config(), tmp_path, scheduler=address, connect_timeout=1,
                  progress=False)
    assert time.monotonic() - start < 15
    assert not (tmp_path / "small.jsonl").exists()


def test_malformed_scheduler_address(tmp_path):
    with pytest.raises(SchedulerError, match=r"invalid Dask scheduler address 'nonsense://x'"):
        run_sweep(make_config(), tmp_path, scheduler="nonsense://x", progress=False)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_run_sweep_workers_must_be_positive(tmp_path, workers):
    with pytest.raises(ValueError, match=r"The 'workers' parameter of run_sweep must be an "
                                         r"int >= 1"):
        run_sweep(make_config(), tmp_path, workers=workers, progress=False)
    assert not (tmp_path / "small.jsonl").exists()


def test_run_cell_limits_threads_and_restores_them(monkeypatch):
    """Inside a cell BLAS and torch use one thread; the caller's settings come back after."""
    from threadpoolctl import threadpool_info

    torch = pytest.importorskip("torch")
    seen = {}

    def probe(cell):
        seen["blas"] = [pool["num_threads"] for pool in threadpool_info()]
        seen["torch"] = torch.get_num_threads()
        return [{"value": 1.0}]

    monkeypatch.setitem(TASKS, "probe", Task("probe", probe, lambda config, source: None, ()))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cell = Cell("probe", {"a": 1}, 0, "00", (1, (0, 1)), (1, (0, 2)))
        record = run_cell(cell)
        assert seen["blas"] and set(seen["blas"]) == {1}  # numpy's BLAS at least
        assert seen["torch"] == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert record["rows"] == [{"value": 1.0}] and record["params"] == {"a": 1}
    assert record["seeds"] == {"data": [1, [0, 1]], "method": [1, [0, 2]]}


def test_run_cell_limits_torch_imported_inside_the_task():
    """A worker that has not imported torch yet: the cell's own import must also get one thread.

    Regression: the limit used to apply only when torch was already loaded, so the first network
    cell of each worker trained on every core, oversubscribing the machine (10x slower).
    """
    pytest.importorskip("torch")
    code = textwrap.dedent("""
        import sys
        from overlapcal.experiments.sweep import run_cell
        from overlapcal.experiments.config import Cell
        from overlapcal.experiments.tasks import TASKS, Task
        assert "torch" not in sys.modules
        def probe(cell):
            import torch
            return [{"threads": torch.get_num_threads()}]
        TASKS["probe"] = Task("probe", probe, lambda config, source: None, ())
        record = run_cell(Cell("probe", {}, 0, "00", (1, (0, 1)), (1, (0, 2))))
        print(record["rows"][0]["threads"])
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert out.stdout.strip() == "1"


# -- the store ---------------------------------------------------------------------------------

def record(cell_id, rows, replicate=0, **params):
    return {"cell_id": cell_id, "task": "calibration", "params": params, "replicate": replicate,
            "seeds": {"data": [1, [0, 5]], "method": [1, [0, 6]]}, "rows": rows, "seconds": 0.5}


def test_store_round_trip(tmp_path):
    store = ResultStore(tmp_path / "deep" / "er" / "s.jsonl")  # parents made on first write
    assert store.records() == [] and store.completed() == set() and store.rows() == []
    assert not store.path.exists()
    first = record("a", [{"kl": 0.25, "x": float("inf")}, {"kl": float("nan"), "x": -1}], k=2)
    second = record("b", [{"kl": 1e-300, "note": "é"}], replicate=1, k=3, m="hard")
    store.append(first)
    store.append(second)
    again = ResultStore(store.path)
    # Equal as canonical JSON, so NaN and inf count as surviving the round trip.
    assert json.dumps(again.records(), sort_keys=True) == json.dumps([first, second],
                                                                     sort_keys=True)
    assert again.completed() == {"a", "b"}
    assert store.path.read_text().count("\n") == 2
    rows = again.rows()
    assert len(rows) == 3
    seeds = {"seed": 1, "data_seed_key": 5, "method_seed_key": 6}  # the seeds of record()
    assert rows[0] == {"cell_id": "a", "replicate": 0, **seeds, "k": 2, "kl": 0.25,
                       "x": float("inf")}
    assert rows[1]["cell_id"] == "a" and math.isnan(rows[1]["kl"]) and rows[1]["x"] == -1
    assert rows[2] == {"cell_id": "b", "replicate": 1, **seeds, "k": 3, "m": "hard",
                       "kl": 1e-300, "note": "é"}


def test_store_repairs_only_a_partial_tail(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"cell_id": "a", "par')  # a crash during the very first write
    assert ResultStore(path).records() == [] and path.read_bytes() == b""
    line = json.dumps(record("a", [])) + "\n"
    path.write_text(line)
    ResultStore(path)
    assert path.read_text() == line  # a complete store is left alone


def test_store_reports_a_corrupt_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(record("a", [])) + "\n{not json}\n")
    with pytest.raises(ValueError, match=r"s\.jsonl:2: corrupt record"):
        ResultStore(path).records()


def test_write_csv(tmp_path):
    store = ResultStore(tmp_path / "s.jsonl")
    store.append(record("a", [{"kl": 0.1}, {"kl": 0.2, "extra": "x"}], k=2))
    store.append(record("b", [{"kl": 1 / 3}], replicate=1, k=3))
    target = tmp_path / "s.csv"
    target.write_text("old")
    assert store.write_csv(target) == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.jsonl"]  # no .tmp left
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["cell_id", "replicate", "seed", "data_seed_key", "method_seed_key",
                             "k", "kl", "extra"]  # union, first seen
    assert [r["extra"] for r in rows] == ["", "x", ""]
    assert [float(r["kl"]) for r in rows] == [0.1, 0.2, 1 / 3]  # exact: repr round-trips


def test_write_csv_failure_leaves_the_old_file(tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "s.jsonl")
    store.append(record("a", [{"kl": 0.1}]))
    target = tmp_path / "s.csv"
    target.write_text("old")

    def broken(self, rows):
        raise OSError("disk full")

    monkeypatch.setattr(csv.DictWriter, "writerows", broken)
    with pytest.raises(OSError, match="disk full"):
        store.write_csv(target)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.jsonl"]


# -- the command line --------------------------------------------------------------------------

@pytest.fixture
def config_file(tmp_path):
    config = make_config(name="cli", replicates=1, grid={"n_classes": [2, 4]})
    path = tmp_path / "cli.toml"
    path.write_text(toml_text(config))
    return config, path


def test_cli_sweep_writes_jsonl_and_csv(config_file, tmp_path, capsys):
    config, path = config_file
    out = tmp_path / "results"
    argv = ["sweep", str(path), "--out", str(out), "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    assert "cli: 2 cells (2 run, 0 already done)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["cli.csv", "cli.jsonl"]
    store = ResultStore(out / "cli.jsonl")
    with open(out / "cli.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(store.rows()) == 3 * 2
    assert [float(r["kl"]) for r in table] == [r["kl"] for r in store.rows()]
    assert {r["n_classes"] for r in table} == {"2", "4"}
    direct = run_sweep(config, tmp_path / "direct", workers=1, progress=False)
    assert canonical(store.rows()) == canonical(direct.rows)

    assert main(argv) == 0  # a rerun resumes: nothing left to do
    assert "cli: 2 cells (0 run, 2 already done)" in capsys.readouterr().out


def test_cli_malformed_config_exits_nonzero(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\ntask = "calibration"\nseed = 1\n'
                    '[grid]\nn_classes = [2, 2]\n')
    out = subprocess.run([sys.executable, "-m", "overlapcal.cli", "sweep", str(path), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "invalid config" in out.stderr and "field 'grid.n_classes' has repeated values" \
        in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()  # nothing was started


def test_cli_config_errors_in_process(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent("""
        name = "x"
        task = "calibration"
        seed = 1
        [grid]
        n_classes = [2]
        [fixed]
        method = "svm"
    """))
    with pytest.raises(SystemExit, match=r"invalid config: .*bad\.toml: field 'fixed.method'"):
        main(["sweep", str(path), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match=r"cannot read the config file"):
        main(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "out")])


def test_cli_unwritable_output_fails_before_work(config_file, tmp_path, monkeypatch):
    _, path = config_file
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # tests run as root, so chmod would not stop writes; a file does

    def must_not_run(*args, **kwargs):
        raise AssertionError("run_sweep started although the output folder is not writable")

    monkeypatch.setattr(sweep_module, "run_sweep", must_not_run)
    with pytest.raises(SystemExit, match=r"the output folder '.*a_file/out' is not writable"):
        main(["sweep", str(path), "--out", str(blocker / "out"), "--no-progress"])


def test_cli_unreachable_scheduler(config_file, tmp_path, monkeypatch):
    _, path = config_file
    # The command line waits run_sweep's default 10 s; 1 s shows the same path, faster.
    monkeypatch.setitem(run_sweep.__kwdefaults__, "connect_timeout", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit, match=rf"overlapcal: cannot reach the Dask scheduler at "
                                         rf"'{address}'.*Check the address"):
        main(["sweep", str(path), "--out", str(tmp_path / "o"), "--scheduler", address,
              "--no-progress"])
    with pytest.raises(SystemExit, match=r"overlapcal: invalid Dask scheduler address"):
        main(["sweep", str(path), "--out", str(tmp_path / "o"), "--scheduler", "nonsense://x",
              "--no-progress"])
    assert not (tmp_path / "o" / "cli.jsonl").exists()


@pytest.mark.parametrize("workers", ["0", "-2", "two"])
def test_cli_workers_must_be_positive(config_file, tmp_path, capsys, workers):
    _, path = config_file
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(path), "--out", str(tmp_path / "o"), "--workers", workers])
    assert info.value.code == 2  # argparse's usage error
    assert "--workers: must be an integer >= 1" in capsys.readouterr().err


def test_api_unwritable_output_fails_before_any_cell(tmp_path, monkeypatch):
    # run_sweep and reproduce probe the folder first: no cell runs, nothing is lost
    blocker = tmp_path / "a_file"
    blocker.write_text("")

    def must_not_run(*args, **kwargs):
        raise AssertionError("a cell ran although the output folder is not writable")

    monkeypatch.setattr(sweep_module, "run_cell", must_not_run)
    with pytest.raises(OSError, match=r"run_sweep: the output folder '.*a_file/out' is not "
                                      r"writable"):
        run_sweep(make_config(), blocker / "out", workers=1, progress=False)
    from overlapcal.experiments import reproduce as reproduce_module

    monkeypatch.setattr(reproduce_module, "run_sweep", must_not_run)
    with pytest.raises(OSError, match=r"reproduce: the output folder '.*a_file/out' is not "
                                      r"writable"):
        reproduce_module.reproduce(blocker / "out", progress=False)


def test_cli_reproduce_rejects_zero_workers(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--workers", "0"])
    assert "must be an integer >= 1, got '0'" in capsys.readouterr().err


def test_tidy_rows_carry_every_resolved_parameter_and_regenerate_the_seeds(tmp_path):
    import numpy as np

    from overlapcal.experiments.config import expand
    from overlapcal.experiments.tasks import DEFAULTS

    config = make_config(name="tidy", replicates=1, grid={"n_classes": [2]})
    result = run_sweep(config, tmp_path, workers=1, progress=False)
    row = result.rows[0]
    assert row["margin"] == DEFAULTS["margin"] and row["n_bins"] == DEFAULTS["n_bins"]
    cell = expand(config)[0]
    seq = np.random.SeedSequence(row["seed"], spawn_key=(row["replicate"], row["data_seed_key"]))
    assert np.array_equal(np.random.default_rng(seq).random(3), cell.data_rng().random(3))


def test_store_reads_a_cell_stored_twice_once(tmp_path):
    """Two runs of one config on one store both compute a cell: read once, the first kept."""
    store = ResultStore(tmp_path / "s.jsonl")
    store.append(record("a", [{"kl": 0.25}], k=2))
    store.append(record("b", [{"kl": 0.5}], k=4))
    store.append(record("a", [{"kl": 0.75}], k=2))  # a concurrent run's copy
    assert [r["cell_id"] for r in store.records()] == ["a", "b"]
    assert [row["kl"] for row in store.rows()] == [0.25, 0.5]
    assert store.path.read_text().count("\n") == 3  # append-only: nothing is rewritten


def test_store_stops_before_a_line_still_being_written(tmp_path):
    """A reader that sees another process's half-written last line skips it, and does not
    report it corrupt; a store that cannot be written to is read as it is."""
    path = tmp_path / "s.jsonl"
    complete = json.dumps(record("a", [])) + "\n"
    path.write_text(complete)
    store = ResultStore(path)
    with open(path, "a") as handle:
        handle.write('{"cell_id": "b", "ro')
    assert store.completed() == {"a"}
    real_open = open

    def read_only(file, mode="r", *args, **kwargs):
        if "+" in mode or "w" in mode or "a" in mode:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    import overlapcal.experiments.store as store_module
    store_module.open = read_only  # the module's open: a folder the user may only read
    try:
        assert ResultStore(path).completed() == {"a"}
    finally:
        del store_module.open
    assert path.read_text().endswith('"ro')  # left alone: it could not be repaired


@pytest.mark.parametrize("line", ["[1, 2]", '{"task": "calibration"}', '{"cell_id": 3}'])
def test_store_reports_a_record_without_a_cell_id(tmp_path, line):
    path = tmp_path / "s.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=r"s\.jsonl:1: corrupt record \(not an object"):
        ResultStore(path).records()


def _append_many(path, writer, count, size):
    store = ResultStore(path)
    for i in range(count):
        store.append(record(f"{writer}-{i}", [{"pad": "x" * size}]))


def test_concurrent_appends_keep_every_line_whole(tmp_path):
    """Four processes append 4 MiB records to one store while a fifth keeps reopening it
    (which repairs the tail): every line stays whole and every record is there. Without the
    lock, a reopen that reads a line mid-append truncates it once the write lands (the
    unlocked store failed this 5 times in 5; records this large make the window wide)."""
    import multiprocessing

    path = tmp_path / "s.jsonl"
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    writers = [context.Process(target=_append_many, args=(path, w, 10, 1 << 22))
               for w in range(4)]
    for process in writers:
        process.start()
    while any(process.is_alive() for process in writers):
        ResultStore(path)  # the repair must never cut a line being appended
    for process in writers:
        process.join()
        assert process.exitcode == 0
    lines = path.read_bytes().splitlines()
    assert len(lines) == 40
    assert {json.loads(line)["cell_id"] for line in lines} == {
        f"{w}-{i}" for w in range(4) for i in range(10)}


def test_cli_reproduce_interrupted_says_how_to_resume(tmp_path, monkeypatch, capsys):
    from overlapcal.experiments import reproduce as reproduce_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce_module, "reproduce", interrupted)
    assert main(["reproduce", "--quick", "--out", str(tmp_path / "r"), "--no-progress"]) == 130
    assert "running the same command again resumes" in capsys.readouterr().err


# -- cells that raise --------------------------------------------------------------------------

def _flaky(cell):
    """A task whose cell x = 2 raises (the others return one row)."""
    if cell.params["x"] == 2:
        raise ValueError(f"boom at x={cell.params['x']}")
    return [{"x": cell.params["x"], "value": 10.0 * cell.params["x"]}]


def flaky_config(name="flaky"):
    return config_from_dict({"name": name, "task": "flaky", "seed": 0,
                             "grid": {"x": [1, 2, 3]}})


@pytest.fixture
def flaky_task(monkeypatch):
    monkeypatch.setitem(TASKS, "flaky", Task("flaky", _flaky, lambda config, source: None, ()))


def test_a_failing_cell_costs_no_other_cell(flaky_task, tmp_path):
    config = flaky_config()
    with pytest.raises(SweepError, match=r"1 of 3 cells of sweep 'flaky' failed \(the other 2 "
                       r"are stored .*; first: cell \w+ \(x=2, replicate 0\): "
                       r"ValueError: boom at x=2") as info:
        run_sweep(config, tmp_path, workers=1, progress=False)
    error = info.value
    (failure,) = error.failures
    assert failure.params == {"x": 2} and failure.error == "ValueError: boom at x=2"
    assert "Traceback" in failure.traceback and "_flaky" in failure.traceback
    assert error.result.failures == error.failures
    assert (error.result.n_run, error.result.n_skipped, error.result.n_cells) == (2, 0, 3)
    assert sorted(r["x"] for r in error.result.rows) == [1, 3]
    assert len(ResultStore(tmp_path / "flaky.jsonl").records()) == 2  # the failed cell: not stored

    # once the cause is fixed, the same call runs just the failed cell
    TASKS["flaky"] = Task("flaky", lambda cell: [{"x": cell.params["x"], "value": -1.0}],
                          lambda config, source: None, ())
    result = run_sweep(config, tmp_path, workers=1, progress=False)
    assert (result.n_run, result.n_skipped, result.failures) == (1, 2, ())
    assert sorted((r["x"], r["value"]) for r in result.rows) == [(1, 10.0), (2, -1.0), (3, 30.0)]


def test_a_failing_cell_in_a_process_pool(tmp_path):
    """Workers see the task because the script registers it at import (fork and spawn)."""
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(os.path.dirname(__file__))!r})
        from overlapcal.experiments.tasks import TASKS, Task
        from overlapcal.experiments.sweep import SweepError, run_sweep
        from test_sweep import _flaky, flaky_config
        TASKS["flaky"] = Task("flaky", _flaky, lambda config, source: None, ())
        if __name__ == "__main__":
            try:
                run_sweep(flaky_config(), {str(tmp_path / "out")!r}, workers=2, progress=False)
            except SweepError as exc:
                print(json.dumps([[f.params, f.error] for f in exc.failures]
                                 + [sorted(r["x"] for r in exc.result.rows)]))
        """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [[{"x": 2}, "ValueError: boom at x=2"], [1, 3]]


def test_cli_sweep_with_a_failing_cell(flaky_task, tmp_path, capsys):
    path = tmp_path / "flaky.toml"
    path.write_text('name = "flaky"\ntask = "flaky"\nseed = 0\n[grid]\nx = [1, 2, 3]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 cells of 'flaky' failed; the other 2 are stored" in err
    assert "({'x': 2}" not in err and "(x=2, replicate 0): ValueError: boom at x=2" in err
    assert "rerunning the same command retries only the failed cells" in err
    with open(out / "flaky.csv", newline="") as handle:
        assert sorted(row["x"] for row in csv.DictReader(handle)) == ["1", "3"]
    log = (out / "flaky.failures.txt").read_text()
    assert "boom at x=2" in log and "Traceback" in log


def test_cli_reproduce_with_a_failing_cell(flaky_task, tmp_path, monkeypatch, capsys):
    from overlapcal.experiments import reproduce as reproduce_module

    def failing(out, **kwargs):
        run_sweep(flaky_config("F9"), out / "sweeps-quick", workers=1, progress=False)

    monkeypatch.setattr(reproduce_module, "reproduce", failing)
    out = tmp_path / "r"
    assert main(["reproduce", "--quick", "--out", str(out), "--no-progress"]) == 1
    assert "1 of 3 cells of 'F9' failed" in capsys.readouterr().err
    assert "boom at x=2" in (out / "sweeps-quick" / "F9.failures.txt").read_text()


def test_cli_reproduce_figures_option(tmp_path, monkeypatch, capsys):
    from overlapcal.experiments import reproduce as reproduce_module

    seen = {}

    def record(out, **kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr(reproduce_module, "reproduce", record)
    argv = ["reproduce", "--quick", "--out", str(tmp_path / "r"), "--no-progress"]
    assert main(argv + ["--figures", "F2", "F4"]) == 0
    assert seen["figures"] == ["F2", "F4"]
    assert main(argv) == 0 and seen["figures"] is None  # all of them
    with pytest.raises(SystemExit):
        main(argv + ["--figures", "F9"])
    assert "invalid choice: 'F9'" in capsys.readouterr().err
