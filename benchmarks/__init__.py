"""Benchmarks: scripts run from a checkout that print figures (they go to docs/performance.md).

The engine (mnist_core) never imports anything from here; `python -m mnist_core bench` launches bench.py.
"""
