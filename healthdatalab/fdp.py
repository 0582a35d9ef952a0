"""The playbook as a FAIR Data Point: synthetic data sets, their data dictionaries and metadata.

:func:`publish` writes, into a folder of the built site, a small FAIR Data Point (FDP) for the
playbook's own synthetic data:

* three data sets made by this package from one seeded cohort: the pseudonymised cohort, its
  k-anonymous release and a synthetic twin, each as CSV and as Parquet;
* a data dictionary per data set (variable, type, unit, code system, description), as CSV and
  as CSV on the Web (CSVW) columns in the metadata;
* the metadata as one RDF graph: FDP -> catalogue -> data sets -> distributions, with DCAT 3,
  DCAT-AP 3.0.1 and HealthDCAT-AP terms, a SHA-256 checksum and byte size for every file,
  provenance (generator, version, seed, the anonymisation steps) in PROV-O, and the parent
  links (``dct:isPartOf``) and containment (``ldp:contains``, ``fdp-o:metadataCatalog``) that an
  FDP needs; written as Turtle and JSON-LD, whole and one file per record.

:func:`shapes_graph` holds the project's own SHACL shapes for this profile and
:func:`validate` checks a graph against them. Nothing here prints; :func:`publish` writes only
into the folder it is given.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, PROV, RDF, RDFS, SKOS, XSD

import healthdatalab
from healthdatalab import anonymise
from healthdatalab.cohort import generate_cohort
from healthdatalab.metadata import ACCESS_RIGHTS, HEALTH_THEME, VCARD, validate
from healthdatalab.synthesis import GaussianCopulaSynthesizer

__all__ = [
    "CODE_SYSTEMS",
    "RDA_CHECKS",
    "assess",
    "COHORT_SEED",
    "DATASETS",
    "DICTIONARY",
    "FDPO",
    "Publication",
    "PublishedFile",
    "build_tables",
    "data_dictionary",
    "fdp_graph",
    "publish",
    "shapes_graph",
    "validate_fdp",
]

FDPO = Namespace("https://w3id.org/fdp/fdp-o#")
LDP = Namespace("http://www.w3.org/ns/ldp#")
CSVW = Namespace("http://www.w3.org/ns/csvw#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
#: HealthDCAT-AP's namespace as its release 5 shapes declare it (marked there as provisional).
HEALTHDCATAP = Namespace("http://healthdataportal.eu/ns/health#")
SCHEMA = Namespace("http://schema.org/")
ELI = Namespace("http://data.europa.eu/eli/ontology#")
#: DCAT 3's dcat:version (rdflib's DCAT namespace predates DCAT 3).
DCAT_VERSION = URIRef("http://www.w3.org/ns/dcat#version")

_EU = "http://publications.europa.eu/resource/authority/"
_IANA = "http://www.iana.org/assignments/media-types/"
#: CC BY 4.0, the licence of the playbook's text and data.
LICENCE = URIRef("https://creativecommons.org/licenses/by/4.0/")
FDP_SPEC = URIRef("https://specs.fairdatapoint.org/fdp-specs-v1.2.html")
NETHERLANDS = URIRef(_EU + "country/NLD")
AVAILABLE = URIRef(_EU + "planned-availability/AVAILABLE")
#: The GDPR and the EHDS Regulation, by their ELI, as DCAT-AP's applicable legislation.
GDPR_ELI = URIRef("http://data.europa.eu/eli/reg/2016/679/oj")
EHDS_ELI = URIRef("http://data.europa.eu/eli/reg/2025/327/oj")

#: Code systems the data dictionary refers to, by their canonical IRIs.
CODE_SYSTEMS: dict[str, str] = {
    "ICD-10": "http://hl7.org/fhir/sid/icd-10",
    "LOINC": "http://loinc.org",
    "UCUM": "http://unitsofmeasure.org",
    "HL7 administrative gender": "http://hl7.org/fhir/administrative-gender",
}

#: The seed of the cohort behind every published data set.
COHORT_SEED = 2026
N_PATIENTS = 10_000

#: One row per variable the published tables may hold: CSVW datatype, UCUM unit, code system
#: (a key of :data:`CODE_SYSTEMS`), the LOINC code where there is one, and a description.
DICTIONARY: dict[str, dict[str, str | None]] = {
    "patient_id": dict(datatype="string", unit=None, code_system=None, code=None,
                       description="Pseudonym of the patient, a study number (P and 7 digits)."),
    "postcode": dict(datatype="string", unit=None, code_system=None, code=None,
                     description="Four-digit Dutch postcode area of the home address."),
    "date_of_birth": dict(datatype="date", unit=None, code_system=None, code=None,
                          description="Date of birth (ISO 8601)."),
    "sex": dict(datatype="string", unit=None, code_system="HL7 administrative gender", code=None,
                description="Administrative sex: F (female) or M (male)."),
    "age": dict(datatype="integer", unit="a", code_system=None, code=None,
                description="Age in whole years on the cohort's reference date."),
    "hospital": dict(datatype="string", unit=None, code_system=None, code=None,
                     description="The (synthetic) hospital that treats the patient."),
    "diagnosis": dict(datatype="string", unit=None, code_system="ICD-10", code=None,
                      description="Main diagnosis, an ICD-10 three-character category."),
    "bmi": dict(datatype="decimal", unit="kg/m2", code_system="LOINC", code="39156-5",
                description="Body mass index."),
    "systolic_bp": dict(datatype="decimal", unit="mm[Hg]", code_system="LOINC", code="8480-6",
                        description="Systolic blood pressure."),
    "hba1c": dict(datatype="decimal", unit="mmol/mol", code_system="LOINC", code="59261-8",
                  description="HbA1c in blood (IFCC)."),
    "smoking": dict(datatype="integer", unit=None, code_system=None, code=None,
                    description="Current smoker: 1 yes, 0 no."),
    "outcome": dict(datatype="integer", unit=None, code_system=None, code=None,
                    description="Hospital admission within a year: 1 yes, 0 no (synthetic)."),
}

#: The published data sets: slug -> title, description and how the table is made.
DATASETS: dict[str, dict[str, str]] = {
    "synthetic-cohort": dict(
        title="Synthetic patient cohort, pseudonymised",
        description=(
            "10,000 synthetic patients of three synthetic Dutch hospitals, made by the "
            "healthdatalab package from a fixed seed. Direct identifiers (name, citizen service "
            "number, street, city) are removed; the study number is a pseudonym. No real person's "
            "data: a real pseudonymised extract like this one would be personal data with "
            "non-public access."
        ),
        keyword="pseudonymised",
    ),
    "k-anonymous-release": dict(
        title="Synthetic patient cohort, 5-anonymous release",
        description=(
            "The synthetic cohort without study number and age, generalised on date of birth, sex "
            "and postcode and with small classes suppressed until every combination of these "
            "quasi-identifiers is shared by at least 5 records (k-anonymity, k = 5)."
        ),
        keyword="k-anonymity",
    ),
    "synthetic-twin": dict(
        title="Synthetic twin of the synthetic patient cohort",
        description=(
            "10,000 records sampled from a Gaussian copula fitted to the synthetic cohort's "
            "clinical columns (the playbook's teaching generator); no record corresponds to a "
            "patient of the cohort by construction."
        ),
        keyword="synthetic data",
    ),
}

_TWIN_COLUMNS = ["age", "sex", "hospital", "diagnosis", "bmi", "systolic_bp", "hba1c", "smoking",
                 "outcome"]
_DIRECT_IDENTIFIERS = ["bsn", "name", "street", "city"]
_QIS = ["date_of_birth", "sex", "postcode"]


def build_tables(n: int = N_PATIENTS, seed: int = COHORT_SEED) -> dict[str, pd.DataFrame]:
    """The three published tables, all made from ``generate_cohort(n, seed)``."""
    cohort = generate_cohort(n, seed=seed)
    pseudonymised = cohort.drop(columns=_DIRECT_IDENTIFIERS)
    release = pseudonymised.drop(columns=["patient_id", "age"])
    k_anonymous = anonymise.anonymise(
        release, anonymise.cohort_hierarchies(), k=5, max_suppression=0.05
    ).data.reset_index(drop=True)
    model = GaussianCopulaSynthesizer().fit(cohort[_TWIN_COLUMNS])
    twin = model.sample(n, np.random.default_rng(seed))
    return {
        "synthetic-cohort": pseudonymised.reset_index(drop=True),
        "k-anonymous-release": k_anonymous,
        "synthetic-twin": twin,
    }


def _datatype(column: pd.Series) -> str:
    """The CSVW datatype of what ``column`` holds."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return "date"
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_integer_dtype(column):
        return "integer"
    if pd.api.types.is_float_dtype(column):
        return "decimal"
    return "string"


