"""Deterministic simulators of department source systems, for the demo, tests and benchmarks."""
