"""The sample data set: retail sales lines with their ODCS contract (``retail-sales.odcs.yaml``)."""
