"""Alert sinks besides MQTT: HTTP webhooks (generic JSON, work-chat group robots)."""