def data_dictionary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per column of ``table``: variable, datatype, unit, code system, code, description.

    A column the dictionary does not know is an error (a published table must be documented).
    A column whose values were generalised (a year instead of a date, ``52**`` instead of a
    postcode) is described by what it holds, not by what it was.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(table).__name__}")
    unknown = [c for c in table.columns if c not in DICTIONARY]
    if unknown:
        raise KeyError(f"no data dictionary entry for column(s) {unknown}; add them to DICTIONARY")
    rows = []
    for column in table.columns:
        entry = dict(DICTIONARY[column])
        actual = _datatype(table[column])
        if actual != entry["datatype"]:
            # Generalised by anonymisation (a year for a date, a range or a masked code for a
            # number or a postcode): describe what the table really holds.
            entry.update(datatype=actual, unit=None, code=None,
                         description=entry["description"]
                         + f" Generalised in this table: held as {actual}.")
        rows.append({"variable": column, **entry})
    return pd.DataFrame(rows, columns=["variable", "datatype", "unit", "code_system", "code",
                                       "description"])


@dataclasses.dataclass(frozen=True)
class PublishedFile:
    """One file of the publication: where it is, what it holds and its checksum."""

    dataset: str
    kind: str  # "csv", "parquet" or "dictionary"
    path: str  # relative to the publication folder, with / separators
    media_type: str
    byte_size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Publication:
    """What :func:`publish` wrote: the metadata graph, the files, and the base URL."""

    graph: Graph
    files: tuple[PublishedFile, ...]
    base_url: str
    tables: Mapping[str, pd.DataFrame]

    def url(self, file: PublishedFile) -> str:
        return self.base_url + file.path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    import duckdb

    with duckdb.connect() as con:
        con.execute("SET threads TO 1")  # one row group order, so the file is reproducible
        con.register("frame", table)
        con.execute(f"COPY frame TO '{path.as_posix()}' (FORMAT parquet)")


