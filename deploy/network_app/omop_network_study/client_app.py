"""The ClientApp each hospital runs: the study's SQL on its own DuckDB file, checked at the site.

The SuperNode is started with
``--node-config 'database="/path/to/hospital.duckdb" site-name="Hospital A"
query-log="/path/to/query-log.json"'``. The file never leaves the node; a reply holds only what
:class:`~healthdatalab.federation.network_study.Site` releases after its disclosure check, or a
refusal that names the rule, never a count.

The site's query log (the populations it has answered about and its statistics requests, kept
against differencing and for the request budget) is a file the site owns, named in the node
configuration. Flower starts a fresh ClientApp process for each message and gives each new run
(each new run series) an empty ``context.state``, which the coordinator controls by starting a
new run; a log kept there would start again empty whenever the coordinator asks.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from healthdatalab.federation.network_study import Site, StudyRequestError
from healthdatalab.federation.output_checks import OutputBlockedError

app = ClientApp()
log = logging.getLogger(__name__)


def open_site(context: Context) -> Site:
    """This node's :class:`Site`, with its query log read from the site's own file."""
    database = context.node_config.get("database")
    name = context.node_config.get("site-name")
    log = context.node_config.get("query-log")
    if not database or not name or not log:
        raise KeyError(
            "start the SuperNode with --node-config "
            "'database=\"...\" site-name=\"...\" query-log=\"...\"'"
        )
    return Site(str(name), Path(str(database)), log_path=Path(str(log)))


def reply(msg: Message, site: Site, **records) -> Message:
    records["site"] = ConfigRecord({"name": site.name})
    return Message(content=RecordDict(records), reply_to=msg)


def refuse(msg: Message, site: Site, err: Exception) -> Message:
    """A checked refusal: the site's message names the rule broken, never a data value."""
    return reply(msg, site, refusal=ConfigRecord({"reason": str(err)}))


def answer(msg: Message, site: Site, step: str, compute):
    """``compute()``, or a refusal. Flower sends the text of any exception a ClientApp raises
    to the coordinator, and a database error can quote a value from the data; so only the
    site's own checked messages leave, and any other failure is reported by its type alone,
    with the details written to the SuperNode's log at the site."""
    try:
        return compute(), None
    except (OutputBlockedError, FileNotFoundError, StudyRequestError) as err:
        return None, refuse(msg, site, err)
    except Exception as err:  # noqa: BLE001 (every other failure is withheld the same way)
        log.exception("site %s: '%s' failed", site.name, step)
        return None, refuse(msg, site, RuntimeError(
            f"site {site.name}: '{step}' failed at the site ({type(err).__name__}); "
            "the details stay in the site's log"))


@app.query("characterisation")
def characterisation(msg: Message, context: Context) -> Message:
    site = open_site(context)
    table, refusal = answer(msg, site, "characterisation", site.characterisation)
    if refusal is not None:
        return refusal
    cells = ConfigRecord({
        "sex": [str(s) for s, _ in table.index],
        "age_band": [str(a) for _, a in table.index],
        "n": [int(n) for n in table.to_numpy()],
    })
    return reply(msg, site, characterisation=cells)


@app.query("incidence")
def incidence(msg: Message, context: Context) -> Message:
    site = open_site(context)
    result, refusal = answer(msg, site, "incidence", site.incidence)
    if refusal is not None:
        return refusal
    metrics = MetricRecord({
        "persons": int(result["persons"]),
        "events": int(result["events"]),
        "person_years": float(result["person_years"]),
    })
    return reply(msg, site, incidence=metrics)


@app.query("statistics")
def statistics(msg: Message, context: Context) -> Message:
    site = open_site(context)

    def compute():
        w = msg.content["arrays"]["w"].numpy()
        return site.statistics(np.asarray(w, dtype=float))

    stats, refusal = answer(msg, site, "statistics", compute)
    if refusal is not None:
        return refusal
    arrays = ArrayRecord(array_dict={
        "gradient": Array(np.asarray(stats.gradient, dtype=float)),
        "hessian": Array(np.asarray(stats.hessian, dtype=float)),
    })
    metrics = MetricRecord({"log_likelihood": stats.log_likelihood, "n": stats.n})
    return reply(msg, site, arrays=arrays, metrics=metrics)
