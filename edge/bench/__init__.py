"""Benchmarks behind `gridgate bench`; each prints its figures as JSON."""
