"""Pure parts of the stack: Caddyfile, timeouts, service env, proxy URLs, stack.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import testbed.stack as stack
from testbed.caddy import caddy_duration, caddyfile
from testbed.processes import MissingBinaryError, ProcessGroup
from testbed.stack import start_stack
from testbed.stack_config import StackConfig, build_service_env, timeouts, via_proxy
from testbed.stack_info import NoStackError, StackError, StackInfo, load_stack_info
from testbed.target import FakeInfo, TargetInfo

pytestmark = pytest.mark.unit

# docs/conventions.md §2: what both services read from the stack
SERVICE_ENV = {
    "DATABASE_URL",
    "LLM_BASE_URL",
    "MEMORY_API_URL",
    "ALERT_WEBHOOK_URL",
    "ADMIN_TOKEN",
    "TIME_SCALE",
    "NIGHTLY_SCHEDULER_ENABLED",
    "ENV",
}


@pytest.mark.parametrize(
    ("scale", "expected"),
    # max(60 s x scale, 55 s x scale + 1 s): a second of margin over the app deadline
    [(1.0, "60000ms"), (0.1, "6500ms"), (0.05, "3750ms"), (0.013, "1715ms")],
)
def test_caddyfile_scales_the_response_header_timeout(scale: float, expected: str) -> None:
    lb_timeout, _, _ = timeouts(scale)
    text = caddyfile(8080, "127.0.0.1:9090", lb_timeout)
    assert f"response_header_timeout {expected}" in text
    assert "reverse_proxy 127.0.0.1:9090" in text
    assert "http://127.0.0.1:8080" in text and "bind 127.0.0.1" in text
    # a client's own X-Forwarded-For is replaced, never kept: no trusted_proxies for clients
    assert "trusted_proxies static" not in text
    assert "header_up X-Forwarded-For {remote_host}" in text
    assert "admin off" in text and "auto_https off" in text


def test_caddyfile_admin_api_on_loopback_when_asked() -> None:
    text = caddyfile(8080, "127.0.0.1:9090", 6.0, admin_port=2019)
    assert "admin 127.0.0.1:2019" in text and "admin off" not in text


def test_caddy_duration_never_rounds_to_zero() -> None:
    assert caddy_duration(0.0001) == "1ms"


@pytest.mark.parametrize("scale", [0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 1.0])
def test_timeouts_keep_the_production_ordering(scale: float) -> None:
    lb, app, gunicorn = timeouts(scale)
    assert lb == pytest.approx(max(60 * scale, 55 * scale + 1))
    assert app == pytest.approx(55 * scale)
    assert gunicorn == max(1, math.ceil(round(55 * scale, 6)))
    assert gunicorn < app + 1  # whole seconds, rounded up, never a second more (float noise)
    assert lb >= app + 1 - 1e-9  # the app's deadline answer has a second to cross the LB
    assert gunicorn >= app  # gunicorn never kills a worker before the app's own deadline


def _env(target: str, **extra: object) -> dict[str, str]:
    kwargs: dict = {
        "database_url": "postgresql://postgres@127.0.0.1:1/db",
        "llm_url": "http://127.0.0.1:2",
        "memory_url": "http://127.0.0.1:3",
        "webhook_url": "http://127.0.0.1:4",
        "amqp_url": None,
        "admin_token": "tok",
        "time_scale": 0.1,
    }
    kwargs.update(extra)
    return build_service_env(target, **kwargs)


def test_service_env_sets_every_shared_variable() -> None:
    for target in ("legacy", "refactored"):
        env = _env(target)
        assert set(env) >= SERVICE_ENV, target
        assert env["TIME_SCALE"] == "0.1"
        assert env["NIGHTLY_SCHEDULER_ENABLED"] == "false"
        assert env["ENV"] == "development"
        assert "AMQP_URL" not in env


def test_refactored_gets_a_valid_generated_secret_key_and_legacy_none() -> None:
    key = _env("refactored")["SECRET_KEY"]
    assert len(key) == 48 and key != "change-me-in-production"
    assert _env("refactored")["SECRET_KEY"] != key  # a new one per start
    assert "SECRET_KEY" not in _env("legacy")


def test_refactored_trusts_its_load_balancer_only_and_gets_the_rate_limit_store() -> None:
    store = {"RATE_LIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0", "RATE_LIMIT_KEY_PREFIX": "p"}
    env = _env("refactored", rate_limit=store)
    assert env["TRUSTED_PROXIES"] == "127.0.0.1"  # the address Caddy dials the service from
    assert env["RATE_LIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert env["RATE_LIMIT_KEY_PREFIX"] == "p"
    legacy = _env("legacy", rate_limit=store)
    assert not {"TRUSTED_PROXIES", "RATE_LIMIT_STORAGE_URI"} & set(legacy)


def test_env_overrides_win_and_amqp_is_passed_when_given() -> None:
    env = _env(
        "refactored",
        amqp_url="amqp://guest:guest@127.0.0.1:7/",
        overrides={"TIME_SCALE": "0.5", "RESILIENCE_DISABLE": "retry"},
    )
    assert env["TIME_SCALE"] == "0.5" and env["RESILIENCE_DISABLE"] == "retry"
    assert env["AMQP_URL"] == "amqp://guest:guest@127.0.0.1:7/"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:5432/db1", "postgresql://postgres@127.0.0.1:6000/db1"),
        ("postgresql://u:p%40ss@db.example:5432/x", "postgresql://u:p%40ss@127.0.0.1:6000/x"),
        ("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:guest@127.0.0.1:6000/"),
        ("amqp://localhost", "amqp://127.0.0.1:6000"),
    ],
)
def test_via_proxy_swaps_only_host_and_port(url: str, expected: str) -> None:
    assert via_proxy(url, "127.0.0.1:6000") == expected


def _info() -> StackInfo:
    target = TargetInfo(
        lb_url="http://127.0.0.1:1",
        service_url="http://127.0.0.1:2",
        metrics_url="http://127.0.0.1:2/metrics",
        database_url="postgresql://postgres@127.0.0.1:5432/d",
        admin_token="t",
        toxiproxy_url="http://127.0.0.1:3",
        toxiproxy_kind="embedded",
        proxies={"llm": "llm", "memory": "memory", "postgres": "postgres"},
        fakes={
            k: FakeInfo(f"http://127.0.0.1:{i}", f"http://127.0.0.1:{i}/_control")
            for i, k in enumerate(("llm", "memory", "webhook"), start=10)
        },
        lb_timeout_s=6.0,
        app_timeout_s=5.5,
        gunicorn_timeout_s=6,
        env={"LLM_BASE_URL": "http://127.0.0.1:4", "TIME_SCALE": "0.1"},
        name="refactored",
        app_deadline_s=5.5,
    )
    return StackInfo(
        started_at="2026-01-01T00:00:00+00:00",
        supervisor_pid=123,
        time_scale=0.1,
        workers=2,
        log_dir=".stack/logs",
        database={"kind": "embedded", "admin_url": "postgresql://postgres@127.0.0.1:9/postgres"},
        amqp_url=None,
        targets={"refactored": target},
    )


def test_stack_json_round_trip_and_schema() -> None:
    info = _info()
    text = info.to_json()
    assert StackInfo.from_json(text) == info
    data = json.loads(text)
    assert next(iter(data)) == "schema_version" and data["schema_version"] == 2
    assert set(data) == {
        "schema_version", "started_at", "supervisor_pid", "time_scale", "workers",
        "log_dir", "database", "amqp_url", "targets",
    }  # fmt: skip
    assert set(data["targets"]["refactored"]) == {
        "lb_url", "service_url", "metrics_url", "database_url", "admin_token",
        "toxiproxy_url", "toxiproxy_kind", "proxies", "fakes", "lb_timeout_s",
        "app_timeout_s", "gunicorn_timeout_s", "env", "name", "app_deadline_s",
    }  # fmt: skip
    assert data["targets"]["refactored"]["fakes"]["llm"] == {
        "url": "http://127.0.0.1:10",
        "control_url": "http://127.0.0.1:10/_control",
    }


def test_stack_json_of_another_schema_is_refused() -> None:
    data = json.loads(_info().to_json())
    data["schema_version"] = 99
    with pytest.raises(StackError, match="schema_version 99"):
        StackInfo.from_json(json.dumps(data))


def test_load_stack_info_without_a_stack_says_run_make_up(tmp_path: Path) -> None:
    with pytest.raises(NoStackError, match="no stack running: run make up"):
        load_stack_info(tmp_path / "stack.json")
    _info().write(tmp_path / "stack.json")
    assert load_stack_info(tmp_path / "stack.json") == _info()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (StackConfig(targets=()), "no target"),
        (StackConfig(targets=("nope",)), "unknown target 'nope'"),
        (StackConfig(targets=("legacy", "legacy")), "listed twice"),
        (StackConfig(time_scale=0), "time_scale must be > 0"),
        (StackConfig(workers=0), "workers must be >= 1"),
        (StackConfig(targets=("legacy",), env_overrides={"refactored": {}}), "not started"),
    ],
)
def test_bad_config_is_refused_before_anything_starts(
    config: StackConfig, message: str, tmp_path: Path
) -> None:
    with ProcessGroup(tmp_path) as group, pytest.raises((StackError, ValueError), match=message):
        start_stack(group, config)
    assert group.processes == []


def test_missing_caddy_is_named_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def missing() -> str:
        raise MissingBinaryError("'caddy' not found on PATH. Install it with `make setup`")

    monkeypatch.setattr(stack, "caddy_binary", missing)
    with ProcessGroup(tmp_path) as group, pytest.raises(StackError, match="'caddy' not found"):
        start_stack(group, StackConfig(targets=("legacy",)))
    assert group.processes == []
