"""Benchmarks. Run one with ``python -m bench.<name>``; ``python -m bench quick`` runs the
reduced variants of all of them. Results go to ``bench/results/``."""
