"""Tests for healthdatalab.metadata: DCAT graph, SHACL validation and the FHIR mapping."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pydantic
import pytest
from fhir.resources.bundle import Bundle
from fhir.resources.observation import Observation
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib import Graph, Literal, URIRef
from rdflib import namespace as ns

from healthdatalab import metadata as md
from healthdatalab.cohort import DIAGNOSES, generate_cohort

DATASET = URIRef("https://fdp.hospital-a.example/dataset/cardio-cohort")


def _description(**changes) -> md.DatasetDescription:
    fields = dict(
        dataset_iri=str(DATASET),
        title="Cardiovascular cohort",
        description="Synthetic patients with a five-year cardiovascular outcome.",
        publisher_iri="https://hospital-a.example/",
        publisher_name="Hospital A",
        license_iri="https://hospital-a.example/data-use-conditions/v1",
        issued=dt.date(2026, 11, 23),
        keywords=["cardiovascular", "diabetes"],
        contact_name="Research data desk",
        contact_email="datadesk@hospital-a.example",
        access_rights="NON_PUBLIC",
        access_url="https://fdp.hospital-a.example/access-request",
    )
    fields.update(changes)
    return md.DatasetDescription(**fields)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return md.dataset_graph(_description())


def _copy(graph: Graph) -> Graph:
    copy = Graph()
    for triple in graph:
        copy.add(triple)
    return copy


REQUIRED_DATASET = sorted(md.required_properties()[ns.DCAT.Dataset])


# --------------------------------------------------------------------------- the graph


def test_graph_has_four_layers_with_parent_links_and_conforms(graph):
    fdps = list(graph.subjects(ns.RDF.type, md.FDPO.FAIRDataPoint))
    catalogues = list(graph.subjects(ns.RDF.type, ns.DCAT.Catalog))
    datasets = list(graph.subjects(ns.RDF.type, ns.DCAT.Dataset))
    distributions = list(graph.subjects(ns.RDF.type, ns.DCAT.Distribution))
    assert (len(fdps), len(catalogues), datasets, len(distributions)) == (1, 1, [DATASET], 1)
    chain = [fdps[0], catalogues[0], DATASET, distributions[0]]
    for parent, child in zip(chain, chain[1:], strict=False):
        assert (child, ns.DCTERMS.isPartOf, parent) in graph
        assert (parent, md.LDP.contains, child) in graph
    assert (catalogues[0], ns.DCAT.dataset, DATASET) in graph
    assert (DATASET, ns.DCAT.distribution, distributions[0]) in graph
    assert graph.value(DATASET, ns.DCTERMS.accessRights) == md.ACCESS_RIGHTS["NON_PUBLIC"]
    assert graph.value(DATASET, ns.DCAT.theme) == md.HEALTH_THEME
    conforms, report = md.validate(graph)
    assert conforms, report
    assert "Conforms: True" in report
    assert md.violations(graph).empty


def test_turtle_round_trip_keeps_every_triple(graph):
    text = graph.serialize(format="turtle")
    assert "dcat:Dataset" in text and "mailto:datadesk@hospital-a.example" in text
    again = Graph().parse(data=text, format="turtle")
    assert len(again) == len(graph)
    assert md.validate(again).conforms


def test_required_properties_read_from_the_shapes():
    required = md.required_properties()
    assert required[ns.DCAT.Distribution] == {
        ns.DCAT.accessURL, ns.DCAT.mediaType, ns.DCTERMS.license
    }
    assert required[ns.FOAF.Agent] == {ns.FOAF.name}
    assert {ns.DCTERMS.accessRights, ns.DCAT.contactPoint, ns.DCTERMS.issued, md.DCAT_VERSION,
            ns.DCTERMS.isPartOf, ns.DCTERMS.title, ns.DCTERMS.description
            } <= required[ns.DCAT.Dataset]
    assert ns.DCTERMS.license not in required[ns.DCAT.Dataset]
    assert ns.DCAT.dataset in required[ns.DCAT.Catalog]


def test_byte_size_is_written_when_given():
    graph = md.dataset_graph(_description(byte_size=1234))
    assert [int(size) for size in graph.objects(None, ns.DCAT.byteSize)] == [1234]


# --------------------------------------------------------------------------- SHACL must fail


@pytest.mark.parametrize("prop", REQUIRED_DATASET, ids=lambda p: p.split("/")[-1].split("#")[-1])
def test_graph_missing_a_required_property_fails(graph, prop):
    broken = _copy(graph)
    broken.remove((DATASET, prop, None))
    conforms, report = md.validate(broken)
    assert not conforms
    assert "Conforms: False" in report
    table = md.violations(broken)
    assert len(table) == 1
    name = md.prefixed(prop)
    assert table.loc[0, "path"] == name
    assert name in table.loc[0, "message"]


def test_licence_dates_contact_and_format_follow_dcat_ap(graph):
    distribution = graph.value(DATASET, ns.DCAT.distribution)
    assert graph.value(DATASET, ns.DCTERMS.license) is None
    assert graph.value(distribution, ns.DCTERMS.license) is not None
    assert graph.value(DATASET, ns.DCTERMS.issued).datatype == ns.XSD.dateTime
    contact = graph.value(DATASET, ns.DCAT.contactPoint)
    assert isinstance(contact, URIRef) and (contact, ns.RDF.type, md.VCARD.Kind) in graph
    assert graph.value(distribution, ns.DCTERMS.format) == md.FILE_TYPES["text/csv"]
    assert str(graph.value(DATASET, md.DCAT_VERSION)) == "1.0"


def test_diagnosis_codes_are_listed_for_search():
    graph = md.dataset_graph(_description(diagnosis_codes=["I10", "E11", "E11"]))
    codes = {str(graph.value(c, ns.SKOS.notation))
             for c in graph.objects(DATASET, md.HEALTHDCATAP.hasCodeValues)}
    assert codes == {"E11", "I10"}
    assert graph.value(DATASET, md.HEALTHDCATAP.hasCodingSystem) == md.ICD10_SYSTEM
    assert md.validate(graph).conforms


def test_a_theme_outside_the_eu_vocabulary_fails(graph):
    other = _copy(graph)
    other.set((DATASET, ns.DCAT.theme, URIRef("https://example.org/themes/health")))
    table = md.violations(other)
    assert table["path"].tolist() == ["dcat:theme"]
    assert "EU data-theme" in table.loc[0, "message"]


def test_missing_licence_is_named_in_the_report(graph):
    broken = _copy(graph)
    broken.remove((None, ns.DCTERMS.license, None))
    conforms, report = md.validate(broken)
    assert conforms is False
    assert "license" in report and "MinCountConstraintComponent" in report


@settings(max_examples=25, deadline=None)
@given(st.sets(st.sampled_from(REQUIRED_DATASET)))
def test_violations_name_exactly_the_removed_properties(removed):
    broken = md.dataset_graph(_description())
    for prop in removed:
        broken.remove((DATASET, prop, None))
    conforms, _ = md.validate(broken)
    assert conforms == (not removed)
    paths = set(md.violations(broken)["path"])
    assert paths == {md.prefixed(p) for p in removed}


def test_wrong_types_in_the_graph_fail(graph):
    as_text = _copy(graph)
    as_text.set((DATASET, ns.DCTERMS.issued, Literal("23 November 2026")))
    assert set(md.violations(as_text)["path"]) == {"dct:issued"}

    date_only = _copy(graph)
    date_only.set((DATASET, ns.DCTERMS.issued, Literal("2026-11-23", datatype=ns.XSD.date)))
    assert set(md.violations(date_only)["path"]) == {"dct:issued"}

    unknown_rights = _copy(graph)
    unknown_rights.set((DATASET, ns.DCTERMS.accessRights, URIRef("https://example.org/open-ish")))
    assert set(md.violations(unknown_rights)["path"]) == {"dct:accessRights"}

    no_language = _copy(graph)
    no_language.set((DATASET, ns.DCTERMS.title, Literal("Cardiovascular cohort")))
    assert set(md.violations(no_language)["path"]) == {"dct:title"}

    licence_as_text = _copy(graph)
    distribution = graph.value(DATASET, ns.DCAT.distribution)
    licence_as_text.set((distribution, ns.DCTERMS.license, Literal("ask us")))
    assert set(md.violations(licence_as_text)["path"]) == {"dct:license"}


def test_personal_mailbox_in_the_graph_fails(graph):
    personal = _copy(graph)
    contact = personal.value(DATASET, ns.DCAT.contactPoint)
    personal.set((contact, md.VCARD.hasEmail, URIRef("mailto:j.jansen@hospital-a.example")))
    table = md.violations(personal)
    # The dataset's contact point fails its node shape, and the detail says why.
    assert dict(zip(table["path"], table["focus"], strict=True)) == {
        "dcat:contactPoint": str(DATASET),
        "vcard:hasEmail": f"{DATASET}#contact-point",
    }


def test_catalogue_without_a_dataset_fails(graph):
    lonely = _copy(graph)
    lonely.remove((None, ns.DCAT.dataset, None))
    assert set(md.violations(lonely)["path"]) == {"dcat:dataset"}


def test_validate_rejects_what_is_not_a_graph(graph):
    with pytest.raises(TypeError, match="rdflib Graph"):
        md.validate(graph.serialize(format="turtle"))
    with pytest.raises(ValueError, match="empty"):
        md.validate(Graph())
    with pytest.raises(TypeError, match="shapes"):
        md.validate(graph, shapes="shapes.ttl")


# --------------------------------------------------------------------------- bad descriptions


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"issued": "2026-11-23"}, TypeError, "datetime.date"),
        ({"issued": dt.datetime(2026, 11, 23, 9)}, ValueError, "timezone-aware"),
        ({"diagnosis_codes": "E11"}, TypeError, "list of ICD-10 codes"),
        ({"diagnosis_codes": ["diabetes"]}, ValueError, "ICD-10 code"),
        ({"version": ""}, ValueError, "version is empty"),
        ({"keywords": "cardiovascular"}, TypeError, "list of strings"),
        ({"keywords": []}, ValueError, "keywords is empty"),
        ({"title": "  "}, ValueError, "title is empty"),
        ({"title": 42}, TypeError, "title must be a string"),
        ({"license_iri": "CC BY 4.0"}, ValueError, "license_iri must be an absolute IRI"),
        ({"access_rights": "OPEN"}, ValueError, "access_rights must be one of"),
        ({"contact_email": "j.jansen@hospital-a.example"}, ValueError, "looks personal"),
        ({"contact_email": "datadesk"}, ValueError, "not an e-mail address"),
        ({"media_type": "CSV"}, ValueError, "IANA media type"),
        ({"byte_size": -1}, ValueError, "byte_size"),
        ({"themes": ["health"]}, ValueError, "absolute IRI"),
        ({"language": "English"}, ValueError, "language"),
    ],
)
def test_bad_description_raises_a_clear_error(changes, error, match):
    with pytest.raises(error, match=match):
        _description(**changes)


def test_dataset_graph_needs_a_description():
    with pytest.raises(TypeError, match="DatasetDescription"):
        md.dataset_graph({"title": "Cardiovascular cohort"})


def test_role_mailboxes_pass():
    for mailbox in md.ROLE_MAILBOXES:
        address = f"{mailbox}@hospital-a.example"
        assert md.check_role_address(address) == address


# --------------------------------------------------------------------------- HL7 FHIR


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return generate_cohort(20, seed=7)


def test_bundle_of_a_cohort_row_validates(cohort):
    row = cohort.iloc[0]
    bundle = md.cohort_row_to_fhir(row, displays=DIAGNOSES)
    types = [entry.resource.get_resource_type() for entry in bundle.entry]
    assert types == ["Patient", "Observation", "Observation", "Observation", "Condition"]
    # The library checks the serialised document again on the way back in.
    again = Bundle.model_validate_json(bundle.model_dump_json(exclude_none=True))
    assert again.model_dump(exclude_none=True) == bundle.model_dump(exclude_none=True)
    for entry in bundle.entry:
        assert entry.fullUrl.endswith(f"{entry.resource.get_resource_type()}/{entry.resource.id}")


def test_observations_say_when_they_hold(cohort):
    observations = md.fhir_observations(cohort.iloc[0])
    assert {str(o.effectiveDateTime) for o in observations} == {"2026-01-01"}
    chosen = md.fhir_observations(cohort.iloc[0], effective=dt.date(2025, 6, 1))
    assert {str(o.effectiveDateTime) for o in chosen} == {"2025-06-01"}
    with pytest.raises(TypeError, match="effective must be a datetime.date"):
        md.fhir_observations(cohort.iloc[0], effective="2025-06-01")


def test_patient_carries_no_direct_identifiers(cohort):
    row = cohort.iloc[1]
    patient = md.fhir_patient(row)
    text = patient.model_dump_json()
    for direct in ("bsn", "name", "street", "city", "postcode"):
        assert str(row[direct]) not in text
    assert patient.id == row["patient_id"]
    assert patient.gender == {"F": "female", "M": "male"}[row["sex"]]
    assert patient.birthDate == str(row["date_of_birth"].year)
    full = md.fhir_patient(row, birth_date="full")
    assert str(full.birthDate) == row["date_of_birth"].date().isoformat()


def test_observations_keep_codes_units_and_values(cohort):
    row = cohort.iloc[2]
    observations = md.fhir_observations(row)
    by_code = {o.code.coding[0].code: o for o in observations}
    assert set(by_code) == {"39156-5", "8480-6", "59261-8"}
    assert float(by_code["39156-5"].valueQuantity.value) == pytest.approx(row["bmi"])
    assert float(by_code["8480-6"].valueQuantity.value) == pytest.approx(row["systolic_bp"])
    assert by_code["59261-8"].valueQuantity.code == "mmol/mol"
    assert all(o.subject.reference == f"Patient/{row['patient_id']}" for o in observations)
    assert all(o.code.coding[0].system == "http://loinc.org" for o in observations)


def test_condition_is_coded_with_icd10(cohort):
    row = cohort.iloc[3]
    condition = md.fhir_condition(row, DIAGNOSES)
    coding = condition.code.coding[0]
    assert (coding.system, coding.code) == ("http://hl7.org/fhir/sid/icd-10", row["diagnosis"])
    assert coding.display == DIAGNOSES[row["diagnosis"]]


def test_fhir_library_rejects_a_resource_without_status(cohort):
    observation = md.fhir_observations(cohort.iloc[0])[0]
    document = json.loads(observation.model_dump_json(exclude_none=True))
    del document["status"]
    with pytest.raises(pydantic.ValidationError, match="status"):
        Observation.model_validate(document)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"sex": "X"}, ValueError, "sex must be 'F' or 'M'"),
        ({"bmi": "23.1"}, TypeError, "bmi must be a number"),
        ({"bmi": float("nan")}, ValueError, "bmi"),
        ({"systolic_bp": 900.0}, ValueError, "systolic_bp"),
        ({"date_of_birth": "1958-10-28"}, TypeError, "date_of_birth"),
        ({"date_of_birth": pd.NaT}, ValueError, "date_of_birth is missing"),
        ({"diagnosis": "diabetes"}, ValueError, "ICD-10"),
        ({"patient_id": "P 1"}, ValueError, "patient_id"),
    ],
)
def test_bad_record_raises_a_clear_error(cohort, changes, error, match):
    row = cohort.iloc[0].to_dict()
    row.update(changes)
    with pytest.raises(error, match=match):
        md.cohort_row_to_fhir(row)


def test_missing_field_is_named(cohort):
    row = cohort.iloc[0].drop("hba1c")
    with pytest.raises(KeyError, match="hba1c"):
        md.cohort_row_to_fhir(row)
    with pytest.raises(TypeError, match="one cohort record"):
        md.cohort_row_to_fhir(cohort)  # a whole table is not a record
    with pytest.raises(ValueError, match="birth_date"):
        md.fhir_patient(cohort.iloc[0], birth_date="month")


@settings(max_examples=30, deadline=None)
@given(
    sex=st.sampled_from(["F", "M"]),
    born=st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2008, 12, 31)),
    bmi=st.floats(min_value=15, max_value=60, allow_nan=False),
    sbp=st.floats(min_value=80, max_value=220, allow_nan=False),
    hba1c=st.floats(min_value=20, max_value=150, allow_nan=False),
    diagnosis=st.sampled_from(sorted(DIAGNOSES)),
)
def test_any_plausible_record_maps_to_a_valid_bundle(sex, born, bmi, sbp, hba1c, diagnosis):
    row = {"patient_id": "P0000042", "sex": sex, "date_of_birth": pd.Timestamp(born),
           "bmi": bmi, "systolic_bp": sbp, "hba1c": hba1c, "diagnosis": diagnosis}
    bundle = md.cohort_row_to_fhir(row, birth_date="full")
    again = Bundle.model_validate_json(bundle.model_dump_json(exclude_none=True))
    patient = again.entry[0].resource
    assert str(patient.birthDate) == born.isoformat()
    values = [float(e.resource.valueQuantity.value) for e in again.entry[1:4]]
    assert values == pytest.approx([bmi, sbp, hba1c])
    assert again.entry[4].resource.code.coding[0].code == diagnosis
