"""Resilience policies: deadline, retry, circuit breaker, composed per dependency."""
