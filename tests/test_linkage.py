"""Tests for healthdatalab.linkage: a vertical partition over a GP, a pharmacy and a hospital,
linked with Splink, with keyed pseudonyms and with Bloom filters."""

from __future__ import annotations

import secrets

import numpy as np
import pandas as pd
import pytest

from healthdatalab import linkage as lk
from healthdatalab.pprl import BloomEncoder, normalise

COLUMNS = ["holder_l", "record_l", "holder_r", "record_r"]


def pairs(rows):
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture(scope="module")
def partition():
    return lk.make_vertical_partition(2000, seed=5)


@pytest.fixture(scope="module")
def truth(partition):
    return lk.true_links(partition)


@pytest.fixture(scope="module")
def key():
    return secrets.token_bytes(32)


# ------------------------------------------------------------------------------- quality


def test_quality_on_a_hand_made_case():
    truth = pairs(
        [
            ("gp", "G1", "pharmacy", "P1"),
            ("gp", "G2", "pharmacy", "P2"),
            ("gp", "G1", "hospital", "H1"),
            ("pharmacy", "P1", "hospital", "H1"),
        ]
    )
    links = pairs(
        [
            ("pharmacy", "P1", "gp", "G1"),  # right, written the other way round
            ("gp", "G1", "hospital", "H1"),  # right
            ("gp", "G2", "pharmacy", "P3"),  # wrong
        ]
    )
    quality = lk.linkage_quality(links, truth)
    assert (quality.true_positives, quality.false_positives, quality.false_negatives) == (2, 1, 2)
    assert quality.precision == pytest.approx(2 / 3)
    assert quality.recall == pytest.approx(2 / 4)
    assert quality.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    none = lk.linkage_quality(pairs([]), truth)
    assert none.precision == 1.0 and none.recall == 0.0


# ------------------------------------------------------------------------------ partition


def test_partition_splits_variables_over_overlapping_holders(partition):
    holders, truth = partition.holders, partition.truth
    assert set(holders) == set(lk.HOLDERS)
    people = {h: set(truth.loc[truth["holder"] == h, "person_id"]) for h in lk.HOLDERS}
    for holder, table in holders.items():
        assert list(table.columns) == ["record_id", *lk.IDENTIFIERS, *lk.VARIABLES[holder]]
        assert table["record_id"].is_unique
        assert "person_id" not in table.columns
        share = len(table) / len(partition.people)
        assert abs(share - lk.COVERAGE[holder]) < 0.05
    everyone = set.intersection(*people.values())
    assert 0 < len(everyone) < min(len(p) for p in people.values())
    # each holder's variables are the person's own values, in the holder's record order
    gp = holders["gp"].merge(truth[truth["holder"] == "gp"], on="record_id")
    clean = partition.people.set_index("person_id").loc[gp["person_id"]]
    assert (gp["hba1c"].to_numpy() == clean["hba1c"].to_numpy()).all()


def test_partition_is_seeded_and_noise_zero_is_clean():
    a = lk.make_vertical_partition(300, seed=2)
    b = lk.make_vertical_partition(300, seed=2)
    for holder in lk.HOLDERS:
        pd.testing.assert_frame_equal(a.holders[holder], b.holders[holder])
    clean = lk.make_vertical_partition(300, seed=2, noise=0)
    assert len(lk.corrupted_records(clean, lk.IDENTIFIERS)) == 0
    assert len(lk.corrupted_records(a, lk.IDENTIFIERS)) > 0


def test_errors_are_realistic(partition):
    bad = lk.corrupted_records(partition, ["date_of_birth"])
    rows = partition.holders["hospital"].merge(bad, on="record_id")
    assert len(rows) > 0
    # a swapped day and month is still a valid date
    assert pd.to_datetime(rows["date_of_birth"], format="%Y-%m-%d").notna().all()
    moved = lk.corrupted_records(partition, ["postcode"])
    share = len(moved) / sum(len(t) for t in partition.holders.values())
    assert 0.02 < share < 0.15


# ----------------------------------------------------------------------------- linkage


@pytest.fixture(scope="module")
def splink_links(partition):
    return lk.link_splink(partition.holders, threshold=0.9, seed=1)


