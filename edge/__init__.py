"""Wiring and entry points: settings, the reader pipeline, the CLI, the web panel."""
