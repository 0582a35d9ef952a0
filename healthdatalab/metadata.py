"""Machine-readable descriptions of a data set, checked by machine: DCAT, SHACL and HL7 FHIR.

Three layers describe one data set, as in a FAIR Data Point: a **catalogue** lists data sets,
a **dataset** says what the data are, who publishes them, under which licence and with which
access rights, and a **distribution** says where and in which format the data can be obtained.
They are written as an RDF graph with the W3C Data Catalog Vocabulary (DCAT) and DCMI terms,
which is what FAIR Data Points and DCAT-AP catalogues exchange.

:data:`SHAPES_TTL` holds SHACL shapes (in Turtle) that state which properties each layer must
have; :func:`validate` checks a graph against them with pyshacl and returns ``(conforms,
report)``. The shapes are a small teaching profile, stricter than plain DCAT on the points a
health data catalogue cares about (licence, access rights, a role address as contact point);
they are not the DCAT-AP or HealthDCAT-AP shapes. The graph follows DCAT-AP where the
profiles place a property (the licence on the distribution, dates as ``xsd:dateTime``, a
contact point that is a ``vcard:Kind`` with its own IRI, ``dct:format`` beside the media type)
and has the parts a FAIR Data Point needs (``dcat:version``, ``dct:isPartOf`` parent links and
an FDP root that contains the catalogue); :mod:`healthdatalab.fdp` publishes a complete one.

The second half maps one record of the synthetic cohort to HL7 FHIR resources (a Patient, its
Observations coded with LOINC and UCUM, its Condition coded with ICD-10) with
``fhir.resources``, whose pydantic models reject missing required elements and malformed
values. Only the pseudonymous ``patient_id``, sex and (by default) year of birth go into the
Patient: name, BSN and address never leave the table.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import pandas as pd
import pyshacl
from fhir.resources.bundle import Bundle
from fhir.resources.condition import Condition
from fhir.resources.observation import Observation
from fhir.resources.patient import Patient
from rdflib import BNode, Graph, Namespace, URIRef
from rdflib import Literal as RDFLiteral
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SH, SKOS, XSD

from healthdatalab.cohort import REFERENCE_DATE

#: The W3C vCard ontology (rdflib ships no constant for it).
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")

__all__ = [
    "ACCESS_RIGHTS",
    "DCAT_VERSION",
    "FDPO",
    "FILE_TYPES",
    "HEALTHDCATAP",
    "ICD10_SYSTEM",
    "LDP",
    "HEALTH_THEME",
    "OBSERVATION_CODES",
    "PATIENT_ID_SYSTEM",
    "PREFIXES",
    "ROLE_MAILBOXES",
    "SHAPES_TTL",
    "VCARD",
    "DatasetDescription",
    "Validation",
    "check_role_address",
    "cohort_row_to_fhir",
    "dataset_graph",
    "fhir_condition",
    "fhir_observations",
    "fhir_patient",
    "prefixed",
    "required_properties",
    "shapes_graph",
    "validate",
    "violations",
]

#: Access-rights concepts of the EU Publications Office vocabulary, as DCAT-AP uses them.
ACCESS_RIGHTS: dict[str, URIRef] = {
    name: URIRef(f"http://publications.europa.eu/resource/authority/access-right/{name}")
    for name in ("PUBLIC", "RESTRICTED", "NON_PUBLIC")
}

#: The "Health" concept of the EU data-theme vocabulary.
HEALTH_THEME = URIRef("http://publications.europa.eu/resource/authority/data-theme/HEAL")

#: Mailbox names accepted as a contact point: a role or a team, never a person.
ROLE_MAILBOXES: tuple[str, ...] = (
    "contact", "data-access", "dataaccess", "datadesk", "dpo", "helpdesk", "info", "metadata",
    "privacy", "research", "servicedesk", "support",
)

_IANA = "http://www.iana.org/assignments/media-types/"
_DATA_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
#: EU file-type concepts for the media types the teaching profile knows (dct:format).
FILE_TYPES: dict[str, URIRef] = {
    media: URIRef(f"http://publications.europa.eu/resource/authority/file-type/{code}")
    for media, code in {"text/csv": "CSV", "application/json": "JSON",
                        "application/vnd.apache.parquet": "PARQUET", "text/turtle": "RDF_TURTLE",
                        "application/ld+json": "JSON_LD"}.items()
}
#: The FAIR Data Point ontology (FDP-O) and the Linked Data Platform vocabulary.
FDPO = Namespace("https://w3id.org/fdp/fdp-o#")
LDP = Namespace("http://www.w3.org/ns/ldp#")
#: HealthDCAT-AP, with the namespace its Release 5 shapes declare (marked there as provisional).
HEALTHDCATAP = Namespace("http://healthdataportal.eu/ns/health#")
#: DCAT 3's dcat:version (rdflib's DCAT namespace predates DCAT 3).
DCAT_VERSION = URIRef("http://www.w3.org/ns/dcat#version")
ICD10_SYSTEM = URIRef("http://hl7.org/fhir/sid/icd-10")

# --------------------------------------------------------------------------- SHACL shapes

# The mailbox names are plain [a-z-] words, so they go into the regex (and the Turtle string)
# without escaping.
_ROLE_PATTERN = "^mailto:(" + "|".join(ROLE_MAILBOXES) + ")@[^@/]+$"
_ACCESS_LIST = " ".join(f"<{iri}>" for iri in ACCESS_RIGHTS.values())

#: The teaching profile in SHACL: which properties a catalogue, dataset, distribution,
#: publisher and contact point must have, with a message that names each one.
SHAPES_TTL = f"""\
@prefix sh:    <http://www.w3.org/ns/shacl#> .
@prefix dcat:  <http://www.w3.org/ns/dcat#> .
@prefix dct:   <http://purl.org/dc/terms/> .
@prefix foaf:  <http://xmlns.com/foaf/0.1/> .
@prefix vcard: <http://www.w3.org/2006/vcard/ns#> .
@prefix rdf:   <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix xsd:   <http://www.w3.org/2001/XMLSchema#> .
@prefix hdl:   <https://w3id.org/healthdatalab/shapes#> .

