"""The platform link: outbox publisher, inbound documents and commands, MQTT, webhooks."""
