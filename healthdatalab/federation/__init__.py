"""Sharing without pooling: one module per step from the data to the deployment.

``partitions``
    :func:`partition_by_hospital` and :func:`to_arrays` turn a cohort from
    :mod:`healthdatalab.cohort` into one design matrix per hospital.
``regression``
    :func:`fit_logistic` (the pooled, centralised reference) and :func:`information_matrix`
    (its precision); :func:`local_update`, :func:`fedavg_aggregate` and :func:`fedavg` are
    federated averaging (FedAvg) written out by hand.
``secret_sharing``
    :func:`share_secret`, :func:`reconstruct` and :func:`secure_sum`: additive secret sharing
    modulo the prime :data:`PRIME`, with random parts from :mod:`secrets`;
    :func:`recover_seeded_inputs` is the attack on shares from a seeded generator;
    :func:`mpyc_secure_sum` computes the same kind of sum with the MPyC library, one local
    process per party on 127.0.0.1, inputs on standard input, TLS between the parties.
``output_checks``
    :func:`check_min_cell_count`, :func:`release` and :func:`suppress_small_cells`: the output
    checks of a secure environment (a minimum cell count; zeros withheld unless the caller says
    otherwise); :class:`QueryLog` refuses outputs that differ from earlier ones by a few
    records (differencing).
``analytics``
    :func:`local_summary` (what one hospital computes) and :func:`pool_summaries` (how the
    aggregator combines the summaries).
``flower_app``
    :func:`make_client_app` and :func:`make_server_app` build the same FedAvg as a Flower
    ``ClientApp`` and ``ServerApp`` (simulation in the notebooks, deployment in ``deploy/``);
    :func:`run_flower_simulation` runs them in Flower's simulation engine;
    :func:`run_dp_fedavg` aggregates every round with Flower's server-side fixed-clipping
    differential privacy wrapper; :class:`TrafficMeter` wraps a ServerApp's grid and counts
    the bytes of every message (:func:`message_bytes`) and the seconds each round waits.
``dp_accounting``
    :func:`hospital_level_epsilon` is the (epsilon, delta) of those rounds, computed with
    OpenDP; :func:`zcdp_rho` and :func:`zcdp_epsilon` are the closed forms it is checked
    against; :func:`effective_noise_multiplier` is what weighting by patient count does to it.

The names below are re-exported so that notebooks keep one short import
(``from healthdatalab import federation as fed``). Nothing here prints or reads a file the
caller did not pass in.
"""

from healthdatalab.federation.analytics import LocalSummary, local_summary, pool_summaries
from healthdatalab.federation.dp_accounting import (
    HospitalGuarantee,
    effective_noise_multiplier,
    hospital_level_epsilon,
    zcdp_epsilon,
    zcdp_rho,
)
from healthdatalab.federation.flower_app import (
    QUIET_ENVIRONMENT,
    FlowerRun,
    TrafficMeter,
    make_client_app,
    make_server_app,
    message_bytes,
    quiet_flower,
    run_dp_fedavg,
    run_flower_simulation,
)
from healthdatalab.federation.output_checks import (
    MIN_CELL_COUNT,
    OutputBlockedError,
    OutputCheck,
    QueryLog,
    check_min_cell_count,
    release,
    suppress_small_cells,
)
from healthdatalab.federation.partitions import FEATURES, partition_by_hospital, to_arrays
from healthdatalab.federation.regression import (
    FedAvgResult,
    accuracy,
    fedavg,
    fedavg_aggregate,
    fit_logistic,
    information_matrix,
    local_update,
    logistic_loss,
)
from healthdatalab.federation.secret_sharing import (
    PRIME,
    SecureSumResult,
    decode_fixed_point,
    encode_fixed_point,
    mpyc_secure_sum,
    party_command,
    reconstruct,
    recover_seeded_inputs,
    secure_sum,
    share_secret,
    to_signed,
    write_tls_certificates,
)

__all__ = [
    "FEATURES",
    "MIN_CELL_COUNT",
    "PRIME",
    "QUIET_ENVIRONMENT",
    "FedAvgResult",
    "FlowerRun",
    "HospitalGuarantee",
    "LocalSummary",
    "OutputBlockedError",
    "OutputCheck",
    "QueryLog",
    "SecureSumResult",
    "TrafficMeter",
    "accuracy",
    "check_min_cell_count",
    "decode_fixed_point",
    "effective_noise_multiplier",
    "encode_fixed_point",
    "fedavg",
    "fedavg_aggregate",
    "fit_logistic",
    "hospital_level_epsilon",
    "information_matrix",
    "local_summary",
    "local_update",
    "logistic_loss",
    "make_client_app",
    "make_server_app",
    "message_bytes",
    "mpyc_secure_sum",
    "party_command",
    "partition_by_hospital",
    "pool_summaries",
    "quiet_flower",
    "reconstruct",
    "recover_seeded_inputs",
    "release",
    "run_dp_fedavg",
    "run_flower_simulation",
    "secure_sum",
    "share_secret",
    "suppress_small_cells",
    "to_arrays",
    "to_signed",
    "write_tls_certificates",
    "zcdp_epsilon",
    "zcdp_rho",
]
