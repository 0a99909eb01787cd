"""The project's own exceptions; adapters translate driver errors into these."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the HTTP edge maps to a status code."""


class DependencyUnavailable(ServiceError):
    """An external dependency (LLM, Memory API) failed, timed out or is cut off by a breaker."""

    dependency = "dependency"


class LlmUnavailable(DependencyUnavailable):
    dependency = "llm"


class MemoryUnavailable(DependencyUnavailable):
    dependency = "memory"


class StorageUnavailable(ServiceError):
    """The database is unreachable, too slow, or its pool is exhausted."""


class InvalidInput(ServiceError):
    """The request's own values were refused by storage (a client error, not an outage)."""


class BrokerUnavailable(ServiceError):
    """RabbitMQ could not take the event."""


class NotFound(ServiceError):
    """The requested record does not exist."""


class DuplicateConversation(ServiceError):
    """Another request stored this conversation first (the insert race was lost)."""
