"""Benchmark: linking a GP, a pharmacy and a hospital at 10^4, 10^5 and 10^6 patients.

Prints, per size and per method, the seconds spent training (Splink: prior, u by random
sampling, m by EM) or encoding (pseudonyms, Bloom filters), the seconds spent linking
(Splink: prediction and one-to-one clustering), the number of record pairs compared after
blocking, and precision, recall and F1 against the synthetic truth. Methods: Splink on the
clear identifiers, Splink on field-wise keyed pseudonyms, exact whole-record keyed pseudonyms,
and keyed Bloom filters with locality-sensitive blocking. Wall-clock seconds on this machine;
not a test.

Run with ``.venv/bin/python benchmarks/bench_linkage.py`` (10^4 and 10^5, a few minutes);
add ``--large`` for 10^6 as well (over ten minutes on two shared cores: encoding 2.6 million
Bloom filters in Python alone takes several minutes), or ``--sizes 10000`` for a quick run.
"""

from __future__ import annotations

import argparse
import secrets
import time

from healthdatalab import linkage as lk
from healthdatalab.pprl import BloomEncoder

SIZES = (10_000, 100_000)
LARGE = 1_000_000
EM_PAIRS = 5e6  # cap on the pairs each EM run samples, so 10^6 trains in bounded time


def one_size(n: int) -> list[dict]:
    start = time.perf_counter()
    partition = lk.make_vertical_partition(n, seed=1)
    truth = lk.true_links(partition)
    made = time.perf_counter() - start
    records = sum(len(t) for t in partition.holders.values())
    print(
        f"\n{n:,} people: {records:,} records, {len(truth):,} true pairs (made in {made:.1f} s)",
        flush=True,
    )
    key = secrets.token_bytes(32)
    fields = {h: lk.pseudonymise_fields(t, key) for h, t in partition.holders.items()}
    methods = {
        "Splink, clear identifiers": lambda: lk.link_splink(
            partition.holders, seed=1, u_pairs=1e7, em_pairs=EM_PAIRS
        ),
        "Splink, field-wise pseudonyms": lambda: lk.link_splink(
            fields, fuzzy=False, seed=1, u_pairs=1e7, em_pairs=EM_PAIRS
        ),
        "exact keyed pseudonyms": lambda: lk.link_pseudonyms(partition.holders, key),
        "Bloom filters (keyed, LSH)": lambda: lk.link_bloom(
            partition.holders, BloomEncoder.with_random_key()
        ),
    }
    rows = []
    for name, run in methods.items():
        result = run()
        quality = lk.linkage_quality(result.links, truth)
        row = {
            "patients": n,
            "method": name,
            "train_or_encode_s": result.training_seconds,
            "link_s": result.linking_seconds,
            "comparisons": result.comparisons,
            "precision": quality.precision,
            "recall": quality.recall,
            "f1": quality.f1,
        }
        rows.append(row)
        print(
            f"  {name:31s} train/encode {row['train_or_encode_s']:7.1f} s  "
            f"link {row['link_s']:7.1f} s  comparisons {row['comparisons']:>12,}  "
            f"precision {row['precision']:.4f}  recall {row['recall']:.4f}  "
            f"F1 {row['f1']:.4f}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", action="store_true", help="also run 10^6 patients")
    parser.add_argument("--sizes", type=int, nargs="+", help="run these sizes instead")
    args = parser.parse_args()
    sizes = tuple(args.sizes) if args.sizes else SIZES + ((LARGE,) if args.large else ())
    if not args.sizes and not args.large:
        print(
            "10^6 patients skipped: pass --large (it takes over ten minutes on two shared "
            "cores, mostly encoding Bloom filters in Python)"
        )
    for n in sizes:
        one_size(n)


if __name__ == "__main__":
    main()
