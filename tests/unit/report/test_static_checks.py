"""Every static check against small source trees that pass and that fail."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.checklist import Checklist, StaticEvidence
from harness.evidence.base import EvidenceError, GateContext, Outcome
from harness.evidence.static import STATIC_CHECKS

pytestmark = pytest.mark.unit


def run_check(
    tmp_path: Path, check: str, files: dict[str, str], package: str = "svc", **params: object
) -> Outcome:
    for name, source in files.items():
        path = tmp_path / package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    checklist = Checklist.model_validate(
        {
            "targets": {"svc": {"package": package, "app_factory": "svc.main:create_app"}},
            "items": [{"id": "X", "title": "t", "why": "w",
                       "evidence": [{"kind": "static", "check": check}]}],
        }
    )  # fmt: skip
    context = GateContext(
        repo_root=tmp_path, target="svc", spec=checklist.targets["svc"], checklist=checklist,
        reports_dir=tmp_path / "reports", max_age_hours=24, now=datetime.now(UTC),
        head_commit=None, head_commit_time=None, time_scale=1.0, env={},
    )  # fmt: skip
    evidence = StaticEvidence(kind="static", check=check, params=dict(params))
    return STATIC_CHECKS[check](evidence, context)


ROUTES_OK = """
from fastapi import APIRouter, Request
from slowapi import Limiter
router = APIRouter()
limiter = Limiter(key_func=lambda r: "k")

@router.post("/v1/conversations/end")
@limiter.limit("100/minute")
async def end(request: Request) -> dict:
    return {}

@router.get("/health")
@limiter.limit("300/minute")
async def health(request: Request) -> dict:
    return {}
"""


def test_routes_all_limited_pass(tmp_path: Path) -> None:
    outcome = run_check(tmp_path, "routes_rate_limited", {"api.py": ROUTES_OK})
    assert outcome.passed, outcome
    assert outcome.observed == "2/2 routes rate-limited"


def test_a_route_without_limit_fails_and_is_named(tmp_path: Path) -> None:
    source = (
        ROUTES_OK
        + """
@router.get("/v1/friendships/{user_id}/{agent_id}")
async def friendship(user_id: str, agent_id: str) -> dict:
    return {}
"""
    )
    outcome = run_check(tmp_path, "routes_rate_limited", {"api.py": source})
    assert not outcome.passed
    assert outcome.observed == "2/3 routes rate-limited"
    assert outcome.details == [
        "svc/api.py:18: GET /v1/friendships/{user_id}/{agent_id} (friendship) has no rate limit"
    ]


def test_add_api_route_and_exemptions(tmp_path: Path) -> None:
    source = (
        ROUTES_OK
        + """
async def metrics() -> str:
    return ""

router.add_api_route("/metrics", metrics)
"""
    )
    failing = run_check(tmp_path, "routes_rate_limited", {"api.py": source})
    assert not failing.passed
    assert "ROUTE /metrics (add_api_route) has no rate limit" in failing.details[0]
    exempted = run_check(tmp_path, "routes_rate_limited", {"api.py": source},
                         exempt=["ROUTE /metrics"])  # fmt: skip
    assert exempted.passed


SAME_NAME_UNLIMITED_FIRST = """
from fastapi import APIRouter, Request
from slowapi import Limiter
router = APIRouter()
limiter = Limiter(key_func=lambda r: "k")

@router.post("/v1/admin/nightly")
async def handler(request: Request) -> dict:
    return {}

@router.get("/health")
@limiter.limit("300/minute")
async def handler(request: Request) -> dict:
    return {}
"""


@pytest.mark.parametrize("limited_last", [True, False])
def test_a_same_named_limited_handler_does_not_hide_an_unlimited_one(
    tmp_path: Path, limited_last: bool
) -> None:
    source = SAME_NAME_UNLIMITED_FIRST
    if not limited_last:  # the unlimited handler second: the order must not matter
        head, first, second = source.split("\n\n@")
        source = "\n\n@".join([head, second.rstrip("\n") + "\n", first])
    outcome = run_check(tmp_path, "routes_rate_limited", {"api.py": source})
    assert not outcome.passed
    assert outcome.observed == "1/2 routes rate-limited"
    assert len(outcome.details) == 1
    assert "POST /v1/admin/nightly (handler) has no rate limit" in outcome.details[0]


UNLIMITED_METRICS = """
async def metrics() -> str:
    return ""
"""
LIMITED_METRICS = """
@limiter.limit("10/minute")
async def metrics() -> str:
    return ""