hdl:CatalogShape a sh:NodeShape ;
  sh:targetClass dcat:Catalog ;
  sh:property [ sh:path dct:title ; sh:minCount 1 ; sh:datatype rdf:langString ;
                sh:message "a catalogue needs a title with a language tag (dct:title)" ] ,
              [ sh:path dct:description ; sh:minCount 1 ; sh:datatype rdf:langString ;
                sh:message "a catalogue needs a description (dct:description)" ] ,
              [ sh:path dct:publisher ; sh:minCount 1 ; sh:class foaf:Agent ;
                sh:message "a catalogue needs a publisher that is a foaf:Agent (dct:publisher)" ] ,
              [ sh:path dcat:dataset ; sh:minCount 1 ; sh:class dcat:Dataset ;
                sh:message "a catalogue must list at least one dcat:Dataset (dcat:dataset)" ] .

hdl:DatasetShape a sh:NodeShape ;
  sh:targetClass dcat:Dataset ;
  sh:property [ sh:path dct:identifier ; sh:minCount 1 ; sh:maxCount 1 ; sh:nodeKind sh:Literal ;
                sh:message "a dataset needs exactly one identifier (dct:identifier)" ] ,
              [ sh:path dct:title ; sh:minCount 1 ; sh:datatype rdf:langString ;
                sh:uniqueLang true ;
                sh:message "a dataset needs a title with a language tag (dct:title)" ] ,
              [ sh:path dct:description ; sh:minCount 1 ; sh:datatype rdf:langString ;
                sh:message "a dataset needs a description with a language tag (dct:description)" ] ,
              [ sh:path dct:publisher ; sh:minCount 1 ; sh:maxCount 1 ; sh:class foaf:Agent ;
                sh:message "a dataset needs one publisher that is a foaf:Agent (dct:publisher)" ] ,
              [ sh:path dct:issued ; sh:minCount 1 ; sh:maxCount 1 ; sh:datatype xsd:dateTime ;
                sh:message "a dataset needs one release time as xsd:dateTime (dct:issued)" ] ,
              [ sh:path dcat:version ; sh:minCount 1 ; sh:maxCount 1 ;
                sh:message "a dataset needs one version (dcat:version)" ] ,
              [ sh:path dct:isPartOf ; sh:minCount 1 ; sh:class dcat:Catalog ;
                sh:message "a dataset must name the catalogue it belongs to (dct:isPartOf)" ] ,
              [ sh:path dcat:theme ; sh:minCount 1 ; sh:nodeKind sh:IRI ;
                sh:pattern "^{_DATA_THEME}[A-Z]+$" ;
                sh:message "a dataset needs an EU data-theme concept (dcat:theme)" ] ,
              [ sh:path dcat:keyword ; sh:minCount 1 ; sh:datatype rdf:langString ;
                sh:message "a dataset needs keywords with a language tag (dcat:keyword)" ] ,
              [ sh:path dcat:contactPoint ; sh:minCount 1 ; sh:nodeKind sh:IRI ;
                sh:class vcard:Kind ; sh:node hdl:ContactPointShape ;
                sh:message "a dataset needs a vcard:Kind IRI as contact (dcat:contactPoint)" ] ,
              [ sh:path dct:accessRights ; sh:minCount 1 ; sh:maxCount 1 ;
                sh:in ( {_ACCESS_LIST} ) ;
                sh:message "a dataset needs one access-rights concept (dct:accessRights)" ] ,
              [ sh:path dcat:distribution ; sh:minCount 1 ; sh:class dcat:Distribution ;
                sh:message "a dataset needs at least one dcat:Distribution (dcat:distribution)" ] .

