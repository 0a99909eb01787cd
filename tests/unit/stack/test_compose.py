"""docker-compose.yml stays consistent with the native stack (testbed.stack,
docs/conventions.md §2-§3)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from testbed.services import APP_FACTORIES, TARGETS
from testbed.stack_config import build_service_env

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
PROXIES = ("llm", "memory", "postgres", "rabbitmq")
# env var -> the proxy (logical name) it must go through
PROXIED_ENV = {
    "LLM_BASE_URL": "llm",
    "MEMORY_API_URL": "memory",
    "DATABASE_URL": "postgres",
    "AMQP_URL": "rabbitmq",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def toxiproxy_config() -> dict[str, dict[str, str]]:
    return {p["name"]: p for p in json.loads((REPO / "docker" / "toxiproxy.json").read_text())}


def _native_env_names(target: str) -> set[str]:
    env = build_service_env(
        target,
        database_url="postgresql://x@h:1/d",
        llm_url="http://h:2",
        memory_url="http://h:3",
        webhook_url="http://h:4",
        amqp_url="amqp://h:5/",
        admin_token="t",
        time_scale=0.1,
    )
    return set(env)


@pytest.mark.parametrize("target", TARGETS)
def test_service_gets_every_variable_the_native_stack_sets(
    compose: dict[str, Any], target: str
) -> None:
    environment = compose["services"][target]["environment"]
    missing = _native_env_names(target) - set(environment)
    assert not missing, f"{target} in docker-compose.yml lacks {sorted(missing)}"


@pytest.mark.parametrize("target", TARGETS)
def test_service_command_is_gunicorn_with_the_app_factory(
    compose: dict[str, Any], target: str
) -> None:
    command = [str(c) for c in compose["services"][target]["command"]]
    assert command[0] == "gunicorn"
    assert command[1] == APP_FACTORIES[target]
    assert command[command.index("--worker-class") + 1] == "uvicorn_worker.UvicornWorker"
    for flag in ("--workers", "--timeout", "--bind", "--forwarded-allow-ips"):
        assert flag in command, flag
    # uvicorn never replaces the peer with an X-Forwarded-For address
    assert command[command.index("--forwarded-allow-ips") + 1] == ""


@pytest.mark.parametrize("target", TARGETS)
def test_services_are_reached_only_through_the_load_balancer(
    compose: dict[str, Any], target: str
) -> None:
    assert "ports" not in compose["services"][target]


def test_refactored_trusts_exactly_the_load_balancer_and_counts_in_redis(
    compose: dict[str, Any],
) -> None:
    environment = compose["services"]["refactored"]["environment"]
    lb_address = compose["services"]["caddy"]["networks"]["default"]["ipv4_address"]
    assert _compose_default(environment["TRUSTED_PROXIES"]) == _compose_default(lb_address)
    subnet = compose["networks"]["default"]["ipam"]["config"][0]
    dynamic = ipaddress.ip_network(_compose_default(subnet["ip_range"]))
    fixed = ipaddress.ip_address(_compose_default(lb_address))
    assert fixed in ipaddress.ip_network(_compose_default(subnet["subnet"]))
    assert fixed not in dynamic  # no other container can be given the LB's address
    assert environment["RATE_LIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert "redis" in compose["services"]


def test_toxiproxy_has_the_prefixed_proxies_of_every_target(
    toxiproxy_config: dict[str, dict[str, str]],
) -> None:
    assert set(toxiproxy_config) == {f"{t}_{p}" for t in TARGETS for p in PROXIES}


@pytest.mark.parametrize("target", TARGETS)
def test_dependencies_are_reached_through_the_target_s_own_proxies(
    compose: dict[str, Any], toxiproxy_config: dict[str, dict[str, str]], target: str
) -> None:
    environment = compose["services"][target]["environment"]
    for variable, logical in PROXIED_ENV.items():
        url = urlsplit(environment[variable])
        proxy = toxiproxy_config[f"{target}_{logical}"]
        assert url.hostname == "toxiproxy", (variable, environment[variable])
        assert url.port == int(proxy["listen"].rsplit(":", 1)[1]), (variable, proxy)
    # the fakes behind a target's proxies are that target's own (per-target call counts)
    for logical in ("llm", "memory"):
        upstream_host = toxiproxy_config[f"{target}_{logical}"]["upstream"].split(":")[0]
        assert upstream_host == f"fake-{logical}-{target}"
        assert upstream_host in compose["services"]
    webhook = urlsplit(environment["ALERT_WEBHOOK_URL"]).hostname
    assert webhook == f"fake-webhook-{target}" and webhook in compose["services"]


def test_fakes_run_the_documented_entry_points(compose: dict[str, Any]) -> None:
    for target in TARGETS:
        for kind in ("llm", "memory", "webhook"):
            command = compose["services"][f"fake-{kind}-{target}"]["command"]
            assert command[:3] == ["python", "-m", f"doubles.fakes.{kind}"]


def test_every_long_running_container_has_a_healthcheck(compose: dict[str, Any]) -> None:
    one_shot_or_load = {"timeouts-check", "migrate", "locust-master", "locust-worker"}
    lacking = [
        name
        for name, service in compose["services"].items()
        if name not in one_shot_or_load and "healthcheck" not in service
    ]
    assert not lacking


def test_load_balancer_caddyfile_matches_the_native_one() -> None:
    caddyfile = (REPO / "docker" / "Caddyfile").read_text()
    for target, port in (("legacy", 8080), ("refactored", 8081)):
        assert f":{port} {{\n\treverse_proxy {target}:8000" in caddyfile
    assert caddyfile.count("response_header_timeout {$LB_TIMEOUT}") == 2
    # a client's X-Forwarded-For is replaced, never kept
    assert "trusted_proxies static" not in caddyfile
    assert caddyfile.count("header_up X-Forwarded-For {remote_host}") == 2


def _compose_default(value: str) -> str:
    """``${NAME:-default}`` -> default (what compose uses when the variable is unset)."""
    return value.split(":-", 1)[1].rstrip("}") if ":-" in value else value


def test_the_default_timeouts_pass_the_check_and_every_service_waits_for_it(
    compose: dict[str, Any],
) -> None:
    from testbed.timeouts_check import check

    checker = compose["services"]["timeouts-check"]
    assert checker["command"] == ["python", "-m", "testbed.timeouts_check"]
    defaults = {k: _compose_default(v) for k, v in checker["environment"].items()}
    assert "LB 6.5s > app deadline 5.5s" in check(defaults)
    caddy = _compose_default(compose["services"]["caddy"]["environment"]["LB_TIMEOUT"])
    assert caddy == defaults["LB_TIMEOUT"]
    for target in TARGETS:
        depends = compose["services"][target]["depends_on"]
        assert depends["timeouts-check"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TIME_SCALE": "1", "LB_TIMEOUT": "6s", "GUNICORN_TIMEOUT": "6"}, "LB_TIMEOUT=60000ms"),
        # in order, but 500 ms is no margin for a deadline answer to cross the LB
        ({"TIME_SCALE": "0.1", "LB_TIMEOUT": "6s", "GUNICORN_TIMEOUT": "6"}, "LB_TIMEOUT=6500ms"),
        ({"TIME_SCALE": "1", "LB_TIMEOUT": "60s", "GUNICORN_TIMEOUT": "6"}, "GUNICORN_TIMEOUT=55"),
        ({"TIME_SCALE": "0.1", "LB_TIMEOUT": "six", "GUNICORN_TIMEOUT": "6"}, "not a duration"),
    ],
)
def test_out_of_order_timeouts_are_refused_with_what_to_set(
    env: dict[str, str], message: str
) -> None:
    from testbed.timeouts_check import TimeoutsError, check

    with pytest.raises(TimeoutsError, match=message):
        check(env)


def test_go_durations_parse_like_caddy_reads_them() -> None:
    from testbed.timeouts_check import parse_go_duration

    assert parse_go_duration("6s") == 6.0
    assert parse_go_duration("500ms") == 0.5
    assert parse_go_duration("1m30s") == 90.0