"""
REGISTER_METRICS = """
router.add_api_route("/metrics", metrics)
"""


def test_add_api_route_uses_the_definition_bound_at_the_call(tmp_path: Path) -> None:
    # the unlimited metrics is the one registered; a limited redefinition later hides nothing
    registered_unlimited = ROUTES_OK + UNLIMITED_METRICS + REGISTER_METRICS + LIMITED_METRICS
    outcome = run_check(tmp_path, "routes_rate_limited", {"api.py": registered_unlimited})
    assert not outcome.passed
    assert outcome.details == ["svc/api.py:20: ROUTE /metrics (add_api_route) has no rate limit"]
    registered_limited = ROUTES_OK + LIMITED_METRICS + REGISTER_METRICS + UNLIMITED_METRICS
    assert run_check(tmp_path, "routes_rate_limited", {"api.py": registered_limited}).passed


def test_no_routes_is_a_failure_not_a_pass(tmp_path: Path) -> None:
    outcome = run_check(tmp_path, "routes_rate_limited", {"x.py": "def f():\n    return 1\n"})
    assert not outcome.passed
    assert outcome.observed == "no routes found"


CLIENTS_OK = """
import httpx
from httpx import AsyncClient as AC

def build(base: str) -> httpx.AsyncClient:
    return AC(base_url=base, timeout=httpx.Timeout(15.0, connect=3.0), verify=True)
"""


def test_clients_with_timeouts_pass(tmp_path: Path) -> None:
    outcome = run_check(tmp_path, "http_timeouts", {"c.py": CLIENTS_OK})
    assert outcome.passed, outcome
    assert outcome.observed == "1/1 HTTP clients/calls have explicit timeouts"


def test_clients_without_timeouts_fail(tmp_path: Path) -> None:
    source = """
    import httpx, requests, aiohttp
    client = httpx.Client(timeout=None, verify=False)
    other = httpx.AsyncClient()
    def call(**kw):
        requests.post("http://x", json={})
        return httpx.Client(**kw)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    """
    outcome = run_check(tmp_path, "http_timeouts", {"c.py": source})
    assert not outcome.passed
    assert outcome.details == [
        "svc/c.py:3: httpx.Client(timeout=None) waits forever",
        "svc/c.py:4: httpx.AsyncClient(...) no timeout=",
        "svc/c.py:6: requests.post(...) no timeout=",
        "svc/c.py:7: httpx.Client(...) timeout hidden in **kwargs",
    ]
    assert outcome.observed == "1/5 HTTP clients/calls have explicit timeouts"


def test_tls_verification_on_passes(tmp_path: Path) -> None:
    outcome = run_check(tmp_path, "tls_verified", {"c.py": CLIENTS_OK})
    assert outcome.passed, outcome


def test_every_way_to_turn_tls_off_is_found(tmp_path: Path) -> None:
    source = """
    import ssl, httpx, aiohttp
    client = httpx.Client(timeout=5, verify=False)
    ctx = ssl._create_unverified_context()
    ctx2 = ssl.create_default_context()
    ctx2.check_hostname = False
    ctx2.verify_mode = ssl.CERT_NONE
    conn = aiohttp.TCPConnector(ssl=False)
    """
    outcome = run_check(tmp_path, "tls_verified", {"c.py": source})
    assert not outcome.passed
    assert [d.split(": ", 1)[1] for d in outcome.details] == [
        "httpx.Client(verify=False)",
        "ssl._create_unverified_context() disables verification",
        "check_hostname = False",
        "ssl.CERT_NONE",
        "aiohttp.TCPConnector(ssl=False)",
    ]


def test_tls_check_with_no_client_at_all_fails(tmp_path: Path) -> None:
    outcome = run_check(tmp_path, "tls_verified", {"x.py": "X = 1\n"})
    assert not outcome.passed and outcome.observed == "no HTTP clients found"


BREAKER_DECORATOR = """
from circuitbreaker import circuit
from svc.http import client

@circuit(failure_threshold=5, recovery_timeout=60)
def invoke_llm(body):
    return client.post("/chat/completions", json=body)

@circuit(failure_threshold=5, recovery_timeout=60)
def add_memories(body):
    return client.post("/v1/memories/", json=body)
"""

BREAKER_POLICY = """
from dataclasses import dataclass

class CircuitBreaker:
    async def call(self, fn): return await fn()

@dataclass
class DependencyPolicy:
    name: str
    breaker: CircuitBreaker | None = None
    async def call(self, fn): return await self.breaker.call(fn)

