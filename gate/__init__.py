"""The domain: passes, permits and policy, the pure decision, door control, journal, registry."""