def _check_base_url(base_url: object) -> str:
    if not isinstance(base_url, str) or not re.match(r"^https?://[^\s/]+(/\S*)?/$", base_url):
        raise ValueError(
            f"base_url must be an http(s) address ending in '/', got {base_url!r}"
        )
    return base_url


def _write_files(tables: Mapping[str, pd.DataFrame], folder: Path) -> list[PublishedFile]:
    files = []
    for slug, table in tables.items():
        target = folder / "data" / slug
        target.mkdir(parents=True, exist_ok=True)
        outputs = {
            "csv": (target / f"{slug}.csv", "text/csv"),
            "parquet": (target / f"{slug}.parquet", "application/vnd.apache.parquet"),
            "dictionary": (target / f"{slug}-dictionary.csv", "text/csv"),
        }
        table.to_csv(outputs["csv"][0], index=False, lineterminator="\n",
                     date_format="%Y-%m-%d")
        _write_parquet(table, outputs["parquet"][0])
        data_dictionary(table).to_csv(outputs["dictionary"][0], index=False, lineterminator="\n")
        for kind, (path, media_type) in outputs.items():
            files.append(PublishedFile(
                dataset=slug, kind=kind, path=path.relative_to(folder).as_posix(),
                media_type=media_type, byte_size=path.stat().st_size, sha256=_sha256(path),
            ))
    return files


def _lit(text: str) -> Literal:
    return Literal(text, lang="en")


