"""Benchmark: sampling and exact posteriors at scale (issue: foundation, item 7).

    python benchmarks/bench_distributions.py [--repeats 3]

Cases
-----
* OverlappingUniform, k = 100, n = 10^6: ``sample`` and ``posterior``.
* GaussianMixture.orthogonal, k = 1000, d = 1000, n = 10^5: ``sample`` and ``posterior``.

Each case runs in a fresh subprocess so that its peak memory (ru_maxrss, minus the interpreter's
baseline after imports) is its own. Reports the median wall time of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CASES = {
    "uniform-k100-n1e6": "oc.OverlappingUniform(100, 0.5)",
    "gauss-orth-k1000-d1000-n1e5": "oc.GaussianMixture.orthogonal(1000, 1000, separation=4.0)",
}
SIZES = {"uniform-k100-n1e6": 10**6, "gauss-orth-k1000-d1000-n1e5": 10**5}


def run_case(name: str, repeats: int) -> dict:
    import numpy as np

    import overlapcal as oc

    dist = eval(CASES[name], {"oc": oc})
    n = SIZES[name]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sample_times, posterior_times = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        X, y = dist.sample(n, rng=r)
        t1 = time.perf_counter()
        eta = dist.posterior(X)
        t2 = time.perf_counter()
        sample_times.append(t1 - t0)
        posterior_times.append(t2 - t1)
        del X, y, eta
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "case": name,
        "n": n,
        "sample_s": float(np.median(sample_times)),
        "posterior_s": float(np.median(posterior_times)),
        "peak_MiB_above_baseline": (peak - base_rss) / 1024,
        "output_MiB": n * (dist.n_features + dist.n_classes) * 8 / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", choices=sorted(CASES))
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats)))
        return
    print(f"| case | n | sample (s) | posterior (s) | peak memory above baseline (MiB) | X + posterior size (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--case", name, "--repeats", str(args.repeats)],
            check=True, capture_output=True, text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {r['case']} | {r['n']} | {r['sample_s']:.3f} | {r['posterior_s']:.3f} "
              f"| {r['peak_MiB_above_baseline']:.0f} | {r['output_MiB']:.0f} |")


if __name__ == "__main__":
    main()