hdl:DistributionShape a sh:NodeShape ;
  sh:targetClass dcat:Distribution ;
  sh:property [ sh:path dcat:accessURL ; sh:minCount 1 ; sh:nodeKind sh:IRI ;
                sh:message "a distribution needs an access URL (dcat:accessURL)" ] ,
              [ sh:path dcat:mediaType ; sh:minCount 1 ; sh:maxCount 1 ; sh:nodeKind sh:IRI ;
                sh:message "a distribution needs one IANA media type (dcat:mediaType)" ] ,
              [ sh:path dct:license ; sh:minCount 1 ; sh:maxCount 1 ; sh:nodeKind sh:IRI ;
                sh:message "a distribution needs one licence, given as an IRI (dct:license)" ] .

hdl:AgentShape a sh:NodeShape ;
  sh:targetClass foaf:Agent ;
  sh:property [ sh:path foaf:name ; sh:minCount 1 ;
                sh:message "a publisher needs a name (foaf:name)" ] .

hdl:ContactPointShape a sh:NodeShape ;
  sh:property [ sh:path vcard:fn ; sh:minCount 1 ;
                sh:message "a contact point needs a name for the team (vcard:fn)" ] ,
              [ sh:path vcard:hasEmail ; sh:minCount 1 ; sh:nodeKind sh:IRI ;
                sh:pattern "{_ROLE_PATTERN}" ;
                sh:message "mailbox must start with a listed role name (vcard:hasEmail)" ] .
