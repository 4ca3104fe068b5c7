"""Benchmarks: scripts run by hand against PostgreSQL (not collected by pytest: no test_*.py here)."""
