"""Privacy accounting for hospital-level differential privacy in FedAvg (Flower's DP wrapper).

Flower's ``DifferentialPrivacyServerSideFixedClipping`` clips every hospital's model update to
an L2 norm of ``clipping_norm`` (C), averages the clipped models over the ``hospitals`` (n) it
expects, and adds Gaussian noise with standard deviation ``noise_multiplier * C / n`` (z C / n)
to every coordinate of the average. Every hospital takes part in every round (no sampling), so
a round is one Gaussian mechanism on that average and ``rounds`` (T) rounds compose.

Which two federations count as neighbours decides the sensitivity:

``"add-or-remove"``
    One hospital's clipped update is present or absent while the divisor stays n (absent means
    an update of zero: the hospital sends the global model back unchanged). The average moves
    by at most C / n, the noise is z times that, and each round is z**-2 / 2 zero-concentrated
    DP. This is the relation the wrapper's noise is calibrated to, and the one Flower's own
    accountant (``flwr.supercore.privacy_accounting``) uses for rounds without sampling.
``"replace-one"``
    One hospital's data is swapped for any other: its clipped update can move from one side of
    the ball of radius C to the other, the average by 2 C / n, and each round costs four times
    as much (2 / z**2).

The ratio of noise to sensitivity does not depend on C or n, so neither does epsilon: more
hospitals buy less noise on the model, not a smaller epsilon.

:func:`hospital_level_epsilon` builds the released mechanism with OpenDP (T Gaussian mechanisms
on an L2-bounded vector, composed in zero-concentrated DP and converted to approximate DP);
:func:`zcdp_rho` and :func:`zcdp_epsilon` are the closed forms it is checked against
(Bun and Steinke 2016: rho = T d**2 / (2 sigma**2); epsilon = rho + 2 sqrt(rho ln(1/delta))).
OpenDP's conversion is tighter than that closed form, never looser.

The calibration holds only for an unweighted mean. FedAvg's default weights each hospital by
its ``num-examples``; the largest hospital then moves the average by its share times C, not by
C / n. :func:`effective_noise_multiplier` gives the noise multiplier the weighted average
really has, to be passed to the accounting instead of the configured one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

RELATIONS = ("add-or-remove", "replace-one")


def _positive_finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite")
    return float(value)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer")
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


def _delta(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("delta must be a number")
    if not math.isfinite(value) or not 0 < value < 1:
        raise ValueError("delta must lie strictly between 0 and 1")
    return float(value)


def _relation(value: object) -> str:
    if value not in RELATIONS:
        raise ValueError(f"relation must be one of {', '.join(RELATIONS)}")
    return str(value)


def sensitivity(clipping_norm: float, hospitals: int, relation: str = "add-or-remove") -> float:
    """The L2 sensitivity of the average of ``hospitals`` clipped updates under ``relation``."""
    clipping_norm = _positive_finite("clipping_norm", clipping_norm)
    hospitals = _positive_int("hospitals", hospitals)
    factor = 1.0 if _relation(relation) == "add-or-remove" else 2.0
    return factor * clipping_norm / hospitals


def zcdp_rho(noise_multiplier: float, rounds: int, relation: str = "add-or-remove") -> float:
    """Closed-form zero-concentrated DP of ``rounds`` rounds: T (d / sigma)**2 / 2."""
    z = _positive_finite("noise_multiplier", noise_multiplier)
    rounds = _positive_int("rounds", rounds)
    factor = 1.0 if _relation(relation) == "add-or-remove" else 2.0
    return rounds * (factor / z) ** 2 / 2


def zcdp_epsilon(rho: float, delta: float) -> float:
    """Bun and Steinke's conversion of rho-zCDP to (epsilon, delta)-DP."""
    rho = _positive_finite("rho", rho)
    delta = _delta(delta)
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


@dataclass(frozen=True)
class HospitalGuarantee:
    """What ``rounds`` rounds of the wrapper guarantee to each hospital."""

    noise_multiplier: float
    rounds: int
    delta: float
    relation: str
    rho: float  # zero-concentrated DP, from OpenDP's privacy map
    epsilon: float  # approximate DP at ``delta``, OpenDP's conversion
    epsilon_closed_form: float  # Bun and Steinke's conversion of the same rho


def hospital_level_epsilon(
    noise_multiplier: float,
    rounds: int,
    delta: float,
    *,
    hospitals: int = 3,
    clipping_norm: float = 1.0,
    relation: str = "add-or-remove",
) -> HospitalGuarantee:
    """The (epsilon, delta) of ``rounds`` rounds of Flower's server-side fixed-clipping DP.

    Built in OpenDP as the released mechanism: each round a Gaussian with the wrapper's
    standard deviation ``noise_multiplier * clipping_norm / hospitals`` on a vector whose L2
    sensitivity is :func:`sensitivity`, ``rounds`` of them composed, the zCDP result
    converted to approximate DP and read at ``delta``.
    """
    z = _positive_finite("noise_multiplier", noise_multiplier)
    rounds = _positive_int("rounds", rounds)
    delta = _delta(delta)
    d_in = sensitivity(clipping_norm, hospitals, relation)
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)
    per_round = dp.m.make_gaussian(*space, scale=z * float(clipping_norm) / hospitals)
    composed = dp.c.make_composition([per_round] * rounds)
    rho = float(composed.map(d_in))
    try:
        epsilon, _ = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(composed), delta).map(d_in)
    except dp.OpenDPException as error:  # the conversion overflows for a huge rho
        raise ValueError("the noise is too small for these rounds: OpenDP cannot convert the "
                         "guarantee to (epsilon, delta); raise noise_multiplier") from error
    return HospitalGuarantee(
        noise_multiplier=z, rounds=rounds, delta=delta, relation=relation, rho=rho,
        epsilon=float(epsilon), epsilon_closed_form=zcdp_epsilon(rho, delta))


def effective_noise_multiplier(noise_multiplier: float, weights: Sequence[float]) -> float:
    """The noise multiplier a weighted average really has when the noise assumes equal weights.

    With weights w_i the average moves by at most max(w_i) / sum(w) * C when one hospital
    changes, while the wrapper's noise is ``noise_multiplier * C / n``; the ratio is
    ``noise_multiplier / (n * max share)``, equal to ``noise_multiplier`` only for equal
    weights.
    """
    z = _positive_finite("noise_multiplier", noise_multiplier)
    if len(weights) < 1:
        raise ValueError("weights must name at least one hospital")
    checked = [_positive_finite("each weight", w) for w in weights]
    return z / (len(checked) * max(checked) / sum(checked))