def fdp_graph(
    tables: Mapping[str, pd.DataFrame],
    files: list[PublishedFile] | tuple[PublishedFile, ...],
    base_url: str,
    issued: dt.datetime,
    seed: int = COHORT_SEED,
) -> Graph:
    """The FDP, its catalogue, data sets and distributions as one RDF graph."""
    base = _check_base_url(base_url)
    if not isinstance(issued, dt.datetime) or issued.tzinfo is None:
        raise ValueError("issued must be a timezone-aware datetime.datetime")
    version = healthdatalab.__version__
    when = Literal(issued.isoformat(timespec="seconds"), datatype=XSD.dateTime)
    g = Graph()
    for prefix, namespace in {
        "dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "vcard": VCARD, "xsd": XSD, "prov": PROV,
        "fdp-o": FDPO, "ldp": LDP, "csvw": CSVW, "spdx": SPDX, "dcatap": DCATAP,
        "healthdcatap": HEALTHDCATAP, "schema": SCHEMA, "rdfs": RDFS,
    }.items():
        g.bind(prefix, namespace)

    fdp, catalogue = URIRef(base), URIRef(base + "catalog/playbook")
    publisher = URIRef(base + "agent/playbook")
    contact = URIRef(base + "agent/playbook#contact")
    generator = URIRef(base + "software/healthdatalab")
    english = URIRef(_EU + "language/ENG")
    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, RDF.type, FOAF.Organization))
    g.add((publisher, FOAF.name, _lit("The Health Data Sharing Playbook contributors")))
    g.add((contact, RDF.type, VCARD.Kind))
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, _lit("Health Data Sharing Playbook editors")))
    g.add((contact, VCARD.hasURL,
           URIRef("https://github.com/health-data-sharing/playbook/issues")))
    g.add((generator, RDF.type, PROV.SoftwareAgent))
    g.add((generator, RDFS.label, Literal(f"healthdatalab {version}")))
    g.add((generator, DCAT_VERSION, Literal(version)))

    # The terms of outside vocabularies are typed with the class DCAT-AP expects, so that a
    # range check can decide without loading those vocabularies.
    homepage = URIRef(base.rsplit("fdp/", 1)[0])
    for term, kind in [
        (LICENCE, DCTERMS.LicenseDocument), (english, DCTERMS.LinguisticSystem),
        (HEALTH_THEME, SKOS.Concept), (URIRef(_EU + "data-theme"), SKOS.ConceptScheme),
        (ACCESS_RIGHTS["PUBLIC"], DCTERMS.RightsStatement), (GDPR_ELI, ELI.LegalResource),
        (EHDS_ELI, ELI.LegalResource), (FDP_SPEC, DCTERMS.Standard),
        (homepage, FOAF.Document), (NETHERLANDS, DCTERMS.Location),
    ]:
        g.add((term, RDF.type, kind))
    publisher_type = URIRef("http://purl.org/adms/publishertype/NonProfitOrganisation")
    licence_type = URIRef("http://purl.org/adms/licencetype/Attribution")
    g.add((LICENCE, DCTERMS.type, licence_type))
    g.add((publisher, DCTERMS.type, publisher_type))
    for concept, label in [(HEALTH_THEME, "Health"), (AVAILABLE, "Available"),
                           (publisher_type, "Non-profit organisation"),
                           (licence_type, "Attribution")]:
        g.add((concept, RDF.type, SKOS.Concept))
        g.add((concept, SKOS.prefLabel, _lit(label)))
    g.add((URIRef(_EU + "data-theme"), DCTERMS.title, _lit("Data theme")))

    def resource(node: URIRef, types: list[URIRef], title: str, description: str,
                 parent: URIRef | None) -> None:
        for kind in types:
            g.add((node, RDF.type, kind))
        g.add((node, RDF.type, DCAT.Resource))
        g.add((node, DCTERMS.title, _lit(title)))
        g.add((node, DCTERMS.description, _lit(description)))
        g.add((node, DCTERMS.publisher, publisher))
        g.add((node, DCAT_VERSION, Literal(version)))
        g.add((node, DCTERMS.language, english))
        if DCAT.Dataset not in types:  # DCAT-AP puts the licence on the distribution
            g.add((node, DCTERMS.license, LICENCE))
        g.add((node, FDPO.metadataIssued, when))
        g.add((node, FDPO.metadataModified, when))
        g.add((node, FDPO.metadataIdentifier, node))
        if parent is not None:
            g.add((node, DCTERMS.isPartOf, parent))

    # The FDP is also typed dcat:Catalog (a catalogue of catalogues, linked with dcat:catalog),
    # so that DCAT-AP's range for the catalogue's dct:isPartOf holds as well as the FDP's.
    resource(fdp, [FDPO.FAIRDataPoint, FDPO.MetadataService, DCAT.DataService, DCAT.Catalog],
             "FAIR Data Point of the Health Data Sharing Playbook",
             "Metadata about the synthetic data sets the playbook publishes.", None)
    g.add((fdp, DCAT.endpointURL, fdp))
    g.add((fdp, DCAT.catalog, catalogue))
    g.add((fdp, DCAT.contactPoint, contact))
    g.add((fdp, DCAT.theme, HEALTH_THEME))
    g.add((fdp, DCAT.keyword, _lit("FAIR Data Point")))
    for node in (fdp, catalogue):
        g.add((node, DCTERMS.issued, when))
        g.add((node, DCTERMS.modified, when))
        g.add((node, DCAT.themeTaxonomy, URIRef(_EU + "data-theme")))
        g.add((node, FOAF.homepage, homepage))
        g.add((node, DCTERMS.spatial, NETHERLANDS))
    g.add((fdp, FDPO.conformsToFdpSpec, FDP_SPEC))
    g.add((fdp, DCTERMS.conformsTo, FDP_SPEC))
    g.add((fdp, FDPO.metadataCatalog, catalogue))
    g.add((fdp, LDP.contains, catalogue))

    resource(catalogue, [DCAT.Catalog], "Synthetic health data of the playbook",
             "Synthetic patient data made by the playbook's package, for teaching and testing.",
             fdp)

    by_dataset: dict[str, dict[str, PublishedFile]] = {}
    for file in files:
        by_dataset.setdefault(file.dataset, {})[file.kind] = file
    for slug, table in tables.items():
        spec = DATASETS[slug]
        dataset = URIRef(base + f"dataset/{slug}")
        resource(dataset, [DCAT.Dataset], spec["title"], spec["description"], catalogue)
        g.add((catalogue, DCAT.dataset, dataset))
        g.add((catalogue, LDP.contains, dataset))
        g.add((dataset, DCTERMS.identifier, Literal(str(dataset))))
        g.add((dataset, DCTERMS.issued, when))
        g.add((dataset, DCTERMS.modified, when))
        g.add((dataset, DCAT.theme, HEALTH_THEME))
        g.add((dataset, DCTERMS.spatial, NETHERLANDS))
        g.add((dataset, DCAT.contactPoint, contact))
        g.add((dataset, DCTERMS.accessRights, ACCESS_RIGHTS["PUBLIC"]))
        g.add((dataset, DCATAP.applicableLegislation, GDPR_ELI))
        g.add((dataset, DCATAP.applicableLegislation, EHDS_ELI))
        for keyword in ("synthetic data", "health", spec["keyword"]):
            g.add((dataset, DCAT.keyword, _lit(keyword)))
        g.add((dataset, HEALTHDCATAP.numberOfRecords,
               Literal(len(table), datatype=XSD.nonNegativeInteger)))
        if "age" in table.columns and pd.api.types.is_numeric_dtype(table["age"]):
            g.add((dataset, HEALTHDCATAP.minTypicalAge,
                   Literal(int(table["age"].min()), datatype=XSD.nonNegativeInteger)))
            g.add((dataset, HEALTHDCATAP.maxTypicalAge,
                   Literal(int(table["age"].max()), datatype=XSD.nonNegativeInteger)))
        dictionary = data_dictionary(table)
        for system in sorted(set(dictionary["code_system"].dropna())):
            g.add((dataset, HEALTHDCATAP.hasCodingSystem, URIRef(CODE_SYSTEMS[system])))

        # Provenance: which software, version and seed made it, and how.
        activity = URIRef(base + f"dataset/{slug}#generation")
        g.add((dataset, PROV.wasGeneratedBy, activity))
        g.add((activity, RDF.type, PROV.Activity))
        g.add((activity, PROV.wasAssociatedWith, generator))
        g.add((activity, PROV.endedAtTime, when))
        g.add((activity, RDFS.comment, _lit(_provenance_text(slug, seed))))
        g.add((activity, SCHEMA.value, Literal(seed, datatype=XSD.integer)))
        if slug != "synthetic-cohort":
            g.add((dataset, PROV.wasDerivedFrom, URIRef(base + "dataset/synthetic-cohort")))

        # The data dictionary as CSVW columns (variable-level metadata).
        schema = URIRef(base + f"dataset/{slug}#dictionary")
        g.add((dataset, DCTERMS.conformsTo, schema))
        g.add((schema, RDF.type, CSVW.Table))
        g.add((schema, RDF.type, DCTERMS.Standard))
        g.add((schema, DCTERMS.title, _lit(f"Data dictionary of {spec['title'].lower()}")))
        for row in dictionary.itertuples(index=False):
            column = URIRef(base + f"dataset/{slug}#column-{row.variable}")
            g.add((schema, CSVW.column, column))
            g.add((column, RDF.type, CSVW.Column))
            g.add((column, CSVW.name, Literal(row.variable)))
            g.add((column, CSVW.titles, Literal(row.variable)))
            g.add((column, CSVW.datatype, Literal(row.datatype)))
            g.add((column, DCTERMS.description, _lit(row.description)))
            if isinstance(row.unit, str):
                g.add((column, SCHEMA.unitCode, Literal(row.unit)))
            if isinstance(row.code_system, str):
                g.add((column, HEALTHDCATAP.hasCodingSystem,
                       URIRef(CODE_SYSTEMS[row.code_system])))
            if isinstance(row.code, str):
                g.add((column, CSVW.propertyUrl,
                       URIRef(f"{CODE_SYSTEMS['LOINC']}/{row.code}")))

        for kind, file in sorted(by_dataset[slug].items()):
            distribution = URIRef(base + f"distribution/{slug}-{kind}")
            label = {"csv": "CSV", "parquet": "Parquet", "dictionary": "data dictionary (CSV)"}
            resource(distribution, [DCAT.Distribution], f"{spec['title']}, {label[kind]}",
                     f"The {label[kind]} file of the data set.", dataset)
            g.add((dataset, DCAT.distribution, distribution))
            g.add((dataset, LDP.contains, distribution))
            url = URIRef(base + file.path)
            g.add((distribution, DCTERMS.issued, when))
            g.add((distribution, DCTERMS.modified, when))
            g.add((distribution, DCAT.accessURL, url))
            g.add((distribution, DCAT.downloadURL, url))
            media_type = URIRef(_IANA + file.media_type)
            file_type = URIRef(_EU + "file-type/" + ("PARQUET" if kind == "parquet" else "CSV"))
            g.add((distribution, DCAT.mediaType, media_type))
            g.add((media_type, RDF.type, DCTERMS.MediaType))
            g.add((distribution, DCTERMS.format, file_type))
            g.add((file_type, RDF.type, DCTERMS.MediaTypeOrExtent))
            g.add((distribution, DCATAP.availability, AVAILABLE))
            g.add((AVAILABLE, RDF.type, SKOS.Concept))
            g.add((distribution, DCAT.byteSize,
                   Literal(file.byte_size, datatype=XSD.nonNegativeInteger)))
            checksum = BNode()
            g.add((distribution, SPDX.checksum, checksum))
            g.add((checksum, RDF.type, SPDX.Checksum))
            g.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
            g.add((checksum, SPDX.checksumValue, Literal(file.sha256, datatype=XSD.hexBinary)))
            if kind != "dictionary":
                g.add((distribution, DCTERMS.conformsTo, schema))
    return g