class Llm:
    def __init__(self, client, policy: DependencyPolicy) -> None:
        self._client = client
        self._policy = policy

    async def ask(self, body):
        async def attempt():
            return await send(lambda: self._client.post("chat/completions", json=body))
        return await self._policy.call(attempt)

class Memory:
    def __init__(self, client, breaker: CircuitBreaker) -> None:
        self._client = client
        self._breaker = breaker

    async def add(self, body):
        return await self._breaker.call(lambda: self._client.post("v1/memories/", json=body))
"""


@pytest.mark.parametrize("source", [BREAKER_DECORATOR, BREAKER_POLICY], ids=["decorator", "policy"])
def test_breaker_guards_pass_on_decorators_and_policy_objects(tmp_path: Path, source: str) -> None:
    outcome = run_check(tmp_path, "breaker_guards", {"adapters.py": source})
    assert outcome.passed, outcome
    assert outcome.observed == "llm 1/1 guarded; memory 1/1 guarded"


# The URL resolved once in __init__ and sent through a bound callable (refactored's
# JsonPoster since 7bccaa1): the call site is ``self._post(body)``, not a call with the URL.
URL_BOUND_ONCE = """
class Llm:
    def __init__(self, client, policy: DependencyPolicy, tracer) -> None:
        self._post = JsonPoster(client, endpoint(client, "chat/completions"), {})
        self._policy = policy
        self._tracer = tracer

    async def ask(self, body):
        async def attempt():
            with self._tracer.start_as_current_span("llm.chat_completions"):
                return await send(lambda: self._post(body), "llm")
        return await self._policy.call(attempt)

class Memory:
    def __init__(self, client, breaker: CircuitBreaker, tracer) -> None:
        url = endpoint(client, "v1/memories/")
        self._post = JsonPoster(client, url, {})
        self._breaker = breaker
        self._tracer = tracer

    async def add(self, body):
        async def attempt():
            with self._tracer.start_as_current_span("memory.add"):
                return await send(lambda: self._post(body), "memory")
        return await self._breaker.call(attempt)
