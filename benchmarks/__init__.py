"""Benchmarks of trio_orch against raw Trio and peer libraries, measured in the same run."""