def _provenance_text(slug: str, seed: int) -> str:
    made = f"generate_cohort({N_PATIENTS}, seed={seed}) of healthdatalab.cohort"
    if slug == "synthetic-cohort":
        return f"{made}; direct identifiers (name, BSN, street, city) dropped."
    if slug == "k-anonymous-release":
        return (f"{made}; study number and age dropped; anonymise(k=5, max_suppression=0.05) of "
                "healthdatalab.anonymise on date of birth, sex and postcode (full-domain "
                "generalisation and suppression of classes smaller than 5).")
    return (f"{made}; GaussianCopulaSynthesizer of healthdatalab.synthesis fitted to the "
            f"clinical columns and sampled with seed {seed}.")


def publish(
    folder: str | Path,
    base_url: str,
    *,
    issued: dt.datetime | None = None,
    n: int = N_PATIENTS,
    seed: int = COHORT_SEED,
) -> Publication:
    """Write the data, the dictionaries and the FDP metadata into ``folder``.

    ``base_url`` is the public address of ``folder`` (ending in ``/``): every IRI and download
    URL in the metadata starts with it. Returns the :class:`Publication`.
    """
    base = _check_base_url(base_url)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    issued = issued or dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    tables = build_tables(n, seed)
    files = _write_files(tables, folder)
    graph = fdp_graph(tables, files, base, issued, seed)
    graph.serialize(folder / "fdp.ttl", format="turtle")
    graph.serialize(folder / "fdp.jsonld", format="json-ld", indent=1)
    # One Turtle and one JSON-LD file per record, at the record's path: what a real FDP
    # returns at the record's IRI through content negotiation.
    for record in set(graph.subjects(RDF.type, DCAT.Resource)):
        relative = str(record)[len(base):] or "index"
        piece = Graph(namespace_manager=graph.namespace_manager)
        for triple in graph.triples((record, None, None)):
            piece.add(triple)
            if isinstance(triple[2], BNode):
                piece += graph.triples((triple[2], None, None))
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        piece.serialize(target.with_name(target.name + ".ttl"), format="turtle")
        piece.serialize(target.with_name(target.name + ".jsonld"), format="json-ld", indent=1)
    manifest = [dataclasses.asdict(f) | {"url": base + f.path} for f in files]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return Publication(graph=graph, files=tuple(files), base_url=base, tables=tables)


