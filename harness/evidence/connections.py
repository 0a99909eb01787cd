"""Where the pool checks read the worker count and the database's usable connections from:
``pool_budget`` (config) and ``pool_fits`` (the probe) share them.

Usable connections are ``max_connections`` minus the superuser reserve, read from the live
database when ``DATABASE_URL`` is set, else as the newest chaos/load run recorded its
database (the harness's embedded PostgreSQL is gone when the gate runs).
"""

from __future__ import annotations

from harness.evidence.base import EvidenceError, GateContext
from harness.evidence.dynamic import gate_runs
from testbed.postgres import PostgresUnavailableError, connection_limits
from testbed.results import RunResults

DEFAULT_SUPERUSER_RESERVED = 3  # PostgreSQL's default, when a run did not record it
FACT_RUN_KINDS = ("chaos", "load")  # runs whose stack the dynamic evidence measured


def fact_runs(context: GateContext) -> list[RunResults]:
    """Chaos and load runs that booted a stack (measured something), newest first."""
    runs = gate_runs(context).runs
    return [r for r in runs if r.kind in FACT_RUN_KINDS and r.results]


def workers(context: GateContext) -> tuple[int, str]:
    """The newest run's worker count (what the pools were measured with), else the checklist's."""
    for run in fact_runs(context):
        count = run.environment.get("workers")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
            return count, f"workers of run {run.run_id}"
    return context.checklist.deployment.workers, "workers from the checklist's [deployment]"


def max_connections(context: GateContext) -> tuple[int, str]:
    """Usable connections and where they come from: the live database when ``DATABASE_URL``
    is set, else the newest run's record (cached per gate run)."""
    if "max_connections" in context.cache:
        cached: tuple[int, str] = context.cache["max_connections"]
        return cached
    url = context.env.get("DATABASE_URL")
    result = live_max_connections(url) if url else recorded_max_connections(context)
    context.cache["max_connections"] = result
    return result


def usable_connections(context: GateContext) -> tuple[int, str]:
    """The server the service will use: DATABASE_URL live, else the checklist's [deployment]
    max_connections, else what the newest run recorded."""
    url = context.env.get("DATABASE_URL")
    if url:
        return live_max_connections(url)
    deployment = context.checklist.deployment
    if deployment.max_connections is not None:
        reserved = deployment.superuser_reserved_connections
        return (
            deployment.max_connections - reserved,
            f"max_connections {deployment.max_connections} - {reserved} reserved, "
            "the checklist's [deployment]; no DATABASE_URL",
        )
    return recorded_max_connections(context)


def live_max_connections(url: str) -> tuple[int, str]:
    import psycopg2  # the harness's sync driver; imported here so static checks need no DB

    try:
        limit, reserved = connection_limits(url)
    except (PostgresUnavailableError, psycopg2.Error) as exc:
        raise EvidenceError(f"cannot read max_connections from DATABASE_URL: {exc}") from exc
    return (
        limit - reserved,
        f"max_connections {limit} - {reserved} reserved, live DATABASE_URL",
    )


def recorded_max_connections(context: GateContext) -> tuple[int, str]:
    runs = fact_runs(context)
    for run in runs:
        recorded = run.environment.get("max_connections")
        if not isinstance(recorded, int) or isinstance(recorded, bool):
            continue
        reserved = run.environment.get("superuser_reserved_connections")
        how = "reserved"
        if not isinstance(reserved, int) or isinstance(reserved, bool):
            reserved, how = DEFAULT_SUPERUSER_RESERVED, "reserved (PostgreSQL's default)"
        database = run.environment.get("database")
        server = f"{database} database" if database else "database"
        return (
            recorded - reserved,
            f"max_connections {recorded} - {reserved} {how}, as run {run.run_id} "
            f"recorded its {server}; no DATABASE_URL",
        )
    scanned = f"{len(runs)} chaos/load run(s) in {context.reports_dir}"
    reasons = [
        f"{r.run_id}: {r.environment['max_connections_error']}"
        for r in runs
        if r.environment.get("max_connections_error")
    ]
    raise EvidenceError(
        "pool_budget needs max_connections: set DATABASE_URL to the database, or run make chaos "
        f"(its results record the database's max_connections); none of {scanned} records it"
        + (f" ({'; '.join(reasons[:2])})" if reasons else "")
    )
