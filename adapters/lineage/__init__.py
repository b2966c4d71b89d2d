"""Lineage over the lineage read model: graph walks, obligation results (with checksum verification against the
dataset store), OpenLineage RunEvents, and the audit trace from a product version back to its raw bytes."""