# --------------------------------------------------------------------------- the project's shapes

SHAPES_TTL = """\
@prefix sh:    <http://www.w3.org/ns/shacl#> .
@prefix dcat:  <http://www.w3.org/ns/dcat#> .
@prefix dct:   <http://purl.org/dc/terms/> .
@prefix foaf:  <http://xmlns.com/foaf/0.1/> .
@prefix xsd:   <http://www.w3.org/2001/XMLSchema#> .
@prefix spdx:  <http://spdx.org/rdf/terms#> .
@prefix prov:  <http://www.w3.org/ns/prov#> .
@prefix csvw:  <http://www.w3.org/ns/csvw#> .
@prefix hdl:   <https://health-data-sharing.github.io/playbook/shapes#> .

hdl:Resource a sh:NodeShape ;
  sh:targetClass dcat:Resource ;
  sh:property [ sh:path dct:title ; sh:minCount 1 ; sh:maxCount 1 ; sh:nodeKind sh:Literal ;
                sh:message "every record needs exactly one title (dct:title)" ] ,
              [ sh:path dct:publisher ; sh:minCount 1 ; sh:maxCount 1 ; sh:class foaf:Agent ;
                sh:message "every record needs one publisher, a foaf:Agent" ] ,
              [ sh:path dcat:version ; sh:minCount 1 ; sh:maxCount 1 ;
                sh:message "every record needs one dcat:version" ] .

hdl:Dataset a sh:NodeShape ;
  sh:targetClass dcat:Dataset ;
  sh:property [ sh:path dct:isPartOf ; sh:minCount 1 ; sh:class dcat:Catalog ;
                sh:message "a data set must name its catalogue (dct:isPartOf)" ] ,
              [ sh:path dct:issued ; sh:minCount 1 ; sh:datatype xsd:dateTime ;
                sh:message "a data set needs dct:issued as an xsd:dateTime" ] ,
              [ sh:path dct:accessRights ; sh:minCount 1 ; sh:maxCount 1 ; sh:nodeKind sh:IRI ;
                sh:message "a data set needs one access right from the EU vocabulary" ] ,
              [ sh:path dcat:contactPoint ; sh:minCount 1 ; sh:nodeKind sh:IRI ;
                sh:message "a data set needs a contact point with an IRI" ] ,
              [ sh:path prov:wasGeneratedBy ; sh:minCount 1 ;
                sh:message "a data set needs its provenance (prov:wasGeneratedBy)" ] ,
              [ sh:path dct:conformsTo ; sh:minCount 1 ; sh:class csvw:Table ;
                sh:message "a data set needs a data dictionary (dct:conformsTo a csvw:Table)" ] ,
              [ sh:path dcat:distribution ; sh:minCount 1 ;
                sh:message "a data set needs at least one distribution" ] .

hdl:Distribution a sh:NodeShape ;
  sh:targetClass dcat:Distribution ;
  sh:property [ sh:path dcat:downloadURL ; sh:minCount 1 ; sh:maxCount 1 ; sh:nodeKind sh:IRI ;
                sh:message "a distribution needs one download URL" ] ,
              [ sh:path dct:license ; sh:minCount 1 ; sh:maxCount 1 ; sh:nodeKind sh:IRI ;
                sh:message "a distribution needs one licence given as an IRI (dct:license)" ] ,
              [ sh:path dcat:byteSize ; sh:minCount 1 ; sh:datatype xsd:nonNegativeInteger ;
                sh:message "a distribution needs its size in bytes" ] ,
              [ sh:path spdx:checksum ; sh:minCount 1 ; sh:node hdl:Checksum ;
                sh:message "a distribution needs a SHA-256 checksum" ] ,
              [ sh:path dct:isPartOf ; sh:minCount 1 ; sh:class dcat:Dataset ;
                sh:message "a distribution must name its data set (dct:isPartOf)" ] .

hdl:Checksum a sh:NodeShape ;
  sh:property [ sh:path spdx:algorithm ; sh:hasValue spdx:checksumAlgorithm_sha256 ] ,
              [ sh:path spdx:checksumValue ; sh:minCount 1 ; sh:pattern "^[0-9a-f]{64}$" ] .

hdl:Column a sh:NodeShape ;
  sh:targetClass csvw:Column ;
  sh:property [ sh:path csvw:name ; sh:minCount 1 ; sh:maxCount 1 ;
                sh:message "a column needs its name (csvw:name)" ] ,
              [ sh:path csvw:datatype ; sh:minCount 1 ; sh:maxCount 1 ;
                sh:message "a column needs one datatype (csvw:datatype)" ] ,
              [ sh:path dct:description ; sh:minCount 1 ;
                sh:message "a column needs a description" ] .
"""


