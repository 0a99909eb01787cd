"""Translate SQLAlchemy/asyncpg errors into the project's own at the storage boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc

from refactored.application.errors import DuplicateConversation, StorageUnavailable


@contextmanager
def storage_errors() -> Iterator[None]:
    try:
        yield
    except sa_exc.IntegrityError as exc:
        if "processed_conversations_pkey" in str(exc.orig):
            raise DuplicateConversation("conversation already processed") from exc
        raise
    except sa_exc.TimeoutError as exc:  # the pool had no free connection in time
        raise StorageUnavailable("database pool exhausted") from exc
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DBAPIError) as exc:
        if isinstance(exc, sa_exc.ProgrammingError | sa_exc.DataError):
            raise
        raise StorageUnavailable(f"database error: {str(exc.orig)[:200]}") from exc
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        raise StorageUnavailable(f"database unreachable: {exc!r}") from exc
