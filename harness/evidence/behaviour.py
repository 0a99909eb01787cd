"""Probe evidence: the target's behaviour, measured from outside in seconds.

The gate starts the fakes (LLM, Memory API, and an LLM over HTTPS signed by a CA made on
the spot) as real servers on free loopback ports, a scratch database (created on the
server of ``DATABASE_URL``, else on an embedded PostgreSQL; migrated, dropped after), and
the target's app in a child process (``harness.evidence.serve``: one uvicorn worker,
built by the checklist's ``app_factory`` from the environment of
``[targets.<t>.probe]``). Then it speaks HTTP to it and counts at the fakes:

- ``no_blocking``: every request path (both POSTs, the GET, health) and the nightly job
  under the runtime blocking-call detector (blockbuster, on the target's package);
- ``breaker_opens``: a dependency set to fail; after N failures calls stop reaching it;
- ``hang_ends_at_timeout``: a dependency set to hang; the fake sees each call cut within
  the configured timeout (+ margin), the request answers with the fallback, and every HTTP
  client the app holds has a read timeout;
- ``pool_fits``: the pools the engines really received, x workers, fit the server's
  ``max_connections``;
- ``rate_limited``: requests 1..N of a route pass the limiter, N+1 is 429, N the checklist's;
- ``peer_keyed``: the same from one peer forging a new X-Forwarded-For each time;
- ``tls_refused``: the LLM over HTTPS with an untrusted CA is refused (fallback, the fake
  counts no call) and accepted once the CA bundle setting names the CA;
- ``hostile_input_4xx``: NUL and lone surrogates in ids and text are 4xx, never a 5xx,
  and refused before any dependency call;
- ``idempotent_per_owner``: two owners of one conversation id each get their own result;
- ``spans_around_calls``: every call that reached a fake ran in a span of its dependency
  (the child records each OpenTelemetry span that ends).

The whole probe runs once per gate run (``context.cache``) and only for the checks the
judged items name. Each check is an :class:`Outcome`; the gate table shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.checklist_schema import ProbeEvidence
from harness.evidence.base import EvidenceError, GateContext, Outcome
from testbed.fakes import fake_argv
from testbed.net import free_port
from testbed.postgres import EmbeddedPostgres, temporary_database
from testbed.processes import ProcessGroup

HARNESS_ROOT = Path(__file__).resolve().parents[2]  # the repo root (harness/, testbed/, doubles/)
START_TIMEOUT_S = 60.0
MARGIN_S = 0.5  # a cut may come this late after the timeout (scheduling, connect)
PROBE_ORDER = (
    "tls_refused",
    "spans_around_calls",
    "no_blocking",
    "hostile_input_4xx",
    "idempotent_per_owner",
    "rate_limited",
    "peer_keyed",
    "hang_ends_at_timeout",
    "breaker_opens",
    "pool_fits",
)
# the source address each check speaks from: its own rate-limit budget
SOURCE = {name: f"127.0.0.{10 + i}" for i, name in enumerate(PROBE_ORDER)}
DEPENDENCY_ROUTE = {"llm": "/v1/activities/suggest", "memory": "/v1/conversations/end"}
# the fake LLM's faults hit only the suggest route's task: the conversation route's LLM
# calls stay healthy, so the memory rounds run beside the LLM's without touching its breaker
FAULT_SCOPE: dict[str, dict[str, Any]] = {"llm": {"tasks": ["activities"]}, "memory": {}}


# ---- requests the probe sends (the service API, docs/conventions.md §4) ---------------------


def conversation(cid: str, user: str, agent: str = "probe-agent") -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "conversation_id": cid,
        "user_id": user,
        "agent_id": agent,
        "started_at": (now - dt.timedelta(minutes=10)).isoformat(),
        "ended_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "messages": [
            {
                "role": "user",
                "content": "I love hiking and music. Do you?",
                "ts": (now - dt.timedelta(minutes=5)).isoformat(),
            },
            {
                "role": "assistant",
                "content": "I do!",
                "ts": (now - dt.timedelta(minutes=4)).isoformat(),
            },
        ],
    }


def suggest(user: str, agent: str = "probe-agent") -> dict[str, Any]:
    return {"user_id": user, "agent_id": agent, "limit": 3}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---- the session: servers up, checks run, servers down --------------------------------------


@dataclass
class App:
    name: str
    base_url: str
    pid: int
    out: Path
    facts: dict[str, Any]
    log: Callable[[], str]

    async def spans(self) -> list[dict[str, Any]]:
        """Every span the app ended so far (the child writes them on SIGHUP)."""
        path = self.out / "spans.json"
        seen = path.stat().st_mtime_ns if path.exists() else None
        os.kill(self.pid, signal.SIGHUP)
        for _ in range(100):
            if path.exists() and path.stat().st_mtime_ns != seen:
                return list(json.loads(path.read_text())["spans"])
            await asyncio.sleep(0.02)
        raise EvidenceError("the app did not write its spans on SIGHUP")

    def blocking(self) -> list[dict[str, Any]]:
        path = self.out / "blocking.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class Session:
    context: GateContext
    fakes: dict[str, str] = field(default_factory=dict)  # llm, memory, llm_tls -> base URL
    apps: dict[str, App] = field(default_factory=dict)  # main, untrusted, trusted
    app_errors: dict[str, str] = field(default_factory=dict)

    def client(self, check: str, timeout: float = 10.0) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=SOURCE[check])
        return httpx.AsyncClient(transport=transport, timeout=timeout)

    def control(self, fake: str) -> httpx.AsyncClient:
        verify: Any = True
        if fake == "llm_tls":
            import ssl

            verify = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.AsyncClient(base_url=self.fakes[fake], timeout=10.0, verify=verify)

    ca_file: Path = Path()

    def app(self, name: str = "main") -> App:
        if name not in self.apps:
            raise EvidenceError(
                f"the target's app ({name}) did not start: {self.app_errors.get(name, '?')}"
            )
        return self.apps[name]


async def _stats(session: Session, fake: str) -> dict[str, Any]:
    async with session.control(fake) as c:
        return dict((await c.get("/_control/stats")).json())


async def _faults(session: Session, fake: str, faults: dict[str, Any] | None) -> None:
    async with session.control(fake) as c:
        if faults is None:
            (await c.delete("/_control/faults")).raise_for_status()
        else:
            (await c.put("/_control/faults", json=faults)).raise_for_status()


async def _reset(session: Session, fake: str) -> None:
    async with session.control(fake) as c:
        (await c.post("/_control/reset")).raise_for_status()


def needed_checks(context: GateContext) -> set[str]:
    selected = context.cache.get("selected_items")
    return {
        e.check
        for item in context.checklist.items
        if selected is None or item.id in selected
        for e in item.evidence
        if isinstance(e, ProbeEvidence)
    }


def probe_results(context: GateContext) -> dict[str, Outcome]:
    """Every probe check the judged items need, run once per gate run."""
    if "probe" not in context.cache:
        started = time.monotonic()
        checks = needed_checks(context)
        try:
            results = _run(context, checks)
        except EvidenceError as exc:
            results = {c: Outcome.fail(f"error: {exc}") for c in checks}
        context.cache["probe"] = results
        context.cache["probe_seconds"] = time.monotonic() - started
    results = context.cache["probe"]
    return dict(results)


def _params(context: GateContext, check: str) -> dict[str, Any]:
    for item in context.checklist.items:
        for e in item.evidence:
            if isinstance(e, ProbeEvidence) and e.check == check:
                return dict(e.params)
    return {}


def _run(context: GateContext, checks: set[str]) -> dict[str, Outcome]:

    probe = context.spec.probe
    if probe is None:
        raise EvidenceError(
            f"the checklist has no [targets.{context.target}.probe]: nothing to run"
        )
    results: dict[str, Outcome] = {}
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(_tmpdir()))
        group = stack.enter_context(ProcessGroup(logs / "logs"))
        session = Session(context)
        session.ca_file = _make_certificates(logs)
        pending = _start_fakes(group, session, logs, tls="tls_refused" in checks)
        admin = context.env.get("DATABASE_URL") or EmbeddedPostgres(group).start()
        database = stack.enter_context(temporary_database(admin, prefix="probe"))
        for wait in pending:
            wait()
        names = ["main"] if checks - {"tls_refused"} else []
        if "tls_refused" in checks:
            names += ["untrusted"] + (["trusted"] if probe.ca_bundle_env else [])
        _start_apps(group, session, logs, database, names)
        context.cache["probe_timings"] = {"setup": time.monotonic() - started}
        results = asyncio.run(_drive(session, checks))
        for app in session.apps.values():
            with contextlib.suppress(OSError):
                os.kill(app.pid, signal.SIGTERM)
    return results


@contextlib.contextmanager
def _tmpdir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gate-probe-") as path:
        yield path


def _make_certificates(where: Path) -> Path:
    """A CA made now (trusted by nothing) and a leaf for 127.0.0.1 it signs; returns the CA."""
    from ipaddress import ip_address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gate probe CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (where / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (where / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (where / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return where / "ca.pem"


def _start_fakes(
    group: Any, session: Session, where: Path, *, tls: bool
) -> list[Callable[[], None]]:
    """Start the fakes (not waiting); returns one wait per fake."""

    waits = []
    kinds = [("llm", "llm"), ("memory", "memory")] + ([("llm_tls", "llm")] if tls else [])
    for name, kind in kinds:
        port = free_port()
        if name == "llm_tls":
            argv = [
                sys.executable,
                "-m",
                "harness.evidence.serve",
                "--factory",
                "doubles.fakes.llm:create_app",
                "--port",
                str(port),
                "--certfile",
                str(where / "leaf.pem"),
                "--keyfile",
                str(where / "leaf.key"),
            ]
            base = f"https://127.0.0.1:{port}"
        else:
            argv, base = fake_argv(kind, port), f"http://127.0.0.1:{port}"  # type: ignore[arg-type]
        process = group.start(
            f"probe-fake-{name}", argv, cwd=HARNESS_ROOT, env={"PYTHONPATH": str(HARNESS_ROOT)}
        )
        session.fakes[name] = base
        waits.append(_waiter(process, port))
    return waits


def _waiter(process: Any, port: int) -> Callable[[], None]:
    return lambda: process.wait_port(port, timeout=START_TIMEOUT_S)


def _app_env(session: Session, database: str, name: str) -> dict[str, str]:
    context = session.context
    probe = context.spec.probe
    assert probe is not None
    llm = session.fakes["llm_tls"] if name != "main" else session.fakes["llm"]
    values = {"llm": llm, "memory": session.fakes["memory"], "database_url": database}
    env = {k: v for k, v in context.env.items() if k not in probe.env}
    env.update({k: v.format(**values) for k, v in probe.env.items()})
    env["TIME_SCALE"] = f"{probe.time_scale:g}"
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(context.repo_root), str(HARNESS_ROOT)]))
    if name == "trusted" and probe.ca_bundle_env:
        env[probe.ca_bundle_env] = str(session.ca_file)
    return env


def _start_apps(group: Any, session: Session, where: Path, database: str, names: list[str]) -> None:

    context = session.context
    started = []
    for name in names:
        port, out = free_port(), where / f"app-{name}"
        out.mkdir()
        argv = [
            sys.executable,
            "-m",
            "harness.evidence.serve",
            "--factory",
            context.spec.app_factory,
            "--package",
            context.spec.package.replace("/", "."),
            "--port",
            str(port),
            "--out",
            str(out),
        ]
        process = group.start(
            f"probe-app-{name}", argv, cwd=context.repo_root, env=_app_env(session, database, name)
        )
        started.append((name, port, out, process))
    deadline = time.monotonic() + START_TIMEOUT_S
    for name, port, out, process in started:
        facts = out / "facts.json"
        while not facts.exists() and process.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        if not facts.exists():
            session.app_errors[name] = f"exited or timed out; its log: {process.log_tail(15)}"
            continue
        session.apps[name] = App(
            name,
            f"http://127.0.0.1:{port}",
            process.pid,
            out,
            json.loads(facts.read_text()),
            process.log_tail,
        )


async def _drive(session: Session, checks: set[str]) -> dict[str, Outcome]:
    results: dict[str, Outcome] = {}
    for name in PROBE_ORDER:
        if name not in checks:
            continue
        started = time.monotonic()
        try:
            results[name] = await CHECKS[name](session, _params(session.context, name))
        except EvidenceError as exc:
            results[name] = Outcome.fail(f"error: {exc}")
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            results[name] = Outcome.fail(
                f"error: the probe could not run: {type(exc).__name__}: {exc}"
            )
        session.context.cache["probe_timings"][name] = time.monotonic() - started
    return results


# ---- the checks ----------------------------------------------------------------------------


async def no_blocking(session: Session, params: dict[str, Any]) -> Outcome:
    """Both POSTs, the GET, health and the nightly job, with blockbuster on."""
    app = session.app()
    probe = session.context.spec.probe
    assert probe is not None
    user = _unique("probe-user")
    os.kill(app.pid, signal.SIGUSR1)
    await asyncio.sleep(0.1)
    answers: list[tuple[str, int | str]] = []
    try:
        async with session.client("no_blocking") as c:
            base = app.base_url
            calls: list[tuple[str, Callable[[], Awaitable[httpx.Response]]]] = [
                ("GET /health", lambda: c.get(f"{base}/health")),
                (
                    "POST /v1/conversations/end",
                    lambda: c.post(
                        f"{base}/v1/conversations/end", json=conversation(_unique("c"), user)
                    ),
                ),
                (
                    "POST /v1/activities/suggest",
                    lambda: c.post(f"{base}/v1/activities/suggest", json=suggest(user)),
                ),
                (
                    "GET /v1/friendships/{user_id}/{agent_id}",
                    lambda: c.get(f"{base}/v1/friendships/{user}/probe-agent"),
                ),
            ]
            if probe.admin_token:
                headers = {"Authorization": f"Bearer {probe.admin_token}"}
                calls.append(
                    (
                        "POST /v1/admin/nightly (the nightly job)",
                        lambda: c.post(f"{base}/v1/admin/nightly", headers=headers),
                    )
                )
            for label, call in calls:
                try:
                    answers.append((label, (await call()).status_code))
                except httpx.TransportError as exc:  # the app broke the connection
                    answers.append((label, f"no answer ({type(exc).__name__})"))
    finally:
        os.kill(app.pid, signal.SIGUSR2)
    blocking = app.blocking()
    problems = [
        f"{label}: {status}"
        for label, status in answers
        if not isinstance(status, int) or status >= 500
    ]
    problems += [
        f"blocking call {b['call']} at {' <- '.join(reversed(b['stack'][-3:]))}"
        for b in blocking[:5]
    ]
    if not probe.admin_token:
        problems.append("the nightly job was not run: no probe.admin_token to trigger it with")
    paths = ", ".join(f"{label} {status}" for label, status in answers)
    if problems:
        return Outcome.fail(f"{len(blocking)} blocking call(s) caught; {paths}", problems)
    return Outcome.ok(f"no blocking call under blockbuster: {paths}")


async def breaker_opens(session: Session, params: dict[str, Any]) -> Outcome:
    """Each dependency set to fail: after N failures, calls stop reaching the fake."""
    app = session.app()
    threshold = int(params.get("failures", 5))
    requests = int(params.get("requests", threshold + 4))
    tail = int(params.get("quiet_tail", 3))  # the last requests must reach the fake not at all
    parts, problems = [], []
    for dependency in params.get("dependencies", ["llm", "memory"]):
        await _reset(session, dependency)
        await _faults(
            session,
            dependency,
            {"error": {"status": 500, "mode": "all"}, **FAULT_SCOPE[dependency]},
        )
        reached: list[int] = []
        statuses = []
        user = _unique("probe-breaker")
        try:
            async with session.client("breaker_opens", timeout=15.0) as c:
                for _ in range(requests):
                    before = (await _stats(session, dependency))["calls_total"]
                    body = (
                        conversation(_unique("c"), user)
                        if dependency == "memory"
                        else suggest(user)
                    )
                    answer = await c.post(
                        f"{app.base_url}{DEPENDENCY_ROUTE[dependency]}", json=body
                    )
                    statuses.append(answer.status_code)
                    reached.append((await _stats(session, dependency))["calls_total"] - before)
        finally:
            await _faults(session, dependency, None)
        total, last = sum(reached), sum(reached[-tail:])
        parts.append(
            f"{dependency}: {total} calls reached the failing fake in {requests} requests "
            f"(last {tail}: {last})"
        )
        if total == 0:
            problems.append(
                f"{dependency}: no call reached the fake: the probe proves nothing "
                f"(answers {statuses})"
            )
        elif total > threshold or last > 0:
            problems.append(
                f"{dependency}: calls kept reaching it after {threshold} failures "
                f"(per request: {reached}): no breaker opened"
            )
    return Outcome(not problems, "; ".join(parts), problems)


async def hang_ends_at_timeout(session: Session, params: dict[str, Any]) -> Outcome:
    """Each dependency set to hang: every held call is cut within its timeout + margin."""
    from harness.evidence.config import settings_values

    app = session.app()
    probe = session.context.spec.probe
    assert probe is not None
    try:
        values = settings_values(session.context)
    except EvidenceError as exc:
        values = {}
        settings_error = str(exc)
    else:
        settings_error = ""
    deadline = values.get("app_deadline_s")
    wait_s = (deadline * probe.time_scale + 2.0) if deadline else 5.0
    parts, problems = [], []
    fields = params.get("dependencies", {"llm": "llm_timeout_s", "memory": "memory_timeout_s"})

    async def one(dependency: str, setting: str) -> None:
        timeout = values.get(setting)
        bound = timeout * probe.time_scale + MARGIN_S if timeout else None
        await _reset(session, dependency)
        await _faults(session, dependency, {"hang": True, **FAULT_SCOPE[dependency]})
        user = _unique("probe-hang")
        body = conversation(_unique("c"), user) if dependency == "memory" else suggest(user)
        started = time.monotonic()
        status: int | str
        try:
            async with session.client("hang_ends_at_timeout", timeout=wait_s) as c:
                answer = await c.post(f"{app.base_url}{DEPENDENCY_ROUTE[dependency]}", json=body)
                status = answer.status_code
                fallback = answer.status_code == 200 and FALLBACK_USED[dependency](_json(answer))
        except httpx.TimeoutException:
            status, fallback = f"no answer in {wait_s:g}s", False
        took = time.monotonic() - started
        hangs = (await _stats(session, dependency)).get("hangs", {})
        await _faults(session, dependency, None)  # releases whatever still hangs
        cut_max = hangs.get("cut_after_s_max")
        parts.append(
            f"{dependency}: answered {status} in {took:.2f}s, {hangs.get('held', 0)} held, "
            f"cut after <= {cut_max}s (timeout {_seconds(bound)})"
        )
        if bound is None:
            problems.append(
                f"{dependency}: no {setting} configured ({settings_error or 'none set'})"
            )
        if not hangs.get("held"):
            problems.append(f"{dependency}: no call reached the hanging fake (answer {status})")
        elif hangs.get("released") or not hangs.get("cut") or (bound and cut_max > bound):
            problems.append(f"{dependency}: a hung call was not cut at its timeout ({hangs})")
        if not fallback:
            problems.append(
                f"{dependency}: the request did not answer with its fallback ({status})"
            )

    # both at once: each on its own fake and route (FAULT_SCOPE)
    await asyncio.gather(*(one(dependency, setting) for dependency, setting in fields.items()))
    unbounded = [
        f"{c['kind']} {c['base_url'] or '(no base URL)'}: read timeout none"
        for c in app.facts.get("http_clients", [])
        if c.get("read") is None
    ]
    problems += [f"wired client without a timeout: {u}" for u in unbounded]
    parts.append(
        f"{len(app.facts.get('http_clients', []))} HTTP client(s) wired, "
        f"{len(unbounded)} without a read timeout"
    )
    return Outcome(not problems, "; ".join(parts), problems)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# how an answer says it used its fallback (the API's fields, docs/conventions.md §4)
FALLBACK_USED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "llm": lambda body: body.get("source") == "fallback",
    "memory": lambda body: "memory" in str(body.get("degraded", "")),
}


def _seconds(bound: float | None) -> str:
    return "none" if bound is None else f"{bound - MARGIN_S:g}s"


async def pool_fits(session: Session, params: dict[str, Any]) -> Outcome:
    """The pools the engines received (x workers) fit max_connections minus the reserve."""
    from harness.evidence.config import _workers

    app = session.app()
    engines = app.facts.get("engines", [])
    if not engines:
        return Outcome.fail(
            "no SQLAlchemy engine found in the app process",
            ["the probe reads the pools the engines received; found none to read"],
        )
    workers, workers_source = _workers(session.context)
    limit, source = usable_connections(session.context)
    problems, caps = [], []
    for e in engines:
        size, overflow = e.get("size"), e.get("max_overflow")
        if size is None or overflow is None or overflow < 0:
            problems.append(
                f"{e['url']}: {e['pool']} size {size} max_overflow {overflow}: unbounded"
            )
        else:
            caps.append(size + overflow)
    shown = " + ".join(f"({e.get('size')}+{e.get('max_overflow')})" for e in engines)
    if problems:
        return Outcome.fail(
            f"engines {shown}: unbounded; database allows {limit} ({source})", problems
        )
    needed = sum(caps) * workers
    observed = (
        f"engines {shown} x {workers} workers = {needed} <= {limit} usable "
        f"({source}; {workers_source})"
    )
    if needed > limit:
        return Outcome.fail(observed.replace("<=", ">"), ["raise max_connections or shrink pools"])
    return Outcome.ok(observed)


def usable_connections(context: GateContext) -> tuple[int, str]:
    """The server the service will use: DATABASE_URL live, else the checklist's [deployment]
    max_connections, else what the newest run recorded."""
    from harness.evidence.config import _live_max_connections, _recorded_max_connections

    url = context.env.get("DATABASE_URL")
    if url:
        return _live_max_connections(url)
    deployment = context.checklist.deployment
    if deployment.max_connections is not None:
        reserved = deployment.superuser_reserved_connections
        return (
            deployment.max_connections - reserved,
            f"max_connections {deployment.max_connections} - {reserved} reserved, "
            "the checklist's [deployment]; no DATABASE_URL",
        )
    return _recorded_max_connections(context)


def _route(params: dict[str, Any]) -> tuple[str, str, int]:
    method, _, path = str(params.get("route", "POST /v1/conversations/end")).partition(" ")
    return method, path, int(params.get("limit", 100))


async def _burst(
    session: Session, check: str, params: dict[str, Any], headers: Callable[[int], dict[str, str]]
) -> list[int]:
    app = session.app()
    method, path, limit = _route(params)
    statuses = []
    async with session.client(check) as c:
        for i in range(limit + 1):
            answer = await c.request(method, f"{app.base_url}{path}", json={}, headers=headers(i))
            statuses.append(answer.status_code)
    return statuses


def _judge_burst(statuses: list[int], limit: int, how: str) -> Outcome:
    early = [i + 1 for i, s in enumerate(statuses[:-1]) if s == 429]
    last = statuses[-1]
    observed = f"request {limit + 1} {how}: {last}; requests 1..{limit}: {len(early)} refused"
    problems = []
    if early:
        problems.append(
            f"request {early[0]} was already 429: the limit is below the checklist's {limit}"
        )
    if last != 429:
        problems.append(f"request {limit + 1} answered {last}, not 429: no limit of {limit}/minute")
    return Outcome(not problems, observed, problems)


async def rate_limited(session: Session, params: dict[str, Any]) -> Outcome:
    _, _, limit = _route(params)
    return _judge_burst(
        await _burst(session, "rate_limited", params, lambda i: {}), limit, "from one peer"
    )


async def peer_keyed(session: Session, params: dict[str, Any]) -> Outcome:
    _, _, limit = _route(params)
    forged = lambda i: {"X-Forwarded-For": f"198.51.100.{i % 250 + 1}"}  # noqa: E731
    return _judge_burst(
        await _burst(session, "peer_keyed", params, forged),
        limit,
        "from one peer, each with a new forged X-Forwarded-For",
    )


async def tls_refused(session: Session, params: dict[str, Any]) -> Outcome:
    """The LLM over HTTPS signed by an untrusted CA: refused (fallback, no call counted);
    with the CA bundle setting naming that CA: accepted (the fake counts the call)."""
    probe = session.context.spec.probe
    assert probe is not None
    problems, parts = [], []
    await _reset(session, "llm_tls")
    untrusted = session.app("untrusted")
    async with session.client("tls_refused", timeout=15.0) as c:
        answer = await c.post(
            f"{untrusted.base_url}/v1/activities/suggest", json=suggest(_unique("u"))
        )
    calls = (await _stats(session, "llm_tls"))["calls_total"]
    parts.append(f"untrusted CA: {calls} call(s) reached the fake, answer {answer.status_code}")
    if calls:
        problems.append(f"the LLM's certificate from an untrusted CA was accepted ({calls} calls)")
    if answer.status_code >= 500:
        problems.append(f"a refused certificate gave {answer.status_code}, not the fallback")
    if probe.ca_bundle_env is None:
        problems.append("no probe.ca_bundle_env: cannot show the refusal is about the CA")
    else:
        trusted = session.app("trusted")
        await _reset(session, "llm_tls")
        async with session.client("tls_refused", timeout=15.0) as c:
            answer = await c.post(
                f"{trusted.base_url}/v1/activities/suggest", json=suggest(_unique("u"))
            )
        calls = (await _stats(session, "llm_tls"))["calls_total"]
        parts.append(
            f"{probe.ca_bundle_env} naming the CA: {calls} call(s), answer {answer.status_code}"
        )
        if not calls:
            problems.append(
                f"with {probe.ca_bundle_env} naming the CA no call reached the fake: "
                "the refusal proves nothing"
            )
    return Outcome(not problems, "; ".join(parts), problems)


HOSTILE = {
    "NUL in conversation_id": ("POST", "/v1/conversations/end", "nul-id"),
    "lone surrogate in a message": ("POST", "/v1/conversations/end", "surrogate"),
    "NUL in a message": ("POST", "/v1/conversations/end", "nul-text"),
    "NUL in a path id": ("GET", "/v1/friendships/probe%00user/probe-agent", None),
    "NUL in user_id (suggest)": ("POST", "/v1/activities/suggest", "nul-user"),
}


async def hostile_input_4xx(session: Session, params: dict[str, Any]) -> Outcome:
    """NUL and lone surrogates are 4xx, refused before any dependency call (no LLM or Memory
    API call is made for a request that cannot be stored)."""
    app = session.app()
    answers: dict[str, int | str] = {}
    for fake in ("llm", "memory"):
        await _reset(session, fake)
    async with session.client("hostile_input_4xx") as c:
        for label, (method, path, kind) in HOSTILE.items():
            content: bytes | None = None
            if kind == "nul-id":
                content = json.dumps(conversation("probe\u0000id", _unique("u"))).encode()
            elif kind == "surrogate":
                body = conversation(_unique("c"), _unique("u"))
                text = json.dumps(body).replace("I do!", "I do \\ud800!")
                content = text.encode()
            elif kind == "nul-text":
                body = conversation(_unique("c"), _unique("u"))
                content = json.dumps(body).replace("I do!", "I do\\u0000!").encode()
            elif kind == "nul-user":
                content = json.dumps(suggest("probe\u0000user")).encode()
            headers = {"content-type": "application/json"} if content is not None else {}
            try:
                answer = await c.request(
                    method, f"{app.base_url}{path}", content=content, headers=headers
                )
                answers[label] = answer.status_code
            except httpx.TransportError as exc:  # the server broke the connection: no answer
                answers[label] = f"no answer ({type(exc).__name__})"
    problems = [
        f"expected 4xx: {label}: {status}"
        for label, status in answers.items()
        if not (isinstance(status, int) and 400 <= status < 500)
    ]
    # refused at the door: validation, before any dependency was called for it
    calls = {fake: (await _stats(session, fake))["calls_total"] for fake in ("llm", "memory")}
    problems += [
        f"hostile input reached the {fake} fake ({n} calls) before it was refused"
        for fake, n in calls.items()
        if n
    ]
    observed = ", ".join(f"{label} {status}" for label, status in answers.items())
    observed += f"; dependency calls made for them: {sum(calls.values())}"
    return Outcome(not problems, observed, problems)


async def idempotent_per_owner(session: Session, params: dict[str, Any]) -> Outcome:
    """Two owners end a conversation of the same id: each gets (and keeps) its own result."""
    app = session.app()
    cid, agent = _unique("shared"), "probe-agent"
    owners = [_unique("owner-a"), _unique("owner-b")]
    problems, parts = [], []
    async with session.client("idempotent_per_owner", timeout=15.0) as c:
        for owner in owners:
            answer = await c.post(
                f"{app.base_url}/v1/conversations/end", json=conversation(cid, owner, agent)
            )
            body = (
                answer.json()
                if answer.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            echoed = body.get("user_id") if isinstance(body, dict) else None
            parts.append(f"{owner}: {answer.status_code}")
            if answer.status_code != 200 or echoed not in (None, owner):
                problems.append(f"{owner} got {answer.status_code} for user_id {echoed!r}")
        for owner in owners:
            stored = await c.get(f"{app.base_url}/v1/friendships/{owner}/{agent}")
            parts.append(f"friendship of {owner}: {stored.status_code}")
            if stored.status_code != 200:
                problems.append(
                    f"{owner}'s conversation {cid} was not processed for them "
                    f"(friendship {stored.status_code}): another owner's result was reused"
                )
    return Outcome(not problems, "; ".join(parts), problems)


async def spans_around_calls(session: Session, params: dict[str, Any]) -> Outcome:
    """Each call that reached a fake ran inside a span of that dependency (name prefix) with
    a duration: as many such spans as calls, and at least one call each."""
    app = session.app()
    prefixes: dict[str, str] = dict(params.get("spans", {"llm": "llm.", "memory": "memory."}))
    for fake in prefixes:
        await _reset(session, fake)
    before = len(await app.spans())
    user = _unique("probe-traced")
    async with session.client("spans_around_calls", timeout=15.0) as c:
        await c.post(f"{app.base_url}/v1/conversations/end", json=conversation(_unique("c"), user))
        await c.post(f"{app.base_url}/v1/activities/suggest", json=suggest(user))
    await asyncio.sleep(0.05)
    spans = (await app.spans())[before:]
    parts, problems = [], []
    for fake, prefix in prefixes.items():
        calls = (await _stats(session, fake))["calls_total"]
        traced = [s for s in spans if s["name"].startswith(prefix)]
        parts.append(f"{fake}: {calls} call(s), {len(traced)} '{prefix}*' span(s)")
        if not calls:
            problems.append(f"{fake}: no call reached the fake: the probe proves nothing")
        elif len(traced) < calls:
            problems.append(
                f"{fake}: {calls - len(traced)} call(s) ran outside any '{prefix}*' span"
            )
    names = sorted({s["name"] for s in spans})
    return Outcome(not problems, "; ".join(parts), [*problems, f"spans seen: {names}"])


CHECKS: dict[str, Callable[[Session, dict[str, Any]], Awaitable[Outcome]]] = {
    "spans_around_calls": spans_around_calls,
    "no_blocking": no_blocking,
    "breaker_opens": breaker_opens,
    "hang_ends_at_timeout": hang_ends_at_timeout,
    "pool_fits": pool_fits,
    "rate_limited": rate_limited,
    "peer_keyed": peer_keyed,
    "tls_refused": tls_refused,
    "hostile_input_4xx": hostile_input_4xx,
    "idempotent_per_owner": idempotent_per_owner,
}
assert set(CHECKS) == set(PROBE_ORDER)


def probe_check(evidence: Any, context: GateContext) -> Outcome:
    outcome = probe_results(context).get(evidence.check)
    if outcome is None:
        return Outcome.fail(f"error: probe check {evidence.check} did not run")
    seconds = context.cache.get("probe_seconds")
    if seconds is not None:
        outcome = Outcome(
            outcome.passed, outcome.observed, list(outcome.details), warnings=list(outcome.warnings)
        )
        timings = context.cache.get("probe_timings", {})
        parts = [f"{k} {timings[k]:.1f}s" for k in ("setup", evidence.check) if k in timings]
        outcome.details.append(f"(the behavioural probe ran in {seconds:.1f}s: {', '.join(parts)})")
    return outcome
