"""The playbook's own FAIR Data Point: tables, data dictionaries, metadata and published files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from rdflib import Graph, URIRef
from rdflib import namespace as ns

from healthdatalab import fdp
from healthdatalab.metadata import violations

BASE = "https://fdp.example/playbook/fdp/"
SPDX = fdp.SPDX


@pytest.fixture(scope="module")
def publication(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fdp")
    return folder, fdp.publish(folder, BASE, n=1500)


def test_published_metadata_conform_to_the_projects_shapes(publication):
    _, pub = publication
    conforms, report = fdp.validate_fdp(pub.graph)
    assert conforms, report


def test_every_distribution_matches_its_file(publication):
    folder, pub = publication
    distributions = list(pub.graph.subjects(ns.RDF.type, ns.DCAT.Distribution))
    assert len(distributions) == 3 * len(fdp.DATASETS)
    for dist in distributions:
        url = str(pub.graph.value(dist, ns.DCAT.downloadURL))
        assert url.startswith(BASE)
        data = (folder / url.removeprefix(BASE)).read_bytes()
        checksum = pub.graph.value(pub.graph.value(dist, SPDX.checksum), SPDX.checksumValue)
        assert str(checksum) == hashlib.sha256(data).hexdigest()
        assert int(pub.graph.value(dist, ns.DCAT.byteSize)) == len(data)


def test_hierarchy_has_parent_links_and_containment(publication):
    _, pub = publication
    g = pub.graph
    root = URIRef(BASE)
    assert (root, ns.RDF.type, fdp.FDPO.FAIRDataPoint) in g
    parents = {ns.DCAT.Catalog: fdp.FDPO.FAIRDataPoint, ns.DCAT.Dataset: ns.DCAT.Catalog,
               ns.DCAT.Distribution: ns.DCAT.Dataset}
    for kind, parent_kind in parents.items():
        for node in g.subjects(ns.RDF.type, kind):
            if node == root:
                continue
            parent = g.value(node, ns.DCTERMS.isPartOf)
            assert (parent, ns.RDF.type, parent_kind) in g, node
            assert (parent, fdp.LDP.contains, node) in g, node


def test_licence_is_on_distributions_not_datasets(publication):
    _, pub = publication
    for dataset in pub.graph.subjects(ns.RDF.type, ns.DCAT.Dataset):
        assert pub.graph.value(dataset, ns.DCTERMS.license) is None
    for dist in pub.graph.subjects(ns.RDF.type, ns.DCAT.Distribution):
        assert pub.graph.value(dist, ns.DCTERMS.license) == fdp.LICENCE


def test_files_on_disk_parse_as_turtle_and_json_ld(publication):
    folder, pub = publication
    for name, fmt in (("fdp.ttl", "turtle"), ("fdp.jsonld", "json-ld")):
        graph = Graph().parse(folder / name, format=fmt)
        assert len(graph) == len(pub.graph)
    record = Graph().parse(folder / "dataset" / "synthetic-cohort.ttl", format="turtle")
    assert (URIRef(BASE + "dataset/synthetic-cohort"), ns.RDF.type, ns.DCAT.Dataset) in record
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {m["url"] for m in manifest} == {pub.url(f) for f in pub.files}


def test_removing_a_checksum_or_the_licence_is_reported(publication):
    _, pub = publication
    broken = Graph()
    broken += pub.graph
    dist = URIRef(BASE + "distribution/synthetic-twin-csv")
    broken.remove((dist, SPDX.checksum, None))
    broken.remove((dist, ns.DCTERMS.license, None))
    table = violations(broken, fdp.shapes_graph())
    messages = set(table.loc[table["focus"] == str(dist), "message"])
    assert messages == {
        "a distribution needs a SHA-256 checksum",
        "a distribution needs one licence given as an IRI (dct:license)",
    }


def test_data_dictionary_describes_generalised_columns_as_they_are():
    table = pd.DataFrame({"date_of_birth": [1950, 1955], "diagnosis": ["E11", "I10"],
                          "bmi": [25.1, 30.2]})
    dictionary = fdp.data_dictionary(table).set_index("variable")
    assert dictionary.loc["date_of_birth", "datatype"] == "integer"
    assert "Generalised" in dictionary.loc["date_of_birth", "description"]
    assert dictionary.loc["diagnosis", "code_system"] == "ICD-10"
    assert dictionary.loc["bmi", ["unit", "code"]].tolist() == ["kg/m2", "39156-5"]


def test_data_dictionary_refuses_undocumented_columns():
    with pytest.raises(KeyError, match=r"no data dictionary entry for column\(s\) \['secret'\]"):
        fdp.data_dictionary(pd.DataFrame({"secret": [1]}))
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        fdp.data_dictionary([1, 2])


@pytest.mark.parametrize("bad", ["fdp.example/", "https://fdp.example/x", "", None])
def test_publish_refuses_a_bad_base_url(tmp_path, bad):
    with pytest.raises(ValueError, match="base_url must be an http"):
        fdp.publish(tmp_path, bad, n=50)


def test_graph_refuses_a_naive_issue_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        fdp.fdp_graph({}, [], BASE, dt.datetime(2026, 11, 30))


def test_the_k_anonymous_release_is_5_anonymous_and_derived_from_the_cohort(publication):
    from healthdatalab import risk

    _, pub = publication
    release = pub.tables["k-anonymous-release"]
    assert risk.k_anonymity(release, ["date_of_birth", "sex", "postcode"]) >= 5
    assert "patient_id" not in release and "bsn" not in pub.tables["synthetic-cohort"]
    derived = URIRef(BASE + "dataset/k-anonymous-release")
    assert pub.graph.value(derived, fdp.PROV.wasDerivedFrom) == URIRef(
        BASE + "dataset/synthetic-cohort"
    )


def test_assessment_reports_each_indicator_and_fails_when_metadata_lack_it(publication):
    _, pub = publication
    table = fdp.assess(pub.graph).set_index("indicator")
    assert list(table.index) == list(fdp.RDA_CHECKS)
    assert table.loc["RDA-R1.1-01M", "result"] == "met"
    assert table.loc["RDA-F1-01M", "result"] == "not met"  # site IRIs are not persistent IDs
    assert table.loc["RDA-A2-01M", "result"] == "not machine-checkable"
    stripped = Graph()
    stripped += pub.graph
    stripped.remove((None, ns.DCTERMS.license, None))
    stripped.remove((None, fdp.PROV.wasGeneratedBy, None))
    after = fdp.assess(stripped).set_index("indicator")
    assert after.loc["RDA-R1.1-01M", "result"] == "not met"
    assert after.loc["RDA-R1.2-01M", "result"] == "not met"
    assert after.loc["RDA-R1.1-01M", "evidence"] == "0 of 9"
    with pytest.raises(ValueError, match="no dcat:Dataset"):
        fdp.assess(Graph().parse(data="<urn:x:a> <urn:x:b> <urn:x:c> .", format="turtle"))


@pytest.mark.build
def test_the_built_site_publishes_the_fdp_with_matching_downloads(book):
    site = book.html / "fdp"
    graph = Graph().parse(site / "fdp.ttl", format="turtle")
    assert fdp.validate_fdp(graph).conforms
    base = "https://health-data-sharing.github.io/playbook/fdp/"
    distributions = list(graph.subjects(ns.RDF.type, ns.DCAT.Distribution))
    assert distributions
    for dist in distributions:
        url = str(graph.value(dist, ns.DCAT.downloadURL))
        data = (site / url.removeprefix(base)).read_bytes()
        checksum = graph.value(dist, SPDX.checksum)
        assert str(graph.value(checksum, SPDX.checksumValue)) == hashlib.sha256(data).hexdigest()
        assert int(graph.value(dist, ns.DCAT.byteSize)) == len(data)
    page = (book.html / "fair_principles" / "playbook_fdp.html").read_text(encoding="utf-8")
    assert page.count('href="../fdp/data/') == len(distributions)
    assert not Path(site / ".source-hash").exists()
