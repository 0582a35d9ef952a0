"""Tools shared by the notebooks of the Health Data Sharing Playbook.

One module per concern, each importing only those below it:

``cohort``
    seeded synthetic Dutch patient cohorts with a known ground truth, and a public register.
``risk``
    equivalence classes, uniqueness, k, l and t, prosecutor/journalist/marketer risk, linkage.
``anonymise``
    generalisation hierarchies, suppression, and a search that reaches k, l and t targets.
``privacy``
    differential privacy by hand: Laplace and Gaussian mechanisms, queries, a budget.
``synthesis``
    a teaching generator of synthetic data and its fidelity, utility and privacy evaluation.
``attacks``
    reconstruction from subset counts (Dinur-Nissim), exact and through OpenDP.
``pprl``
    privacy-preserving record linkage with keyed Bloom filters, and the attacks on them.
``dp_synthesis``
    differentially private synthetic data from noisy marginals: by hand, and MST with
    Private-PGM (``mbi``).
``membership``
    membership and attribute inference attacks on generators and trained models.
``homomorphic``
    aggregation of encrypted counts (BFV) and model updates (CKKS) with TenSEAL.
``federation``
    a subpackage: partitions per hospital, regression and FedAvg, secret sharing, output
    checks, federated analytics and the Flower app, one module each.
``metadata``
    DCAT / FAIR Data Point descriptions, SHACL validation and a mapping to HL7 FHIR.
``style``
    one plotting style for every figure.

Every function takes a table (or a number) and returns a table, a number or a figure; no
module reads files the caller did not pass in, and no module prints.
"""

__version__ = "0.1.0"