def shapes_graph() -> Graph:
    """The project's shapes for the published FDP (a fresh graph each call)."""
    return Graph().parse(data=SHAPES_TTL, format="turtle")


def validate_fdp(graph: Graph):
    """``(conforms, report)`` of ``graph`` against :func:`shapes_graph`."""
    return validate(graph, shapes_graph())


# --------------------------------------------------------------------------- FAIRness checks

#: RDA FAIR Data Maturity Model indicators that a program can check on the metadata graph, each
#: with the check this module runs. Indicators that need a policy, a person or the network are
#: listed with ``None``: an automated assessment cannot decide them.
RDA_CHECKS: dict[str, str | None] = {
    "RDA-F1-01M": "every record's identifier is a persistent identifier (DOI, Handle, w3id)",
    "RDA-F1-02M": "every record has a globally unique identifier (an absolute IRI)",
    "RDA-F2-01M": "each data set has a title, a description, keywords and a theme",
    "RDA-F3-01M": "each data set's metadata name its distributions' download URLs",
    "RDA-F4-01M": "the records are linked for harvesting (ldp:contains from the root down)",
    "RDA-A1-01M": "each data set states access rights and how to get the data",
    "RDA-A1.1-01M": "every record IRI and download URL uses an open, free protocol (HTTPS)",
    "RDA-A2-01M": None,
    "RDA-I1-01M": "the metadata are RDF (a standardised knowledge representation)",
    "RDA-I2-01M": "the vocabularies used are published W3C or EU vocabularies",
    "RDA-I3-03M": "data sets carry qualified references to other metadata (prov:wasDerivedFrom)",
    "RDA-R1-01M": "each data set has at least 15 distinct properties",
    "RDA-R1.1-01M": "every distribution names a licence",
    "RDA-R1.1-02M": "the licence is a standard reuse licence (Creative Commons)",
    "RDA-R1.2-01M": "each data set has PROV-O provenance with the generating software",
    "RDA-R1.3-01M": "the metadata conform to a community profile (the project's DCAT-AP shapes)",
    "RDA-R1.3-01D": "each data set has a data dictionary with standard code systems",
}

