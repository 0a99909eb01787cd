"""Alembic migrations for the schema shared by legacy and refactored.

The schema is the contract between the two versions, so it belongs to neither:
both services, the harness and the tests migrate a database through
:func:`upgrade_database`.
"""

from migrations.runner import downgrade_database, upgrade_database

__all__ = ["downgrade_database", "upgrade_database"]
