"""FedAvg across hospitals as a Flower app (see healthdatalab.federation)."""
