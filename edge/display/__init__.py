"""The gate display: what the person at the door sees and hears (docs/display.md)."""
