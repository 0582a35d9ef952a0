"""Benchmark: hospital-level differential privacy for FedAvg with Flower's DP strategy wrapper.

Flower's ``DifferentialPrivacyServerSideFixedClipping`` (``flwr.serverapp.strategy``) wraps
FedAvg: each round it clips every hospital's model update (local model minus global model) to
an L2 norm of ``clipping_norm``, lets FedAvg average the clipped models, and adds Gaussian noise
with standard deviation ``noise_multiplier * clipping_norm / hospitals`` to the average. The
unit protected is a hospital's whole update in a round, not one patient's record.

That noise is calibrated to an unweighted mean of the clipped models: one hospital moves it by
at most ``clipping_norm / hospitals``. FedAvg's default weighting by ``num-examples`` lets a
large hospital move it further, so the stated noise multiplier would overstate the protection
(Flower's own privacy accountant refuses unequal weights for this reason). Every hospital here
therefore reports the same weight; the reference without noise uses the same clipping and
weights, so the columns separate the cost of the noise from the cost of clipping and equal
weighting.

The rounds run through ``healthdatalab.federation.run_dp_fedavg``: the wrapper's own
``aggregate_train`` clips, averages and adds noise to the hospitals' replies as Flower
``Message`` objects; no engine is started (the SuperLink adds nothing to the arithmetic), so
the benchmark runs in seconds. Printed per noise multiplier: the (epsilon, delta) of all rounds
for each hospital (``healthdatalab.federation.dp_accounting``, computed with OpenDP; every
hospital takes part in every round, so there is no sampling to amplify privacy), under the
add-or-remove relation the noise is calibrated to and under replace-one (twice the
sensitivity), the closed-form zCDP bound beside it, and the largest absolute coefficient
difference from the same aggregation without noise and from the pooled maximum-likelihood fit,
averaged over repetitions with different noise seeds. The last line shows what FedAvg's default
weighting by patient count would do to the stated noise multiplier.

Run with ``.venv/bin/python benchmarks/bench_fedavg_dp.py`` (under a minute).
"""

from __future__ import annotations

import numpy as np

from healthdatalab import federation as fed
from healthdatalab.cohort import generate_cohort
from healthdatalab.federation.glm import federated_newton

N_PATIENTS, SEED, ROUNDS, EPOCHS, RATE = 20_000, 1, 20, 10, 2.0
CLIPPING_NORM, DELTA = 1.0, 1e-5
NOISE_MULTIPLIERS = (0.1, 0.5, 1.0, 2.0, 4.0, 8.0)
REPETITIONS = 5


def dp_fedavg(partitions, noise_multiplier: float, seed: int) -> np.ndarray:
    return fed.run_dp_fedavg(partitions, noise_multiplier=noise_multiplier,
                             clipping_norm=CLIPPING_NORM, rounds=ROUNDS, local_epochs=EPOCHS,
                             learning_rate=RATE, seed=seed)


def main() -> None:
    cohort = generate_cohort(N_PATIENTS, seed=SEED)
    partitions = [fed.to_arrays(p) for p in fed.partition_by_hospital(cohort).values()]
    pooled = federated_newton(partitions).coefficients
    plain = fed.fedavg(partitions, rounds=ROUNDS, local_epochs=EPOCHS,
                       learning_rate=RATE).history[-1]
    with fed.quiet_flower():
        clipped = dp_fedavg(partitions, 0.0, seed=0)  # clipping and equal weights, no noise
    print(f"{len(partitions)} hospitals, {N_PATIENTS} patients, {ROUNDS} rounds of {EPOCHS} "
          f"local epochs, clipping norm {CLIPPING_NORM}, {REPETITIONS} noise seeds, "
          f"delta {DELTA:g}")
    print(f"FedAvg (weighted by patients) vs pooled fit: max |diff| = "
          f"{np.max(np.abs(plain - pooled)):.4f}")
    print(f"clipped, equally weighted, no noise vs pooled fit: max |diff| = "
          f"{np.max(np.abs(clipped - pooled)):.4f}")
    print(f"{'noise mult.':>11} {'noise sd':>9} {'eps add/rm':>10} {'closed form':>11} "
          f"{'eps replace':>11} {'vs no noise':>11} {'vs pooled':>10}")
    for z in NOISE_MULTIPLIERS:
        with fed.quiet_flower():  # the wrapper logs every clipping and noise step
            runs = [dp_fedavg(partitions, z, seed) for seed in range(REPETITIONS)]
        vs_plain = np.mean([np.max(np.abs(w - clipped)) for w in runs])
        vs_pooled = np.mean([np.max(np.abs(w - pooled)) for w in runs])
        sd = z * CLIPPING_NORM / len(partitions)
        add = fed.hospital_level_epsilon(z, ROUNDS, DELTA, hospitals=len(partitions))
        replace = fed.hospital_level_epsilon(z, ROUNDS, DELTA, hospitals=len(partitions),
                                             relation="replace-one")
        print(f"{z:>11g} {sd:>9.4f} {add.epsilon:>10.4g} {add.epsilon_closed_form:>11.4g} "
              f"{replace.epsilon:>11.4g} {vs_plain:>11.4f} {vs_pooled:>10.4f}")
    sizes = [len(y) for _, y in partitions]
    z_eff = fed.effective_noise_multiplier(1.0, sizes)
    print(f"weighted by patients {sizes}: noise multiplier 1 acts as {z_eff:.3f}, epsilon "
          f"{fed.hospital_level_epsilon(z_eff, ROUNDS, DELTA).epsilon:.4g} instead of "
          f"{fed.hospital_level_epsilon(1.0, ROUNDS, DELTA).epsilon:.4g}")


if __name__ == "__main__":
    main()
