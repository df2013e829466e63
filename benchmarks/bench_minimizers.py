"""Benchmark: trained networks against the exact minimizers (THEORY.md 4.3 and 5).

    python benchmarks/bench_minimizers.py [--quick] [--tables abcd]

Everything runs on the CPU with one torch thread; CPU times are ``time.process_time`` of the
training call (or of the whole cell in table d).

Tables
------
a. Mixup networks against the population Mixup optimum ``g_mix`` (Proposition 3) on 1-D
   overlapping pairs (overlap 0.5, Beta(1, 1)), as the training sample, the width and the epochs
   grow one at a time (Adam, lr 3e-3 with a cosine schedule, batch 128, depth 2). Gap: the mean
   total-variation distance ``(1/2) sum_c |g_c - g_mix,c|`` over a midpoint grid of ``pi_X``
   (200 cells per class interval), averaged over seeds (min-max in brackets); also the KL risk
   after oracle TS of the net and of ``g_mix`` on the same 20000 Monte Carlo points.
b. Interpolating ERM networks against the hard interpolator fitted on the same sample:
   overlapping pairs (overlap 0.5) with ``d = 8`` (7 uniform noise axes let the network
   memorise), 250 points per class, width 128, depth 2, batch 64, lr 3e-3, trained until the
   training accuracy is 1. KL after oracle TS with its top-label / runner-up parts
   (Proposition 1b), Proposition 1's value at the network's own accuracy, the hard
   interpolator's value (exact formula at its accuracy = its Monte Carlo KL up to noise), and
   Corollary 2's bound.
c. The paper's synthetic preset (``GaussianMixture.shifted(300, shift=0.1)``, 3600 training
   points): CPU time of the default ERM and Mixup networks of ``oc.nets.train`` (width 256,
   depth 2, 100 epochs, batch 128, lr 1e-3), the first epoch with training accuracy 1 and the
   final training accuracy.
d. Candidate network settings for ``overlapcal reproduce --quick``, run through the calibration
   task (``overlapcal.experiments.tasks.run_calibration``) exactly as a sweep cell: KL after
   oracle TS (and fitted TS) next to the hard interpolator and the Mixup optimum, training
   accuracy, epochs run and CPU seconds per cell.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import torch

import overlapcal as oc
from overlapcal.bounds import oracle_hard_interpolator_risk

MC = 20_000
MC_SEED = 123


def support_grid(dist, cells_per_class=200):
    lo, hi = dist.class_intervals[:, 0], dist.class_intervals[:, 1]
    u = (np.arange(cells_per_class) + 0.5) / cells_per_class
    return (lo[:, None] + u[None, :] * (hi - lo)[:, None]).reshape(-1, 1)


def mean_tv(p, q):
    return float(np.mean(0.5 * np.abs(p - q).sum(axis=1)))


def prop1(accuracy, k, entropy):
    return oracle_hard_interpolator_risk(accuracy, k, entropy)


def oracle_kl(predictor, dist):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return oc.oracle_temperature(predictor, dist, n_samples=MC, rng=MC_SEED,
                                     method="monte-carlo").kl


# -- a ------------------------------------------------------------------------------------------

def mixup_table(quick: bool) -> None:
    seeds = range(1 if quick else 2)
    base = {"n": 4000, "width": 64, "epochs": 50}
    axes = {"n": [500, 2000, 8000], "width": [8, 32, 128], "epochs": [5, 20, 80]}
    print("| k | grows | n | width | epochs | mean TV to g_mix | KL net (oracle TS) | "
          "KL g_mix (oracle TS) | CPU s / net |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for k in (2, 4):
        dist = oc.OverlappingUniform(k, overlap=0.5)
        grid = support_grid(dist)
        optimum = oc.MixupOptimum(dist, alpha=1.0)
        target = optimum.predict_proba(grid)
        kl_opt = oracle_kl(optimum, dist).value
        for axis, values in axes.items():
            for value in values:
                cfg = {**base, axis: value}
                gaps, kls, cpu = [], [], []
                for seed in seeds:
                    X, y = dist.sample(cfg["n"], rng=seed)
                    t0 = time.process_time()
                    net = oc.nets.train(X, y, "mixup", n_classes=k, alpha=1.0,
                                        width=cfg["width"], depth=2, epochs=cfg["epochs"],
                                        batch_size=128, lr=3e-3, lr_schedule="cosine", rng=seed)
                    cpu.append(time.process_time() - t0)
                    gaps.append(mean_tv(net.predict_proba(grid), target))
                    kls.append(oracle_kl(net, dist).value)
                spread = f" [{min(gaps):.4f}, {max(gaps):.4f}]" if len(gaps) > 1 else ""
                print(f"| {k} | {axis} | {cfg['n']} | {cfg['width']} | {cfg['epochs']} | "
                      f"{np.mean(gaps):.4f}{spread} | {np.mean(kls):.4f} | {kl_opt:.4f} | "
                      f"{np.mean(cpu):.2f} |", flush=True)


# -- b ------------------------------------------------------------------------------------------

def erm_table(quick: bool) -> None:
    seeds = range(1 if quick else 2)
    print("| k | seed | epochs run | train acc | A net | KL net (top + runner-up) | "
          "Prop. 1 at A net | A hard | KL hard (top + runner-up) | Prop. 1 at A hard | "
          "Cor. 2 bound | uniform | net / hard | CPU s |")
    print("|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for k in (2, 4, 8, 16):
        dist = oc.OverlappingUniform(k, overlap=0.5, n_features=8)
        H, a_star = float(dist.conditional_entropy()), float(dist.bayes_accuracy())
        for seed in seeds:
            X, y = dist.sample(250 * k, rng=seed)
            t0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", oc.nets.InterpolationWarning)
                net = oc.nets.train(X, y, "erm", n_classes=k, width=128, depth=2, epochs=30,
                                    batch_size=64, lr=3e-3, until_interpolation=True, rng=seed)
            cpu = time.process_time() - t0
            hard = oc.HardInterpolator().fit(X, y, n_classes=k)
            kn, kh = oracle_kl(net, dist), oracle_kl(hard, dist)
            an = float(oc.population_accuracy(net, dist, n_samples=MC, rng=MC_SEED))
            ah = float(oc.population_accuracy(hard, dist, n_samples=MC, rng=MC_SEED))
            print(f"| {k} | {seed} | {len(net.history)} | {net.train_accuracy_:.3f} | {an:.3f} | "
                  f"{kn.value:.3f} ({kn.top_label:.3f} + {kn.runner_up:.3f}) | "
                  f"{prop1(an, k, H):.3f} | {ah:.3f} | "
                  f"{kh.value:.3f} ({kh.top_label:.3f} + {kh.runner_up:.3f}) | "
                  f"{prop1(ah, k, H):.3f} | {prop1(a_star, k, H):.3f} | {math.log(k) - H:.3f} | "
                  f"{kn.value / kh.value:.2f} | {cpu:.1f} |", flush=True)


# -- c ------------------------------------------------------------------------------------------

def preset_table(quick: bool) -> None:
    dist = oc.GaussianMixture.shifted(300, shift=0.1)
    X, y = dist.sample(3600, rng=0)
    print("| method | epochs | CPU s (total) | CPU s / epoch | first epoch with train acc 1 | "
          "final train acc | KL after oracle TS (10000 MC points) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for method in ("erm", "mixup"):
        t0 = time.process_time()
        net = oc.nets.train(X, y, method, rng=0)  # the defaults
        cpu = time.process_time() - t0
        acc = net.history.train_accuracy
        first = int(net.history.epoch[np.argmax(acc == 1.0)]) if np.any(acc == 1.0) else "never"
        kl = oc.oracle_temperature(net, dist, n_samples=10_000, rng=MC_SEED).kl
        print(f"| {method} | {len(net.history)} | {cpu:.1f} | {cpu / len(net.history):.3f} | "
              f"{first} | {net.train_accuracy_:.4f} | {kl.value:.4f} ± {kl.stderr:.4f} |",
              flush=True)


# -- d ------------------------------------------------------------------------------------------

#: Candidate settings for the network cells of ``reproduce --quick`` (see the module docstring).
UNIFORM = {"family": "overlapping_uniform", "recalibrations": ["none", "oracle", "fitted"],
           "n_val": 2000, "n_test": 4000, "kl_samples": 20000}
ERM_UNIFORM = {"n_features": 8, "n_per_class": 250, "width": 128, "depth": 2, "epochs": 30,
               "batch_size": 64, "lr": 3e-3, "until_interpolation": True}
MIXUP_UNIFORM = {"n_features": 1, "n_per_class": 1000, "width": 128, "depth": 3, "epochs": 40,
                 "batch_size": 128, "lr": 3e-3, "lr_schedule": "cosine"}
GAUSS = {"family": "gaussian_pairs", "bayes_error": 0.1, "recalibrations":
         ["none", "oracle", "fitted"], "n_val": 2000, "n_test": 4000, "kl_samples": 5000,
         "n_features": 16, "n_per_class": 500}
ERM_GAUSS = {"width": 128, "depth": 2, "epochs": 30, "batch_size": 128, "lr": 3e-3,
             "until_interpolation": True}
MIXUP_GAUSS = {"width": 128, "depth": 2, "epochs": 30, "batch_size": 128, "lr": 3e-3,
               "lr_schedule": "cosine"}


def _cells(name, grid, fixed):
    from overlapcal.experiments.config import config_from_dict, expand

    config = config_from_dict({"name": name, "task": "calibration", "seed": 2024,
                               "replicates": 1, "grid": grid, "fixed": fixed}, source=name)
    return expand(config)


def reproduce_table(quick: bool) -> None:
    from overlapcal.experiments.tasks import run_calibration

    ks_gauss = [2, 4, 8] if quick else [2, 4, 8, 16]
    plan = [
        ("F1", "n_classes", [("erm_net", ERM_UNIFORM), ("mixup_net", MIXUP_UNIFORM),
                             ("hard_interpolator", {}), ("mixup_optimum", {})],
         {"n_classes": [2, 4, 8]}, {**UNIFORM, "overlap": 0.5}),
        ("F2", "overlap", [("erm_net", ERM_UNIFORM), ("mixup_net", MIXUP_UNIFORM),
                           ("hard_interpolator", {}), ("mixup_optimum", {})],
         {"overlap": [0.0, 0.25, 0.5, 1.0]}, {**UNIFORM, "n_classes": 4}),
        ("F5", "n_classes", [("erm_net", ERM_GAUSS), ("mixup_net", MIXUP_GAUSS),
                             ("hard_interpolator", {}), ("mixup_optimum", {})],
         {"n_classes": ks_gauss}, GAUSS),
    ]
    print("| figure | cell | method | train acc | epochs run | KL oracle TS (top + runner-up) | "
          "KL fitted TS | accuracy | Cor. 2 | CPU s / cell |")
    print("|---|---|---|---:|---:|---|---:|---:|---:|---:|")
    totals: dict = {}
    for fig, key, methods, grid, fixed in plan:
        for method, settings in methods:
            params = {**fixed, **settings, "method": method}
            if method in ("hard_interpolator", "mixup_optimum") and fixed is not GAUSS:
                params["n_features"] = 1  # the exact references are 1-D
            for cell in _cells(f"{fig}-{method}", grid, params):
                t0 = time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    rows = {r["recalibration"]: r for r in run_calibration(cell)}
                cpu = time.process_time() - t0
                if method.endswith("_net"):
                    totals[fig] = totals.get(fig, 0.0) + cpu
                o, f = rows["oracle"], rows["fitted"]
                acc = o.get("train_accuracy")
                print(f"| {fig} | {key} = {cell.params[key]} | {method} | "
                      f"{'' if acc is None else f'{acc:.4f}'} | {o.get('epochs_run', '')} | "
                      f"{o['kl']:.4f} ({o['kl_top_label']:.4f} + {o['kl_runner_up']:.4f}) | "
                      f"{f['kl']:.4f} | {o['accuracy']:.4f} | {o['corollary2_bound']:.4f} | "
                      f"{cpu:.2f} |", flush=True)
    print()
    print("CPU seconds of the network cells: " + ", ".join(
        f"{fig} {s:.1f}" for fig, s in totals.items()) + f"; total {sum(totals.values()):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, fewer cells")
    parser.add_argument("--tables", default="abcd", help="which tables to print (default abcd)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread\n")
    tables = {"a": ("a. Mixup networks -> Mixup optimum (1-D overlapping pairs)", mixup_table),
              "b": ("b. Interpolating ERM networks vs the hard interpolator (d = 8)", erm_table),
              "c": ("c. Default networks on the paper's synthetic preset", preset_table),
              "d": ("d. Candidate network settings for reproduce --quick", reproduce_table)}
    for key in args.tables:
        title, fn = tables[key]
        print(f"### {title}\n")
        t0 = time.perf_counter()
        fn(args.quick)
        print(f"\n({time.perf_counter() - t0:.0f} s wall)\n", flush=True)


if __name__ == "__main__":
    main()