_PID = re.compile(r"^(https://doi\.org/|https?://hdl\.handle\.net/|https://w3id\.org/)")
_KNOWN_VOCABULARIES = (
    str(DCAT), str(DCTERMS), str(FOAF), str(VCARD), str(PROV), str(RDF), str(RDFS), str(SKOS),
    str(XSD), str(FDPO), str(LDP), str(CSVW), str(SPDX), str(DCATAP), str(HEALTHDCATAP),
    str(SCHEMA), "http://www.w3.org/ns/dcat#",
)


def assess(graph: Graph) -> pd.DataFrame:
    """Check ``graph`` against :data:`RDA_CHECKS`: one row per indicator, with the result.

    ``result`` is ``"met"``, ``"not met"`` or ``"not machine-checkable"``; ``evidence`` says
    what was counted. The checks are deliberately literal: they test what the metadata state,
    not whether it is true (the notebook checks that against the files).
    """
    if not isinstance(graph, Graph) or len(graph) == 0:
        raise ValueError("assess needs a non-empty rdflib Graph of FAIR Data Point metadata")
    datasets = list(graph.subjects(RDF.type, DCAT.Dataset))
    distributions = list(graph.subjects(RDF.type, DCAT.Distribution))
    records = list(graph.subjects(RDF.type, DCAT.Resource))
    if not datasets:
        raise ValueError("the graph describes no dcat:Dataset")

    def share(nodes, test) -> tuple[bool, str]:
        passed = sum(1 for node in nodes if test(node))
        return passed == len(nodes), f"{passed} of {len(nodes)}"

    def has(node, *props) -> bool:
        return all(graph.value(node, prop) is not None for prop in props)

    downloads = list(graph.objects(None, DCAT.downloadURL))
    predicates = set(graph.predicates())
    results = {
        "RDA-F1-01M": share(records, lambda r: bool(_PID.match(str(r)))),
        "RDA-F1-02M": share(records, lambda r: bool(re.match(r"^https?://\S+$", str(r)))),
        "RDA-F2-01M": share(datasets, lambda d: has(d, DCTERMS.title, DCTERMS.description,
                                                    DCAT.keyword, DCAT.theme)),
        "RDA-F3-01M": share(datasets, lambda d: any(
            has(x, DCAT.downloadURL) for x in graph.objects(d, DCAT.distribution))),
        "RDA-F4-01M": share(records, lambda r: (None, LDP.contains, r) in graph
                            or graph.value(r, DCTERMS.isPartOf) is None),
        "RDA-A1-01M": share(datasets, lambda d: has(d, DCTERMS.accessRights) and any(
            has(x, DCAT.accessURL) for x in graph.objects(d, DCAT.distribution))),
        "RDA-A1.1-01M": share(records + downloads, lambda u: str(u).startswith("https://")),
        "RDA-I1-01M": (len(graph) > 0, f"{len(graph)} RDF statements"),
        "RDA-I2-01M": share(predicates, lambda p: str(p).startswith(_KNOWN_VOCABULARIES)),
        "RDA-I3-03M": share([d for d in datasets if "synthetic-cohort" not in str(d)],
                            lambda d: has(d, PROV.wasDerivedFrom)),
        "RDA-R1-01M": share(datasets, lambda d: len(set(graph.predicates(d, None))) >= 15),
        "RDA-R1.1-01M": share(distributions, lambda x: has(x, DCTERMS.license)),
        "RDA-R1.1-02M": share(distributions, lambda x: str(graph.value(x, DCTERMS.license))
                              .startswith("https://creativecommons.org/licenses/")),
        "RDA-R1.2-01M": share(datasets, lambda d: any(
            graph.value(a, PROV.wasAssociatedWith) is not None
            for a in graph.objects(d, PROV.wasGeneratedBy))),
        "RDA-R1.3-01M": (validate(graph, shapes_graph()).conforms, "project's DCAT-AP shapes"),
        "RDA-R1.3-01D": share(datasets, lambda d: any(
            graph.value(c, HEALTHDCATAP.hasCodingSystem) is not None
            for s in graph.objects(d, DCTERMS.conformsTo) for c in graph.objects(s, CSVW.column))),
    }
    rows = []
    for indicator, check in RDA_CHECKS.items():
        if check is None:
            rows.append((indicator, "a published policy that keeps metadata after the data go",
                         "not machine-checkable", "needs a person to read the policy"))
            continue
        ok, evidence = results[indicator]
        rows.append((indicator, check, "met" if ok else "not met", evidence))
    return pd.DataFrame(rows, columns=["indicator", "check", "result", "evidence"])
