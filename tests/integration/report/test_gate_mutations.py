"""Mutation tests of the gate: one-line breakages of refactored/ must fail the named item.

Each mutation is applied to a copy of the tree (refactored/ and the checklist, in a tmp
dir): a literal substitution of one line, asserting the original line is there (the test
breaks loudly when the code moves). The copy is judged by ``run_gate(fresh_only=True)``:
on the evidence the gate computes itself (the behavioural probe, static reading, config),
never on chaos/load/contract runs, which are bound to the tree they measured and are stale
for any copy. Each test runs the probe for the mutated item only (``only_items``): one
probe run per mutation. The unmutated copy passes every such item: a mutation's failure
is the mutation's.

Needs PostgreSQL (the probe's scratch database) and loopback addresses 127.0.0.x.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.checklist import load_checklist
from harness.gate import run_gate
from harness.gate_report import GateReport

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
CHECKLIST = "resilience-checklist.toml"
FRESH_ITEMS = {"R1", "R2", "R3", "R4", "R5", "H1", "H2", "H6", "S1", "S2", "S3"}


@dataclass(frozen=True)
class Mutation:
    id: str
    path: str  # relative to the repository root
    old: str  # one whole line, exactly as it is in the file
    new: str
    item: str  # the checklist item it must fail
    # the same breakage where the code also has it in another form (one line each, applied
    # when present): the owner is in the row helper and, on some trees, a prepared lookup
    also: tuple[tuple[str, str], ...] = ()


SETTINGS = "refactored/core/settings.py"
WIRING = "refactored/infrastructure/wiring"
DEPENDENCIES = f"{WIRING}/dependencies.py"
USE_CASES = f"{WIRING}/use_cases.py"
DISABLE = "    resilience_disable: Annotated[frozenset[Policy], NoDecode] = frozenset()"
MUTATIONS = [
    Mutation(
        "verify-false-variable",
        "refactored/infrastructure/http/clients.py",
        "    verify = tls_verify(ca_bundle)",
        "    verify = False",
        "R5",
    ),
    Mutation(
        "tls-verify-returns-false",
        "refactored/infrastructure/http/clients.py",
        "    return True",
        "    return False",
        "R5",
    ),
    Mutation(
        "resilience-disable-timeouts",
        SETTINGS,
        DISABLE,
        DISABLE.replace("frozenset()", "frozenset({Policy.TIMEOUTS})"),
        "H2",
    ),
    Mutation(
        "resilience-disable-breaker",
        SETTINGS,
        DISABLE,
        DISABLE.replace("frozenset()", "frozenset({Policy.BREAKER})"),
        "R4",
    ),
    Mutation(
        "rate-limit-disabled",
        SETTINGS,
        "    rate_limit_enabled: bool = True",
        "    rate_limit_enabled: bool = False",
        "R2",
    ),
    Mutation(
        "conversation-limit-100000",
        SETTINGS,
        '    rate_limit_conversation_end: str = "100/minute"',
        '    rate_limit_conversation_end: str = "100000/minute"',
        "R2",
    ),
    Mutation(
        "secret-key-min-16",
        SETTINGS,
        "        if value != DEFAULT_SECRET_KEY and len(value) < 32:",
        "        if value != DEFAULT_SECRET_KEY and len(value) < 16:",
        "R3",
    ),
    Mutation(
        "policy-skips-breaker",
        "refactored/core/resilience/policy.py",
        "            if self.breaker is None:",
        "            if True:",
        "R4",
    ),
    Mutation(
        "llm-breaker-none",
        DEPENDENCIES,
        '        dependency_policy(s, "llm", s.llm_timeout_s, alerts, guards.get("llm"), '
        "o.retry_sleep),",
        '        dependency_policy(s, "llm", s.llm_timeout_s, alerts, None, o.retry_sleep),',
        "R4",
    ),
    Mutation(
        "memory-breaker-none",
        DEPENDENCIES,
        '        s, "memory", s.memory_timeout_s, alerts, guards.get("memory"), o.retry_sleep',
        '        s, "memory", s.memory_timeout_s, alerts, None, o.retry_sleep',
        "R4",
    ),
    Mutation(
        "engine-max-overflow-unbounded",
        "refactored/infrastructure/db/engine.py",
        "        max_overflow=pool.max_overflow,",
        "        max_overflow=-1,",
        "R1",
    ),
    Mutation(
        "time-sleep-in-sync-method",
        USE_CASES,
        "        return datetime.now(UTC)",
        '        return __import__("time").sleep(0.001) or datetime.now(UTC)',
        "H1",
    ),
    Mutation(
        "sync-client-in-helper",
        "refactored/infrastructure/http/responses.py",
        "        return response.json()",
        "        return httpx.Client(timeout=1.0)"
        '.get(response.request.url.copy_with(path="/health")) and response.json()',
        "H1",
    ),
    Mutation(
        "llm-client-without-timeout",
        DEPENDENCIES,
        "        http_client(a, s.llm_base_url, s.llm_timeout_s),",
        "        http_client(a, s.llm_base_url, None),",
        "H2",
    ),
    Mutation(
        "client-chosen-rate-limit-key",
        "refactored/infrastructure/web/client_address.py",
        "    if is_trusted(peer_address, trusted):",
        "    if True:",
        "S2",
    ),
    Mutation(
        "text-validator-removed",
        "refactored/infrastructure/web/schemas.py",
        "Text = Annotated[str, AfterValidator(clean_text)]",
        "Text = str",
        "S1",
    ),
    Mutation(
        "idempotency-owner-dropped",
        "refactored/infrastructure/db/store.py",
        "        pc.c.user_id == key.user_id,",
        "        # the owner dropped from the key",
        "S3",
        also=(("    processed_conversations.c.user_id == _USER,", "    sa.true(),"),),
    ),
    Mutation(
        "memory-call-untraced",
        "refactored/infrastructure/http/memory.py",
        '            with self._tracer.start_as_current_span("memory.add"):',
        '            with __import__("contextlib").nullcontext():',
        "H6",
    ),
]


def copy_tree(dest: Path) -> Path:
    """The target's package and the checklist: what the gate judges (the harness is the
    real one; the fakes and migrations come from it)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "refactored", dest / "refactored", ignore=ignore)
    shutil.copy2(REPO / CHECKLIST, dest / CHECKLIST)
    return dest


