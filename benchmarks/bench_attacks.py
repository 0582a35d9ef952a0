"""Accuracy of the Dinur-Nissim reconstruction attack against the epsilon of the release.

Run from the repository root:

    .venv/bin/python benchmarks/bench_attacks.py              # 100 patients, 20 releases each
    .venv/bin/python benchmarks/bench_attacks.py 200 10       # 200 patients, 10 releases each

For a ward of N synthetic patients (secret: smoking) it asks 4N random subset counts, releases
them through OpenDP's Laplace mechanism with a total epsilon for the whole release, runs the
linear-programming attack of ``healthdatalab.attacks`` and prints, for each epsilon, the mean
and the range of the share of patients guessed right over the repeated releases, the baseline
of guessing the more common value for everyone, the bound that epsilon-DP places on any
attacker, and the time per attack. Exact answers (no noise) come first.

Expectation: exact answers give 100 %; a total epsilon of 1 or less gives no more than the
baseline; the attack succeeds again once the noise scale (sensitivity / epsilon) falls to a few
patients per answer.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from healthdatalab.attacks import (
    accuracy_bound,
    dp_subset_counts,
    query_sensitivity,
    random_subset_queries,
    reconstruct,
    reconstruction_accuracy,
    subset_counts,
)
from healthdatalab.cohort import generate_cohort

EPSILONS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


def main(n: int = 100, repeats: int = 20) -> None:
    secret = generate_cohort(n, seed=3, columns=["smoking"])["smoking"].to_numpy()
    prevalence = float(secret.mean())
    baseline = max(prevalence, 1 - prevalence)
    queries = random_subset_queries(n, 4 * n, np.random.default_rng(1))
    sensitivity = query_sensitivity(queries)
    exact = reconstruction_accuracy(reconstruct(queries, subset_counts(queries, secret)), secret)
    print(
        f"{n} patients, {4 * n} queries, sensitivity {sensitivity}, "
        f"baseline {baseline:.3f}, exact answers: {exact:.3f}"
    )
    print(
        f"{'epsilon':>9} {'scale':>9} {'mean':>6} {'min':>6} {'max':>6} {'bound':>6} "
        f"{'s/attack':>8}"
    )
    for epsilon in EPSILONS:
        accuracies, seconds = [], 0.0
        for _ in range(repeats):
            answers = dp_subset_counts(queries, secret, epsilon)
            start = time.perf_counter()
            accuracies.append(reconstruction_accuracy(reconstruct(queries, answers), secret))
            seconds += time.perf_counter() - start
        print(
            f"{epsilon:9.1f} {sensitivity / epsilon:9.2f} {np.mean(accuracies):6.3f} "
            f"{min(accuracies):6.3f} {max(accuracies):6.3f} "
            f"{accuracy_bound(epsilon, prevalence):6.3f} {seconds / repeats:8.3f}"
        )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
