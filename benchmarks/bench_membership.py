"""Benchmark: membership-inference AUC against the non-private and the DP generators.

The shadow-model attack of ``healthdatalab.membership`` (Stadler et al. 2022) targets the most
isolated patient of a synthetic population (3,000 patients, seed 11) and, as a control, a
typical one. Each generator is attacked with 100 shadow runs and scored on 100 fresh runs
(training sets of 100 records). Printed per generator and target: the shadow-model attack's
AUC, the distance-to-closest-record baseline on the same runs, the largest AUC any attack
can reach at that epsilon (for a swapped record, that is at 2 * epsilon: the "in" and "out"
training sets differ by one removal and one addition), and the attack's standard error
(Hanley and McNeil).

Generators: the Gaussian copula (no DP) and the noisy-marginal generator at epsilon 0.3, 1
and 3 (OpenDP noise, so the DP rows change from run to run).

Run with ``.venv/bin/python benchmarks/bench_membership.py`` (a few minutes).
"""

from __future__ import annotations

import numpy as np

from healthdatalab.cohort import generate_cohort
from healthdatalab.dp_synthesis import COHORT_DOMAIN, NoisyMarginalSynthesizer
from healthdatalab.membership import most_isolated, shadow_attack_generator
from healthdatalab.synthesis import GaussianCopulaSynthesizer

RUNS = 100


def dp_auc_bound(epsilon: float) -> float:
    grid = np.linspace(0, 1, 10_001)
    tpr = np.minimum(np.exp(epsilon) * grid, 1 - np.exp(-epsilon) * (1 - grid))
    return float(np.trapezoid(np.clip(tpr, 0, 1), grid))


def standard_error(auc: float, positives: int, negatives: int) -> float:
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return float(np.sqrt(variance))


def main() -> None:
    columns = list(COHORT_DOMAIN)
    population = generate_cohort(3_000, seed=11)[columns]
    label = most_isolated(population, columns, k=1)[0]
    targets = {
        "outlier": (population.loc[[label]], population.drop(index=label)),
    }
    rest = population.drop(index=label)
    targets["typical"] = (rest.iloc[[0]], rest.iloc[1:])

    def copula(train, rng):
        return GaussianCopulaSynthesizer().fit(train).sample(len(train), rng)

    generators = {"Gaussian copula (no DP)": (copula, None)}
    for epsilon in (0.3, 1.0, 3.0):

        def private(train, rng, epsilon=epsilon):
            return NoisyMarginalSynthesizer(epsilon).fit(train).sample(len(train), rng)

        generators[f"noisy marginals, eps = {epsilon:g}"] = (private, epsilon)

    print(f"{'generator':<30}{'target':<9}{'attack AUC':>11}{'+/- se':>8}"
          f"{'distance AUC':>14}{'DP bound':>10}")  # fmt: skip
    rng = np.random.default_rng(3)
    for name, (generate, epsilon) in generators.items():
        for target_name, (target, reference) in targets.items():
            result = shadow_attack_generator(
                generate, reference, target, COHORT_DOMAIN, rng,
                n_train=100, shadow_runs=RUNS, test_runs=RUNS,
            )  # fmt: skip
            bound = "-" if epsilon is None else f"{dp_auc_bound(2 * epsilon):.3f}"
            se = standard_error(result.auc, RUNS // 2, RUNS // 2)
            print(f"{name:<30}{target_name:<9}{result.auc:>11.3f}{se:>8.3f}"
                  f"{result.distance_auc:>14.3f}{bound:>10}")  # fmt: skip


if __name__ == "__main__":
    main()
