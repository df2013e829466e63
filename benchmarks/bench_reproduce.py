"""Benchmark: wall time of ``overlapcal reproduce`` and how closed-form sweep cells scale with k.

    python benchmarks/bench_reproduce.py            # scaling table + reproduce --quick
    python benchmarks/bench_reproduce.py --full     # also the full configuration (long)

The scaling table runs single calibration-task cells in-process (one thread, as the sweep
runner does) for the closed-form methods on overlapping pairs (alpha = 0.5, 20 training points
per class) and reports seconds per cell and the exponent of a log-log fit of time against k.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import numpy as np

METHODS = ("hard_interpolator", "soft_interpolator", "mixup_optimum_local")
KS = (16, 64, 256, 1024)


def scaling_table() -> None:
    from overlapcal.experiments.config import config_from_dict, expand
    from overlapcal.experiments.sweep import run_cell

    print("| method | " + " | ".join(f"k = {k} (s)" for k in KS) + " | exponent in k |")
    print("|---|" + "---:|" * (len(KS) + 1))
    for method in METHODS:
        config = config_from_dict({
            "name": "scaling", "task": "calibration", "seed": 0,
            "grid": {"n_classes": list(KS)},
            "fixed": {"method": method, "overlap": 0.5, "recalibrations": ["none", "oracle"],
                      "n_val": 1000, "n_test": 2000, "kl_samples": 20000},
        })
        seconds = []
        for cell in expand(config):
            start = time.perf_counter()
            run_cell(cell)
            seconds.append(time.perf_counter() - start)
        slope = np.polyfit(np.log(KS), np.log(seconds), 1)[0]
        print(f"| {method} | " + " | ".join(f"{s:.2f}" for s in seconds) + f" | {slope:.2f} |")


def time_reproduce(quick: bool) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "overlapcal.cli", "reproduce", "--out", out,
                   "--no-progress"] + (["--quick"] if quick else [])
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also time the full configuration")
    parser.add_argument("--skip-reproduce", action="store_true")
    args = parser.parse_args()
    scaling_table()
    if not args.skip_reproduce:
        print(f"\n`overlapcal reproduce --quick`: {time_reproduce(True):.0f} s wall")
        if args.full:
            print(f"`overlapcal reproduce` (full): {time_reproduce(False):.0f} s wall")


if __name__ == "__main__":
    main()
