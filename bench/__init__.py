"""Andon's benchmarks: each directory holds one, runnable on its own; ``python -m bench``
reruns them all and rewrites the results parts of bench/README.md."""
