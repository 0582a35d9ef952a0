"""The ClientApp each hospital runs: the study's SQL on its own DuckDB file, checked at the site.

The SuperNode is started with
``--node-config 'database="/path/to/hospital.duckdb" site-name="Hospital A"'``. The file never
leaves the node; a reply holds only what :class:`~healthdatalab.federation.network_study.Site`
releases after its disclosure check, or a refusal that names the rule, never a count.

Flower starts a fresh ClientApp process for each message, so the site's query log (the
populations it has already answered about, kept against differencing) is carried between
messages in the node's own ``context.state``, which stays on the SuperNode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from healthdatalab.federation.network_study import Site
from healthdatalab.federation.output_checks import OutputBlockedError

LOG_KEY = "query-log"

app = ClientApp()


def open_site(context: Context) -> Site:
    """This node's :class:`Site`, with the query log of earlier messages in this run."""
    database = context.node_config.get("database")
    name = context.node_config.get("site-name")
    if not database or not name:
        raise KeyError(
            "start the SuperNode with --node-config 'database=\"...\" site-name=\"...\"'"
        )
    site = Site(str(name), Path(str(database)))
    if LOG_KEY in context.state:
        for what, persons in context.state[LOG_KEY].items():
            site.log.append((what, frozenset(int(p) for p in persons)))
    return site


def keep_log(site: Site, context: Context) -> None:
    context.state[LOG_KEY] = ConfigRecord(
        {what: sorted(persons) for what, persons in site.log}
    )


def reply(msg: Message, site: Site, **records) -> Message:
    records["site"] = ConfigRecord({"name": site.name})
    return Message(content=RecordDict(records), reply_to=msg)


def refuse(msg: Message, site: Site, err: Exception) -> Message:
    """A checked refusal: the site's message names the rule broken, never a data value."""
    return reply(msg, site, refusal=ConfigRecord({"reason": str(err)}))


@app.query("characterisation")
def characterisation(msg: Message, context: Context) -> Message:
    site = open_site(context)
    try:
        table = site.characterisation()
    except (OutputBlockedError, FileNotFoundError) as err:
        return refuse(msg, site, err)
    keep_log(site, context)
    cells = ConfigRecord({
        "sex": [str(s) for s, _ in table.index],
        "age_band": [str(a) for _, a in table.index],
        "n": [int(n) for n in table.to_numpy()],
    })
    return reply(msg, site, characterisation=cells)


@app.query("incidence")
def incidence(msg: Message, context: Context) -> Message:
    site = open_site(context)
    try:
        result = site.incidence()
    except (OutputBlockedError, FileNotFoundError) as err:
        return refuse(msg, site, err)
    metrics = MetricRecord({
        "persons": int(result["persons"]),
        "events": int(result["events"]),
        "person_years": float(result["person_years"]),
    })
    return reply(msg, site, incidence=metrics)


@app.query("statistics")
def statistics(msg: Message, context: Context) -> Message:
    site = open_site(context)
    w = msg.content["arrays"]["w"].numpy()
    try:
        stats = site.statistics(np.asarray(w, dtype=float))
    except (OutputBlockedError, FileNotFoundError) as err:
        return refuse(msg, site, err)
    arrays = ArrayRecord(array_dict={
        "gradient": Array(np.asarray(stats.gradient, dtype=float)),
        "hessian": Array(np.asarray(stats.hessian, dtype=float)),
    })
    metrics = MetricRecord({"log_likelihood": stats.log_likelihood, "n": stats.n})
    return reply(msg, site, arrays=arrays, metrics=metrics)
