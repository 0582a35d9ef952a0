"""What a coordinator who chooses the regression's coefficients learns from a network-study site.

Run from the repository root:

    .venv/bin/python benchmarks/bench_network_attacks.py

It writes the notebook's three OMOP hospitals (10,000 patients, seed 11) and the small ones
(400 of them), then prints:

1. the half-space attack (a steep threshold bisected along a mix of the covariates) against
   sums that are not checked: persons whose covariates come out exactly, and requests used; and
   the same attack against ``network_study.Site``: the request at which it is refused;
2. the tail attack, which stays inside every limit of ``Site`` (thresholds in the far upper tail
   of BMI, as steep as the bound allows, then non-negative least squares over BMI values to one
   decimal): for each bound on the linear predictor and number of requests, whether the highest
   BMI is found and how far the estimates of that person's age and blood pressure are off.

Expectation: the half-space attack recovers every person without checks and is refused at the
first request with them; the tail attack finds the top person at a large site within a handful
of requests, whatever the bound, which is why the chapter treats the coordinator as trusted.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from healthdatalab import omop
from healthdatalab.cohort import generate_cohort
from healthdatalab.federation import network_study as ns
from healthdatalab.federation.glm import local_statistics
from healthdatalab.federation.output_checks import OutputBlockedError
from healthdatalab.federation.regression import _sigmoid


def halfspace(answer) -> tuple[list[np.ndarray], int]:
    direction, steep, asked, rows = np.sqrt([0.0, 1.0, 2.0, 3.0, 5.0]), 1e7, [0], []

    def minus_sum_above(t):
        asked[0] += 1
        return -answer(steep * (direction - t * np.eye(5)[0])).gradient

    def split(low, g_low, high, g_high):
        between = g_low - g_high
        count = round(between[0])
        if count == 1 or (count > 1 and high - low < 1e-9):
            rows.append(between / count)
        elif count > 1:
            middle = (low + high) / 2
            g_middle = minus_sum_above(middle)
            split(low, g_low, middle, g_middle)
            split(middle, g_middle, high, g_high)

    split(-1.0, minus_sum_above(-1.0), 200.0, minus_sum_above(200.0))
    return rows, asked[0]


def tail(path: Path, requests: int, bound: float) -> dict:
    site = ns.Site("s", path, max_linear_predictor=bound, max_statistics_requests=requests)
    first = site.statistics(np.zeros(5))
    x_y = first.gradient + 2 * first.hessian[0]
    thresholds = np.linspace(15, 60, requests - 1)
    slopes = 0.999 * bound / (thresholds + 80)
    answers = [site.statistics(np.array([-k * t, 0, 0, k, 0]))
               for k, t in zip(slopes, thresholds, strict=True)]
    grid = np.round(np.arange(150, 501) / 10, 1)

    def solve(column):
        rows, values = [], []
        for k, t, a in zip(slopes, thresholds, answers, strict=True):
            p = _sigmoid(k * (grid - t))
            v = p * (1 - p)
            rows += [p, v, v * grid]
            values += [x_y[column] - a.gradient[column], a.hessian[0, column],
                       a.hessian[3, column]]
        A, b = np.array(rows), np.array(values)
        scale = np.abs(A).max(axis=1)
        return nnls(A / scale[:, None], b / scale, maxiter=50_000)[0]

    counts = solve(0)
    design = site._query("design")
    truth = design.loc[design["bmi"].idxmax()]
    found = np.nonzero(counts > 0.5)[0]
    if len(found) == 0 or grid[found.max()] != truth["bmi"]:
        return {"top BMI found": False}
    top = found.max()
    return {
        "top BMI found": True,
        "age error (years)": round(float(10 * abs(solve(1)[top] / counts[top]
                                                  - truth["age_per_10y"])), 2),
        "SBP error (mmHg)": round(float(10 * abs(solve(4)[top] / counts[top]
                                                  - truth["systolic_bp_per_10"])), 2),
    }


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-network-attacks-"))
    cohort = generate_cohort(10_000, seed=11)
    large = omop.write_hospital_dbs(cohort, folder / "large")
    small = omop.write_hospital_dbs(cohort.sample(400, random_state=1), folder / "small")

    print("1. half-space attack")
    for label, path in [("small Hospital C", small["Hospital C"]),
                        ("Hospital B", large["Hospital B"])]:
        site = ns.Site(label, path)
        design = site._query("design")
        X = np.column_stack([np.ones(len(design)),
                             design[list(ns.COVARIATES[1:])].to_numpy(float)])
        y = design["admitted"].to_numpy(float)
        rows, asked = halfspace(lambda w, X=X, y=y: local_statistics(w, X, y))
        found = {tuple(np.round(r, 6)) for r in rows}
        exact = sum(tuple(np.round(row, 6)) in found for row in X)
        try:
            halfspace(site.statistics)
            verdict = "answered"
        except OutputBlockedError:
            verdict = f"refused at request {site.statistics_requests}"
        print(f"   {label}: {len(X)} persons; unchecked: {exact} recovered exactly in {asked} "
              f"requests; Site: {verdict}")

    print("2. tail attack inside every limit (bound on |linear predictor|, requests)")
    for label, path in [("Hospital C", large["Hospital C"]),
                        ("small Hospital A", small["Hospital A"])]:
        for bound in (ns.MAX_LINEAR_PREDICTOR, 25.5):
            for requests in (5, 8, 15, ns.MAX_STATISTICS_REQUESTS):
                print(f"   {label}, bound {bound:g}, {requests} requests: "
                      f"{tail(path, requests, bound)}")


if __name__ == "__main__":
    main()
