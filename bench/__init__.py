"""Benchmarks: each figure measured beside its raw baseline, in alternating rounds (`python -m bench`)."""