def test_splink_recovers_the_truth_on_modest_noise(splink_links, truth):
    quality = lk.linkage_quality(splink_links.links, truth)
    assert quality.precision >= 0.98
    assert quality.recall >= 0.97
    assert splink_links.comparisons >= quality.true_positives
    assert set(splink_links.links.columns) >= {*COLUMNS, "score"}
    assert (splink_links.links["score"] >= 0.9).all()


def test_splink_links_each_record_at_most_once_per_holder(splink_links):
    links = splink_links.links
    for side in ("l", "r"):
        for other in lk.HOLDERS:
            mine = links[links[f"holder_{'r' if side == 'l' else 'l'}"] == other]
            assert not mine.duplicated([f"holder_{side}", f"record_{side}"]).any()


def test_exact_pseudonyms_lose_exactly_the_pairs_whose_hashed_fields_differ(
    partition, truth, key
):
    result = lk.link_pseudonyms(partition.holders, key)
    quality = lk.linkage_quality(result.links, truth)
    assert quality.false_positives == 0
    hashed, unusable = {}, set()
    for holder, table in partition.holders.items():
        values = table.set_index("record_id")[list(lk.LINK_FIELDS)].map(normalise)
        values = values.apply(tuple, axis=1)
        hashed[holder] = values.to_dict()
        bad = values.duplicated(keep=False) | values.map(lambda v: "" in v)
        unusable |= set(values.index[bad])
    corrupted = set(lk.corrupted_records(partition, lk.LINK_FIELDS)["record_id"])
    found = set(zip(result.links["record_l"], result.links["record_r"], strict=True))
    lost = 0
    for row in truth.itertuples(index=False):
        differ = hashed[row.holder_l][row.record_l] != hashed[row.holder_r][row.record_r]
        should_fail = differ or row.record_l in unusable or row.record_r in unusable
        assert ((row.record_l, row.record_r) in found) == (not should_fail)
        if should_fail:
            lost += 1
            assert row.record_l in corrupted or row.record_r in corrupted
    assert lost == quality.false_negatives > 0


def test_pseudonyms_need_the_key_and_hide_the_name(partition, key):
    gp = partition.holders["gp"].head(50)
    same = lk.keyed_pseudonyms(gp, key)
    assert same.equals(lk.keyed_pseudonyms(gp, key))
    other = lk.keyed_pseudonyms(gp, secrets.token_bytes(32))
    assert not set(same.dropna()) & set(other.dropna())
    text = " ".join(same.dropna())
    # pseudonyms are hexadecimal: look for the names that contain a letter beyond "f"
    names = [n for n in gp["surname"].dropna() if set(n) - set("abcdef0123456789 ")]
    assert names and not any(n in text for n in names)


def test_splink_on_fieldwise_pseudonyms_beats_exact_pseudonyms(partition, truth, key):
    fields = {h: lk.pseudonymise_fields(t, key) for h, t in partition.holders.items()}
    assert not set(fields["gp"]["surname"].dropna()) & set(partition.holders["gp"]["surname"])
    fuzzy = lk.link_splink(fields, fuzzy=False, count_comparisons=False)
    exact = lk.link_pseudonyms(partition.holders, key)
    quality = lk.linkage_quality(fuzzy.links, truth)
    assert quality.precision >= 0.98
    assert quality.recall > lk.linkage_quality(exact.links, truth).recall + 0.05


def test_bloom_linkage_tolerates_errors(partition, truth, key):
    encoder = BloomEncoder.with_random_key()
    result = lk.link_bloom(partition.holders, encoder, threshold=0.8)
    quality = lk.linkage_quality(result.links, truth)
    exact = lk.linkage_quality(lk.link_pseudonyms(partition.holders, key).links, truth)
    assert quality.precision >= 0.97
    assert quality.recall >= 0.95
    assert quality.recall > exact.recall
    # locality-sensitive blocking compares a small share of all pairs
    sizes = [len(t) for t in partition.holders.values()]
    all_pairs = sizes[0] * sizes[1] + sizes[0] * sizes[2] + sizes[1] * sizes[2]
    assert result.comparisons < 0.01 * all_pairs
    strict = lk.link_bloom(partition.holders, encoder, threshold=0.99)
    assert lk.linkage_quality(strict.links, truth).recall < quality.recall


