"""Benchmarks (run by hand or by `make bench-transports`), not timed tests."""
