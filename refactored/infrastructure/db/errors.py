"""Translate SQLAlchemy/asyncpg errors into the project's own at the storage boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc

from refactored.application.errors import DuplicateConversation, InvalidInput, StorageUnavailable

# SQLSTATE class 22, "data exception": the statement's values were refused (NUL, a datetime
# or number out of range, an invalid text representation); the database itself is fine.
DATA_EXCEPTION_CLASS = "22"
SYNTAX_OR_ACCESS_CLASS = "42"  # syntax error, undefined table or column, privileges


def _refused_values(exc: sa_exc.DBAPIError) -> bool:
    """The request's values, not the database's health, made this statement fail."""
    if isinstance(exc, sa_exc.DataError):
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if isinstance(code, str) and code.startswith(DATA_EXCEPTION_CLASS):
        return True
    # asyncpg could not even encode an argument (a lone surrogate, a datetime out of range):
    # its client-side DataError is an InterfaceError and a ValueError
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return isinstance(cause, asyncpg.InterfaceError) and isinstance(cause, ValueError)


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
        if _refused_values(exc):  # a client error (422): no P0, no breaker, no Retry-After
            raise InvalidInput(f"invalid value for storage: {str(exc.orig)[:200]}") from exc
        if isinstance(exc, sa_exc.ProgrammingError):
            raise
        raise StorageUnavailable(f"database error: {str(exc.orig)[:200]}") from exc
    except asyncpg.PostgresError as exc:  # the hot read runs on asyncpg itself (store.py)
        code = exc.sqlstate or ""
        if code.startswith(DATA_EXCEPTION_CLASS):
            raise InvalidInput(f"invalid value for storage: {str(exc)[:200]}") from exc
        if code.startswith(SYNTAX_OR_ACCESS_CLASS):  # a bug (SQLAlchemy: ProgrammingError)
            raise
        raise StorageUnavailable(f"database error: {str(exc)[:200]}") from exc
    except asyncpg.InterfaceError as exc:
        if isinstance(exc, ValueError):  # asyncpg could not encode an argument
            raise InvalidInput(f"invalid value for storage: {str(exc)[:200]}") from exc
        raise StorageUnavailable(f"database unreachable: {exc!r}") from exc
    except (OSError, TimeoutError) as exc:
        raise StorageUnavailable(f"database unreachable: {exc!r}") from exc
