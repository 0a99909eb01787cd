"""The async context service: ports and adapters, every resilience fix switchable."""