"""

@functools.lru_cache(maxsize=1)
def _parsed_shapes() -> Graph:
    return Graph().parse(data=SHAPES_TTL, format="turtle")


def shapes_graph() -> Graph:
    """The SHACL shapes of :data:`SHAPES_TTL`, parsed (a fresh copy on every call)."""
    copy = Graph()
    for triple in _parsed_shapes():
        copy.add(triple)
    return copy


def required_properties(shapes: Graph | None = None) -> dict[URIRef, set[URIRef]]:
    """For every target class of the shapes, the properties it must have (``sh:minCount`` >= 1)."""
    shapes = shapes_graph() if shapes is None else shapes
    if not isinstance(shapes, Graph):
        raise TypeError(f"shapes must be an rdflib Graph, got {type(shapes).__name__}")
    required: dict[URIRef, set[URIRef]] = {}
    rows = shapes.query(
        """SELECT ?cls ?path WHERE {
             ?shape sh:targetClass ?cls ; sh:property ?p .
             ?p sh:path ?path ; sh:minCount ?min .
             FILTER (?min >= 1) }""",
        initNs={"sh": SH},
    )
    for cls, path in rows:
        required.setdefault(cls, set()).add(path)
    return required


# --------------------------------------------------------------------------- input checks

_IRI = re.compile(r"^(https?://[^\s/$.?#][^\s]*|urn:[a-z0-9][a-z0-9-]{0,31}:\S+)$", re.I)
_EMAIL = re.compile(r"^([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")
_MEDIA_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise ValueError(f"{name} is empty: a catalogue cannot show an empty {name}")
    return value.strip()


def _iri(name: str, value: object) -> str:
    value = _text(name, value)
    if not _IRI.match(value):
        raise ValueError(f"{name} must be an absolute IRI (https://... or urn:...), got {value!r}")
    return value


def check_role_address(email: object) -> str:
    """Return ``email`` if it is a role mailbox (``datadesk@...``), else raise ValueError.

    A catalogue entry outlives the people who made it, and a personal address in public
    metadata is personal data; a team mailbox is neither.
    """
    email = _text("contact e-mail", email)
    match = _EMAIL.match(email)
    if not match:
        raise ValueError(f"contact e-mail {email!r} is not an e-mail address")
    if match.group(1).lower() not in ROLE_MAILBOXES:
        raise ValueError(
            f"contact e-mail {email!r} looks personal; use a role mailbox that survives staff "
            f"changes, one of {', '.join(ROLE_MAILBOXES)} (for example datadesk@{match.group(2)})"
        )
    return email


@dataclass(frozen=True)
class DatasetDescription:
    """What a catalogue needs to know about one data set; checked when it is made.

    IRIs are absolute (``https://...`` or ``urn:...``); ``issued`` is a ``datetime.date``
    (written as midnight UTC) or a timezone-aware ``datetime.datetime``; ``access_rights`` is
    one of :data:`ACCESS_RIGHTS`; ``contact_email`` is a role mailbox; ``diagnosis_codes`` are
    the ICD-10 codes that occur in the data (all of them, not a selection), so a catalogue can
    answer "which data sets hold patients with this diagnosis?" from the metadata.
    """

    dataset_iri: str
    title: str
    description: str
    publisher_iri: str
    publisher_name: str
    license_iri: str
    issued: dt.date
    keywords: Sequence[str]
    contact_name: str
    contact_email: str
    access_rights: str
    access_url: str
    media_type: str = "text/csv"
    catalogue_iri: str = "https://fdp.hospital-a.example/catalogue/research-data"
    catalogue_title: str = "Research data of Hospital A"
    catalogue_description: str = "Data sets that Hospital A makes available for research."
    themes: Sequence[str] = field(default=(str(HEALTH_THEME),))
    byte_size: int | None = None
    language: str = "en"
    version: str = "1.0"
    fdp_iri: str = "https://fdp.hospital-a.example/"
    diagnosis_codes: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("dataset_iri", "publisher_iri", "license_iri", "access_url",
                     "catalogue_iri", "fdp_iri"):
            _iri(name, getattr(self, name))
        for name in ("title", "description", "publisher_name", "contact_name",
                     "catalogue_title", "catalogue_description", "version"):
            _text(name, getattr(self, name))
        if isinstance(self.issued, dt.datetime):
            if self.issued.tzinfo is None:
                raise ValueError("issued must be timezone-aware when it is a datetime "
                                 "(for example datetime(2026, 11, 23, tzinfo=datetime.UTC))")
        elif not isinstance(self.issued, dt.date):
            raise TypeError(f"issued must be a datetime.date or datetime.datetime, got "
                            f"{type(self.issued).__name__} {self.issued!r}")
        if isinstance(self.diagnosis_codes, str) or not isinstance(self.diagnosis_codes,
                                                                     Sequence):
            raise TypeError("diagnosis_codes must be a list of ICD-10 codes such as ['E11']")
        for code in self.diagnosis_codes:
            if not isinstance(code, str) or not _ICD10_CODE.match(code):
                raise ValueError(f"each of diagnosis_codes must be an ICD-10 code such as "
                                 f"'E11', got {code!r}")
        for name in ("keywords", "themes"):
            values = getattr(self, name)
            if isinstance(values, str) or not isinstance(values, Sequence):
                raise TypeError(f"{name} must be a list of strings, not "
                                f"{type(values).__name__} {values!r}")
            if not values:
                raise ValueError(f"{name} is empty: give at least one")
            check = _iri if name == "themes" else _text
            for value in values:
                check(f"each of {name}", value)
        check_role_address(self.contact_email)
        if self.access_rights not in ACCESS_RIGHTS:
            raise ValueError(f"access_rights must be one of {sorted(ACCESS_RIGHTS)}, "
                             f"got {self.access_rights!r}")
        if not isinstance(self.media_type, str) or not _MEDIA_TYPE.match(self.media_type):
            raise ValueError(f"media_type must be an IANA media type such as 'text/csv', "
                             f"got {self.media_type!r}")
        if self.byte_size is not None and (
            isinstance(self.byte_size, bool) or not isinstance(self.byte_size, numbers.Integral)
            or self.byte_size < 0
        ):
            raise ValueError(f"byte_size must be a non-negative integer or None, "
                             f"got {self.byte_size!r}")
        if not re.fullmatch(r"[a-z]{2,3}", str(self.language)):
            raise ValueError(f"language must be a two- or three-letter code such as 'en', "
                             f"got {self.language!r}")


# --------------------------------------------------------------------------- the graph

#: Prefixes bound in every graph this module makes (and handy for SPARQL queries).
PREFIXES = {"dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "vcard": VCARD, "xsd": XSD,
            "fdp-o": FDPO, "ldp": LDP, "skos": SKOS, "healthdcatap": HEALTHDCATAP}


def dataset_graph(description: DatasetDescription) -> Graph:
    """The catalogue, dataset and distribution of ``description`` as one DCAT graph."""
    if not isinstance(description, DatasetDescription):
        raise TypeError(f"expected a DatasetDescription, got {type(description).__name__}")
    d, lang = description, description.language
    g = Graph()
    for prefix, namespace in PREFIXES.items():
        g.bind(prefix, namespace)

    fdp = URIRef(d.fdp_iri)
    catalogue = URIRef(d.catalogue_iri)
    dataset = URIRef(d.dataset_iri)
    distribution = URIRef(f"{d.dataset_iri.rstrip('/')}/distribution/{d.media_type.split('/')[1]}")
    publisher = URIRef(d.publisher_iri)
    contact = URIRef(f"{d.dataset_iri.rstrip('/')}#contact-point")
    issued = d.issued if isinstance(d.issued, dt.datetime) else dt.datetime.combine(
        d.issued, dt.time(), tzinfo=dt.UTC)
    when = RDFLiteral(issued.isoformat(timespec="seconds"), datatype=XSD.dateTime)
    version = RDFLiteral(d.version)

    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, RDF.type, FOAF.Organization))
    g.add((publisher, FOAF.name, RDFLiteral(d.publisher_name, lang=lang)))

    # The FAIR Data Point that serves the records: it contains the catalogue.
    g.add((fdp, RDF.type, FDPO.FAIRDataPoint))
    g.add((fdp, DCTERMS.title, RDFLiteral(f"FAIR Data Point of {d.publisher_name}", lang=lang)))
    g.add((fdp, DCTERMS.publisher, publisher))
    g.add((fdp, DCAT_VERSION, version))
    g.add((fdp, FDPO.metadataCatalog, catalogue))
    g.add((fdp, LDP.contains, catalogue))

    g.add((catalogue, RDF.type, DCAT.Catalog))
    g.add((catalogue, DCTERMS.title, RDFLiteral(d.catalogue_title, lang=lang)))
    g.add((catalogue, DCTERMS.description, RDFLiteral(d.catalogue_description, lang=lang)))
    g.add((catalogue, DCTERMS.publisher, publisher))
    g.add((catalogue, DCAT_VERSION, version))
    g.add((catalogue, DCTERMS.isPartOf, fdp))
    g.add((catalogue, DCAT.dataset, dataset))
    g.add((catalogue, LDP.contains, dataset))

    g.add((dataset, RDF.type, DCAT.Dataset))
    g.add((dataset, DCTERMS.identifier, RDFLiteral(d.dataset_iri)))
    g.add((dataset, DCTERMS.title, RDFLiteral(d.title, lang=lang)))
    g.add((dataset, DCTERMS.description, RDFLiteral(d.description, lang=lang)))
    g.add((dataset, DCTERMS.publisher, publisher))
    g.add((dataset, DCTERMS.issued, when))
    g.add((dataset, DCAT_VERSION, version))
    g.add((dataset, DCTERMS.isPartOf, catalogue))
    for theme in d.themes:
        g.add((dataset, DCAT.theme, URIRef(theme)))
    for keyword in d.keywords:
        g.add((dataset, DCAT.keyword, RDFLiteral(keyword.strip(), lang=lang)))
    g.add((dataset, DCAT.contactPoint, contact))
    g.add((dataset, DCTERMS.accessRights, ACCESS_RIGHTS[d.access_rights]))
    g.add((dataset, DCAT.distribution, distribution))
    g.add((dataset, LDP.contains, distribution))
    if d.diagnosis_codes:
        g.add((dataset, HEALTHDCATAP.hasCodingSystem, ICD10_SYSTEM))
    for code in sorted(set(d.diagnosis_codes)):
        concept = BNode()
        g.add((dataset, HEALTHDCATAP.hasCodeValues, concept))
        g.add((concept, RDF.type, SKOS.Concept))
        g.add((concept, SKOS.notation, RDFLiteral(code)))
        g.add((concept, SKOS.inScheme, ICD10_SYSTEM))

    g.add((contact, RDF.type, VCARD.Kind))
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, RDFLiteral(d.contact_name, lang=lang)))
    g.add((contact, VCARD.hasEmail, URIRef(f"mailto:{d.contact_email}")))

    # In DCAT-AP the licence is a property of the distribution, not of the data set.
    g.add((distribution, RDF.type, DCAT.Distribution))
    g.add((distribution, DCTERMS.title, RDFLiteral(f"{d.title} ({d.media_type})", lang=lang)))
    g.add((distribution, DCTERMS.isPartOf, dataset))
    g.add((distribution, DCAT_VERSION, version))
    g.add((distribution, DCTERMS.license, URIRef(d.license_iri)))
    g.add((distribution, DCAT.accessURL, URIRef(d.access_url)))
    g.add((distribution, DCAT.mediaType, URIRef(_IANA + d.media_type)))
    if d.media_type in FILE_TYPES:
        g.add((distribution, DCTERMS.format, FILE_TYPES[d.media_type]))
    if d.byte_size is not None:
        g.add((distribution, DCAT.byteSize, RDFLiteral(int(d.byte_size),
                                                       datatype=XSD.nonNegativeInteger)))
    return g


# --------------------------------------------------------------------------- validation


class Validation(NamedTuple):
    """The outcome of :func:`validate`: unpacks as ``conforms, report``."""

    conforms: bool
    report: str


def _run_shacl(graph: Graph, shapes: Graph | None) -> tuple[bool, Graph, str]:
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be an rdflib Graph, got {type(graph).__name__}")
    if len(graph) == 0:
        raise ValueError("the graph is empty: there is nothing to validate")
    shapes = shapes_graph() if shapes is None else shapes
    if not isinstance(shapes, Graph):
        raise TypeError(f"shapes must be an rdflib Graph, got {type(shapes).__name__}")
    conforms, results, text = pyshacl.validate(
        graph, shacl_graph=shapes, inference="none", abort_on_first=False,
        allow_warnings=False, advanced=False,
    )
    return bool(conforms), results, str(text)


def validate(graph: Graph, shapes: Graph | None = None) -> Validation:
    """Check ``graph`` against the SHACL ``shapes`` (default :func:`shapes_graph`).

    Returns ``(conforms, report)``: whether every target node satisfies its shape, and
    pyshacl's text report, which names the focus node, the property path and the message of
    every violation.
    """
    conforms, _, text = _run_shacl(graph, shapes)
    return Validation(conforms, text)


def violations(graph: Graph, shapes: Graph | None = None) -> pd.DataFrame:
    """One row per SHACL violation: ``focus`` node, property ``path`` (prefixed) and ``message``.

    Empty (with those columns) when the graph conforms.
    """
    _, results, _ = _run_shacl(graph, shapes)
    rows = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        path = results.value(result, SH.resultPath)
        rows.append({
            "focus": prefixed(results.value(result, SH.focusNode)),
            "path": prefixed(path) if path is not None else "",
            "message": str(results.value(result, SH.resultMessage) or ""),
        })
    table = pd.DataFrame(rows, columns=["focus", "path", "message"])
    return table.sort_values(["focus", "path"], ignore_index=True)


def prefixed(node: Any) -> str:
    """``dct:license`` for a property of a bound vocabulary, the plain IRI otherwise."""
    if isinstance(node, BNode):
        return "(blank node)"
    text = str(node)
    for prefix, namespace in PREFIXES.items():
        if isinstance(node, URIRef) and text.startswith(str(namespace)):
            return f"{prefix}:{text[len(str(namespace)):]}"
    return text


# --------------------------------------------------------------------------- HL7 FHIR

#: LOINC codes and UCUM units for the cohort's measurements (FHIR Observation.code / value).
OBSERVATION_CODES: dict[str, dict[str, str]] = {
    "bmi": {"loinc": "39156-5", "display": "Body mass index (BMI) [Ratio]",
            "unit": "kg/m2", "category": "vital-signs"},
    "systolic_bp": {"loinc": "8480-6", "display": "Systolic blood pressure",
                    "unit": "mm[Hg]", "category": "vital-signs"},
    "hba1c": {"loinc": "59261-8",
              "display": "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol",
              "unit": "mmol/mol", "category": "laboratory"},
}

#: Where the synthetic patient numbers come from (RFC 6963 reserves ``urn:example``).
PATIENT_ID_SYSTEM = "urn:example:healthdatalab:patient-id"

_LOINC = "http://loinc.org"
_UCUM = "http://unitsofmeasure.org"
_ICD10 = "http://hl7.org/fhir/sid/icd-10"
_OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_GENDER = {"F": "female", "M": "male"}
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ICD10_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")


def _field(row: Mapping[str, Any] | pd.Series, names: Sequence[str]) -> dict[str, Any]:
    if not isinstance(row, Mapping | pd.Series):
        raise TypeError(f"row must be a mapping or a pandas Series (one cohort record), "
                        f"got {type(row).__name__}")
    keys = set(row.keys())
    missing = [n for n in names if n not in keys]
    if missing:
        raise KeyError(f"the record lacks the field(s) {missing}; it has {sorted(map(str, keys))}")
    return {n: row[n] for n in names}


def _patient_id(value: object) -> str:
    if not isinstance(value, str) or not _FHIR_ID.match(value):
        raise ValueError(f"patient_id must be 1-64 letters, digits, '-' or '.', "
                         f"as a FHIR id requires; got {value!r}")
    return value


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value) or not low <= value <= high:
        raise ValueError(f"{name} = {value} is missing or outside the plausible range "
                         f"[{low}, {high}]")
    return value


def fhir_patient(row: Mapping[str, Any] | pd.Series, *,
                 birth_date: Literal["year", "full"] = "year") -> Patient:
    """A FHIR Patient with the pseudonymous id, sex and year (or full date) of birth.

    No name, BSN or address is copied, whatever the row holds. Raises KeyError for a missing
    field, TypeError or ValueError for a malformed one.
    """
    values = _field(row, ["patient_id", "sex", "date_of_birth"])
    patient_id = _patient_id(values["patient_id"])
    sex = values["sex"]
    if sex not in _GENDER:
        raise ValueError(f"sex must be 'F' or 'M', got {sex!r}")
    born = values["date_of_birth"]
    if isinstance(born, str) or not isinstance(born, dt.date | pd.Timestamp):
        raise TypeError(f"date_of_birth must be a date or timestamp, got "
                        f"{type(born).__name__} {born!r}")
    if pd.isna(born):
        raise ValueError("date_of_birth is missing (NaT)")
    if birth_date not in ("year", "full"):
        raise ValueError(f"birth_date must be 'year' or 'full', got {birth_date!r}")
    born = pd.Timestamp(born)
    return Patient(
        id=patient_id,
        identifier=[{"system": PATIENT_ID_SYSTEM, "value": patient_id}],
        gender=_GENDER[sex],
        birthDate=str(born.year) if birth_date == "year" else born.date().isoformat(),
    )


def fhir_observations(row: Mapping[str, Any] | pd.Series, *,
                      effective: dt.date | None = None) -> list[Observation]:
    """One FHIR Observation per measurement (BMI, systolic blood pressure, HbA1c).

    Each is coded with LOINC, has its value in UCUM units, refers to ``Patient/<id>`` and
    states when it holds (``effectiveDateTime``): ``effective``, by default the synthetic
    cohort's reference date, on which its measurements stand.
    """
    when = REFERENCE_DATE.date() if effective is None else effective
    if not isinstance(when, dt.date):
        raise TypeError(f"effective must be a datetime.date, got {type(when).__name__}")
    values = _field(row, ["patient_id", *OBSERVATION_CODES])
    subject = {"reference": f"Patient/{_patient_id(values['patient_id'])}"}
    ranges = {"bmi": (10.0, 80.0), "systolic_bp": (50.0, 300.0), "hba1c": (10.0, 200.0)}
    observations = []
    for column, code in OBSERVATION_CODES.items():
        value = _number(column, values[column], *ranges[column])
        observations.append(Observation(
            id=f"{values['patient_id']}-{column.replace('_', '-')}",
            status="final",
            category=[{"coding": [{"system": _OBS_CATEGORY, "code": code["category"]}]}],
            code={"coding": [{"system": _LOINC, "code": code["loinc"],
                              "display": code["display"]}], "text": column},
            subject=subject,
            effectiveDateTime=when.isoformat(),
            valueQuantity={"value": value, "unit": code["unit"], "system": _UCUM,
                           "code": code["unit"]},
        ))
    return observations


def fhir_condition(row: Mapping[str, Any] | pd.Series,
                   displays: Mapping[str, str] | None = None) -> Condition:
    """The primary diagnosis as a FHIR Condition coded with an ICD-10 category."""
    values = _field(row, ["patient_id", "diagnosis"])
    code = values["diagnosis"]
    if not isinstance(code, str) or not _ICD10_CODE.match(code):
        raise ValueError(f"diagnosis must be an ICD-10 code such as 'E11' or 'E11.9', "
                         f"got {code!r}")
    coding = {"system": _ICD10, "code": code}
    if displays and code in displays:
        coding["display"] = displays[code]
    return Condition(
        id=f"{_patient_id(values['patient_id'])}-diagnosis",
        clinicalStatus={"coding": [{"system": _CONDITION_CLINICAL, "code": "active"}]},
        code={"coding": [coding]},
        subject={"reference": f"Patient/{values['patient_id']}"},
    )


def cohort_row_to_fhir(row: Mapping[str, Any] | pd.Series, *,
                       birth_date: Literal["year", "full"] = "year",
                       displays: Mapping[str, str] | None = None,
                       base_url: str = "https://fhir.hospital-a.example") -> Bundle:
    """A FHIR ``collection`` Bundle: the Patient, its Observations and its Condition.

    Each entry's ``fullUrl`` is ``<base_url>/<type>/<id>``, so the relative references
    (``Patient/P0000001``) resolve inside the Bundle. The Bundle is built through
    ``Bundle.model_validate``, so fhir.resources checks the whole document (required
    elements, cardinalities, data-type formats) once more as one piece.
    """
    base = _iri("base_url", base_url).rstrip("/")
    resources = [fhir_patient(row, birth_date=birth_date), *fhir_observations(row),
                 fhir_condition(row, displays)]
    entries = [
        {"fullUrl": f"{base}/{r.get_resource_type()}/{r.id}",
         "resource": r.model_dump(mode="json", exclude_none=True)}
        for r in resources
    ]
    return Bundle.model_validate({"resourceType": "Bundle", "type": "collection",
                                  "entry": entries})

