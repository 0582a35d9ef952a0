"""The OMOP network study as a Flower app (see healthdatalab.federation.network_study)."""

#: The message types the ServerApp sends and the ClientApp answers, one per study step.
CHARACTERISATION = "query.characterisation"
INCIDENCE = "query.incidence"
STATISTICS = "query.statistics"