def apply(root: Path, mutation: Mutation) -> None:
    path = root / mutation.path
    lines = path.read_text().split("\n")
    hits = [i for i, line in enumerate(lines) if line == mutation.old]
    assert len(hits) == 1, (
        f"{mutation.id}: expected the line {mutation.old!r} exactly once in {mutation.path}, "
        f"found it {len(hits)} times: the code moved, update the mutation"
    )
    lines[hits[0]] = mutation.new
    for old, new in mutation.also:
        lines = [new if line == old else line for line in lines]
    path.write_text("\n".join(lines))


def judge(root: Path, admin_url: str, items: set[str]) -> GateReport:
    checklist = load_checklist(root / CHECKLIST)
    return run_gate(
        checklist,
        "refactored",
        checklist_path=root / CHECKLIST,
        repo_root=root,
        reports_dir=root / "reports",
        env={"DATABASE_URL": admin_url, "TIME_SCALE": "1.0"},
        commit="mutated-copy",
        tree="mutated-copy",
        only_items=items,
        fresh_only=True,
    )


def test_the_mutation_lines_exist_once(tmp_path: Path) -> None:
    """Every mutation still applies (cheap: no probe), so a moved line fails here first."""
    root = copy_tree(tmp_path)
    for mutation in MUTATIONS:
        apply(root, mutation)
        shutil.copy2(REPO / mutation.path, root / mutation.path)


def test_the_unmutated_copy_passes_every_fresh_item(tmp_path: Path, pg_admin_url: str) -> None:
    report = judge(copy_tree(tmp_path), pg_admin_url, FRESH_ITEMS)
    assert {i.item.id for i in report.items} == FRESH_ITEMS
    assert report.passed, {i.item.id: i.failure_lines() for i in report.failed_items}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_a_mutation_fails_its_item(tmp_path: Path, pg_admin_url: str, mutation: Mutation) -> None:
    root = copy_tree(tmp_path)
    apply(root, mutation)
    report = judge(root, pg_admin_url, {mutation.item})
    [result] = report.items
    assert not result.passed, f"{mutation.id} passed {mutation.item}: the gate misses it"
    decisive = [e for e in result.evidence if e.decisive and not e.outcome.passed]
    assert decisive and all(not e.outcome.observed.startswith("error:") for e in decisive), (
        f"{mutation.id} failed {mutation.item} for want of evidence, not on it: "
        f"{result.failure_lines()}"
    )