"""
POLICY_CLASSES = BREAKER_POLICY.split("class Llm:")[0]


def test_calls_through_a_url_bound_once_are_found_guarded_and_traced(tmp_path: Path) -> None:
    source = POLICY_CLASSES + URL_BOUND_ONCE
    guarded = run_check(tmp_path / "a", "breaker_guards", {"adapters.py": source})
    assert guarded.passed, guarded
    assert guarded.observed == "llm 1/1 guarded; memory 1/1 guarded"
    traced = run_check(tmp_path / "b", "traced_calls", {"adapters.py": source})
    assert traced.passed, traced
    assert traced.observed == "llm 1/1 traced; memory 1/1 traced"


def test_a_call_through_a_bound_url_without_breaker_or_span_fails_at_its_line(
    tmp_path: Path,
) -> None:
    source = POLICY_CLASSES + URL_BOUND_ONCE.replace(
        "return await self._breaker.call(attempt)", "return await attempt()"
    ).replace('with self._tracer.start_as_current_span("memory.add"):', "if True:")
    guarded = run_check(tmp_path / "a", "breaker_guards", {"adapters.py": source})
    assert not guarded.passed
    assert guarded.observed == "llm 1/1 guarded; memory 0/1 guarded"
    line = (
        source.splitlines().index(
            '                return await send(lambda: self._post(body), "memory")'
        )
        + 1
    )
    assert guarded.details == [f"svc/adapters.py:{line}: memory call has no circuit breaker"]
    traced = run_check(tmp_path / "b", "traced_calls", {"adapters.py": source})
    assert traced.observed == "llm 1/1 traced; memory 0/1 traced"


def test_the_refactored_adapters_calls_are_found_guarded_and_traced() -> None:
    """The real tree (issue 12: after the URLs were resolved once, both checks found 0 calls)."""
    repo = Path(__file__).resolve().parents[3]
    checklist = Checklist.model_validate(
        {
            "targets": {"r": {"package": "refactored", "app_factory": "refactored.main:app"}},
            "items": [{"id": "X", "title": "t", "why": "w",
                       "evidence": [{"kind": "static", "check": "breaker_guards"}]}],
        }
    )  # fmt: skip
    context = GateContext(
        repo_root=repo, target="r", spec=checklist.targets["r"], checklist=checklist,
        reports_dir=repo / "reports", max_age_hours=24, now=datetime.now(UTC),
        head_commit=None, head_commit_time=None, time_scale=1.0, env={},
    )  # fmt: skip
    for check, word in (("breaker_guards", "guarded"), ("traced_calls", "traced")):
        evidence = StaticEvidence(kind="static", check=check, params={})
        outcome = STATIC_CHECKS[check](evidence, context)
        assert outcome.passed, outcome
        assert outcome.observed == f"llm 1/1 {word}; memory 1/1 {word}"


def test_unguarded_calls_fail_with_their_location(tmp_path: Path) -> None:
    source = """
    from svc.http import post_json_with_retry
    URL = "/chat/completions"

    def invoke_llm(base, body):
        return post_json_with_retry(base + URL, body)

    def add_memories(base, body):
        return post_json_with_retry(f"{base}/v1/memories/", body)
    """
    outcome = run_check(tmp_path, "breaker_guards", {"llm.py": source})
    assert not outcome.passed
    assert outcome.observed == "llm 0/1 guarded; memory 0/1 guarded"
    assert outcome.details == [
        "svc/llm.py:6: llm call has no circuit breaker",
        "svc/llm.py:9: memory call has no circuit breaker",
    ]


def test_a_dependency_never_called_fails_instead_of_passing(tmp_path: Path) -> None:
    outcome = run_check(tmp_path, "breaker_guards", {"x.py": "def f():\n    return 1\n"})
    assert not outcome.passed
    assert "llm: no HTTP call whose URL contains 'chat/completions'" in outcome.details


def test_traced_calls(tmp_path: Path) -> None:
    source = BREAKER_POLICY.replace(
        "return await send(",
        "with tracer.start_as_current_span('llm'):\n                return await send(",
    ).replace(
        "    async def add(self, body):",
        "    @observe(name='memory')\n    async def add(self, body):",
    )
    traced = run_check(tmp_path, "traced_calls", {"a.py": source})
    assert traced.passed, traced
    untraced = run_check(tmp_path / "b", "traced_calls", {"a.py": BREAKER_POLICY})
    assert not untraced.passed
    assert untraced.observed == "llm 0/1 traced; memory 0/1 traced"


BLOCKING = {
    "http.py": """
    import time
    import httpx
    client = httpx.Client(timeout=5)

    def post_json(url, body):
        time.sleep(0)
        return client.post(url, json=body)
    """,
    "service.py": """
    from sqlalchemy.orm import Session
    from svc.http import post_json

    def analyse(body):
        return post_json("http://llm/chat/completions", body)

    def load(db: Session, key):
        return db.execute("SELECT 1")
    """,
    "routes.py": """
    import asyncio
    from sqlalchemy.orm import Session
    from svc.service import analyse, load

    async def end(body, db: Session):
        row = load(db, 1)
        await asyncio.to_thread(analyse, body)
        return analyse(body)
    """,
}


def test_blocking_io_behind_sync_helpers_is_traced_to_the_primitive(tmp_path: Path) -> None:
    outcome = run_check(tmp_path, "blocking_calls_in_async", BLOCKING)
    assert not outcome.passed
    assert outcome.details == [
        "svc/routes.py:7: async end -> load -> db.execute() (sync SQLAlchemy)",
        "svc/routes.py:9: async end -> analyse -> post_json -> time.sleep (blocking sleep)",
    ]


def test_async_code_with_to_thread_and_async_clients_passes(tmp_path: Path) -> None:
    files = dict(BLOCKING)
    files["routes.py"] = """
    import asyncio
    import httpx
    from svc.service import analyse

    async def end(body, engine):
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post("http://llm/chat/completions", json=body)
        async with engine.connect() as conn:
            await conn.execute("SELECT 1")
        return await asyncio.to_thread(analyse, body)
    """
    outcome = run_check(tmp_path, "blocking_calls_in_async", files)
    assert outcome.passed, outcome
    assert outcome.observed == "no blocking call reachable from 1 async defs"


def test_missing_package_or_syntax_error_is_an_evidence_error(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match=r"cannot parse svc/bad\.py"):
        run_check(tmp_path, "tls_verified", {"bad.py": "def (:\n"})


def test_blocking_chains_cross_modules_in_a_src_layout(tmp_path: Path) -> None:
    outcome = run_check(tmp_path, "blocking_calls_in_async", BLOCKING, package="src/svc")
    assert not outcome.passed
    assert outcome.details[1] == (
        "src/svc/routes.py:9: async end -> analyse -> post_json -> time.sleep (blocking sleep)"
    )
