"""The simulated gate: a scenario video of residents showing pass cards, and the demo run."""
