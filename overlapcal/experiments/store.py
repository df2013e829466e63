"""The results store: an append-only JSON-lines file, one line per finished cell.

Each line is one complete record ``{"cell_id", "task", "params", "replicate", "seeds", "rows",
"seconds"}``, written with a single ``write`` followed by ``flush`` and ``fsync``. A crash can
therefore only leave a partial *last* line; opening the store drops such a tail, so a rerun
recomputes exactly the cells whose lines are missing and nothing else.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

__all__ = ["ResultStore"]


class ResultStore:
    """Append-only store of finished cells at ``path`` (created on first write).

    Parameters
    ----------
    path : str or path-like
        The JSON-lines file. Opening an existing store truncates a partial last line (left
        by a crash mid-write), so :meth:`records` never sees half a record.

    Attributes
    ----------
    path : pathlib.Path

    Raises
    ------
    ValueError
        From :meth:`records` (and the methods built on it): a complete line that is not JSON.

    Notes
    -----
    One line per finished cell: ``{"cell_id", "task", "params", "resolved", "replicate",
    "seeds", "rows", "seconds"}``, where ``rows`` is the cell's list of result rows (dicts) and
    ``resolved`` the parameters with the task's defaults filled in. A sweep
    skips every cell whose id is in :meth:`completed`, so an interrupted sweep resumes where
    it stopped. :meth:`rows` is the tidy table: one row per result row, prefixed with the
    cell's id, replicate and parameters.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from overlapcal.experiments.store import ResultStore
    >>> folder = tempfile.TemporaryDirectory()
    >>> store = ResultStore(Path(folder.name) / "demo.jsonl")
    >>> store.append({"cell_id": "c1", "task": "demo", "params": {"k": 2}, "replicate": 0,
    ...               "seeds": [7], "rows": [{"ece": 0.1}, {"ece": 0.2}], "seconds": 0.5})
    >>> store.completed()
    {'c1'}
    >>> store.rows()
    [{'cell_id': 'c1', 'replicate': 0, 'k': 2, 'ece': 0.1},
     {'cell_id': 'c1', 'replicate': 0, 'k': 2, 'ece': 0.2}]
    >>> store.write_csv(Path(folder.name) / "demo.csv").read_text().splitlines()
    ['cell_id,replicate,k,ece', 'c1,0,2,0.1', 'c1,0,2,0.2']

    A crash in the middle of a write leaves a partial last line; reopening drops it:

    >>> with open(store.path, "a") as handle:
    ...     _ = handle.write('{"cell_id": "c2", "ta')
    >>> ResultStore(store.path).completed()
    {'c1'}
    >>> folder.cleanup()
    """

    def __init__(self, path):
        self.path = Path(path)
        self._repair_tail()

    def _repair_tail(self) -> None:
        """Drop a partial last line left by a crash mid-write."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        with open(self.path, "r+b") as handle:
            handle.truncate(cut)

    def records(self) -> list[dict]:
        """Every complete record, in the order written."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path) as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{self.path}:{number}: corrupt record ({exc})") from None
        return out

    def completed(self) -> set[str]:
        """Ids of the cells already stored."""
        return {record["cell_id"] for record in self.records()}

    def append(self, record: dict) -> None:
        """Write one record durably (one line, flushed and fsynced)."""
        line = json.dumps(record, sort_keys=True, allow_nan=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def rows(self) -> list[dict]:
        """The tidy table: one row per result row of every cell, with the cell's parameters
        (every one the task used, defaults included) and its seeds: ``seed`` (the entropy),
        ``data_seed_key`` and ``method_seed_key``, so that
        ``SeedSequence(seed, spawn_key=(replicate, key))`` regenerates a cell's streams."""
        table = []
        for record in self.records():
            base = {"cell_id": record["cell_id"], "replicate": record["replicate"]}
            seeds = record.get("seeds")
            if isinstance(seeds, dict) and {"data", "method"} <= set(seeds):
                base.update(seed=seeds["data"][0], data_seed_key=seeds["data"][1][-1],
                            method_seed_key=seeds["method"][1][-1])
            params = record.get("resolved", record["params"])
            base.update({k: v for k, v in params.items() if not isinstance(v, list)})
            for row in record["rows"]:
                table.append({**base, **row})
        return table

    def write_csv(self, path) -> Path:
        """Write :meth:`rows` to ``path`` atomically (temporary file, then rename)."""
        rows = self.rows()
        path = Path(path)
        columns: list[str] = []
        for row in rows:
            columns.extend(c for c in row if c not in columns)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a failed write leaves the old CSV and no debris
            raise
        return path