def test_linked_view_on_the_truth_gives_everyone_in_all_three(partition, truth):
    view = lk.linked_view(partition.holders, truth)
    held = partition.truth.groupby("person_id")["holder"].nunique()
    assert len(view) == int((held == 3).sum())
    gp = partition.truth.set_index("record_id")["person_id"]
    people = partition.people.set_index("person_id")
    person = gp.loc[view["gp_record"]].to_numpy()
    assert (view["outcome"].to_numpy() == people.loc[person, "outcome"].to_numpy()).all()
    assert (view["statin"].to_numpy() == people.loc[person, "statin"].to_numpy()).all()


# ------------------------------------------------------------------------------ bad input

SECRET_NAME = "zqxwvname"
SECRET_ID = "RID9876543"


def tiny():
    table = pd.DataFrame(
        {
            "record_id": [SECRET_ID, "B"],
            "first_name": [SECRET_NAME, "anna"],
            "surname": ["jansen", "visser"],
            "date_of_birth": ["1970-01-02", "1980-03-04"],
            "postcode": ["1234", "5678"],
            "sex": ["F", "F"],
        }
    )
    return {"gp": table, "pharmacy": table.copy()}


def bad_inputs():
    missing = tiny()
    missing["pharmacy"] = missing["pharmacy"].drop(columns="surname")
    empty = tiny()
    empty["pharmacy"] = empty["pharmacy"].iloc[:0]
    repeated = tiny()
    repeated["gp"] = pd.concat([repeated["gp"], repeated["gp"].iloc[:1]])
    key = secrets.token_bytes(32)
    encoder = BloomEncoder.with_random_key()
    return [
        (lambda: lk.link_splink(missing), KeyError, "lacks the column"),
        (lambda: lk.link_pseudonyms(missing, key), KeyError, "lacks the column"),
        (lambda: lk.link_bloom(missing, encoder), KeyError, "lacks the column"),
        (lambda: lk.link_splink(empty), ValueError, "is empty"),
        (lambda: lk.link_bloom(empty, encoder), ValueError, "is empty"),
        (lambda: lk.link_pseudonyms(repeated, key), ValueError, "repeated record_id"),
        (lambda: lk.link_splink(repeated), ValueError, "repeated record_id"),
        (lambda: lk.link_splink(tiny(), threshold=0), ValueError, "threshold"),
        (lambda: lk.link_splink(tiny(), threshold=1.5), ValueError, "threshold"),
        (lambda: lk.link_bloom(tiny(), encoder, threshold=-0.1), ValueError, "threshold"),
        (lambda: lk.link_bloom(tiny(), encoder, threshold=np.nan), TypeError, "threshold"),
        (lambda: lk.link_splink(tiny(), threshold=True), TypeError, "threshold"),
        (lambda: lk.link_pseudonyms(tiny(), b"short"), ValueError, "at least 16 bytes"),
        (lambda: lk.link_bloom(tiny(), BloomEncoder()), ValueError, "no key"),
        (lambda: lk.link_splink({"gp": tiny()["gp"]}), ValueError, "at least two holders"),
        (lambda: lk.linkage_quality(pd.DataFrame({"a": [1]}), pairs([])), KeyError, "lacks"),
        (lambda: lk.make_vertical_partition(5), ValueError, "n must be"),
        (lambda: lk.make_vertical_partition(100, noise=-1), ValueError, "noise"),
        (
            lambda: lk.make_vertical_partition(100, coverage={"gp": 1.0}),
            ValueError,
            "coverage",
        ),
    ]


@pytest.mark.parametrize("case", range(len(bad_inputs())))
def test_bad_input_is_named_and_carries_no_data_value(case):
    call, error, words = bad_inputs()[case]
    with pytest.raises(error, match=words) as raised:
        call()
    message = str(raised.value)
    for value in (SECRET_NAME, SECRET_ID, "jansen", "1970", "1234"):
        assert value not in message
