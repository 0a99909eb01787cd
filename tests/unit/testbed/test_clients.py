"""The testbed's clients (Toxiproxy admin, fakes' control, fault injector), the
Prometheus parser and alert counting, against recorded HTTP (no server)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from testbed.alerts import alert_summary
from testbed.fakes import AsyncFakeControl, FakeControl, FakeControlError, base_url_of
from testbed.faults import AsyncFaultInjector, FakeFaults, FaultInjector, ProxyDown, Toxic
from testbed.metrics import breaker_transitions, gauge_max, parse_metrics
from testbed.target import FakeInfo, TargetInfo
from testbed.toxiproxy_admin import AsyncToxiproxyAdmin, ToxiproxyAdmin, ToxiproxyError

pytestmark = pytest.mark.unit  # (was unmarked: make test-unit's -m unit never ran these)


class Recorder:
    """A tiny Toxiproxy + fake: records calls, keeps proxies' toxics and a fake's faults."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.toxics: dict[str, list[dict[str, Any]]] = {"refactored_llm": []}
        self.enabled = True
        self.faults: dict[str, Any] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        self.calls.append((request.method, path, body))
        if path == "/proxies/refactored_llm/toxics" and request.method == "POST":
            self.toxics["refactored_llm"].append(body)
            return httpx.Response(200, json=body)
        if path.startswith("/proxies/refactored_llm/toxics/") and request.method == "DELETE":
            name = path.rsplit("/", 1)[1]
            before = len(self.toxics["refactored_llm"])
            self.toxics["refactored_llm"] = [
                t for t in self.toxics["refactored_llm"] if t["name"] != name
            ]
            return httpx.Response(204 if before != len(self.toxics["refactored_llm"]) else 404)
        if path == "/proxies/refactored_llm" and request.method == "POST":
            self.enabled = body["enabled"]
            return httpx.Response(200, json={})
        if path == "/proxies/refactored_llm":
            return httpx.Response(
                200, json={"enabled": self.enabled, "toxics": self.toxics["refactored_llm"]}
            )
        if path == "/proxies" and request.method == "POST":
            return httpx.Response(201, json={**body, "listen": "[::]:4321"})
        if path.startswith("/proxies/") and request.method == "DELETE":
            return httpx.Response(404)
        if path == "/_control/faults" and request.method == "PUT":
            if "bogus" in body:
                return httpx.Response(422, json={"detail": "invalid fault config: bogus"})
            self.faults = body
            return httpx.Response(200, json=body)
        if path == "/_control/faults" and request.method == "DELETE":
            self.faults = {}
            return httpx.Response(200, json={})
        if path == "/_control/stats":
            return httpx.Response(200, json={"calls_total": 3})
        return httpx.Response(500, text=f"unexpected {request.method} {path}")


def target() -> TargetInfo:
    return TargetInfo(
        lb_url="http://lb", service_url="http://svc", metrics_url=None,
        database_url="postgresql://x/y", admin_token="t", toxiproxy_url="http://tp/",
        toxiproxy_kind="real", proxies={"llm": "refactored_llm"},
        fakes={"llm": FakeInfo("http://llm", "http://llm/_control")},
        lb_timeout_s=6.5, app_timeout_s=5.5, gunicorn_timeout_s=6, env={},
        name="refactored",
    )  # fmt: skip


def test_toxiproxy_admin_addresses_proxies_by_logical_name_and_tolerates_gone_toxics() -> None:
    server = Recorder()
    with ToxiproxyAdmin(
        "http://tp",
        {"llm": "refactored_llm"},
        http=httpx.Client(transport=httpx.MockTransport(server)),
    ) as admin:
        admin.add_toxic("llm", "slow", "latency", {"latency": 100})
        assert admin.proxy("llm")["toxics"][0]["attributes"] == {"latency": 100}
        admin.remove_toxic("llm", "slow")
        admin.remove_toxic("llm", "slow")  # already gone: fine
        # toxiproxy-server reports the bind address as given: dialable on loopback
        assert admin.create_proxy("new", "127.0.0.1:1") == "127.0.0.1:4321"
    assert server.calls[0] == (
        "POST",
        "/proxies/refactored_llm/toxics",
        {"name": "slow", "type": "latency", "stream": "downstream", "toxicity": 1.0,
         "attributes": {"latency": 100}},
    )  # fmt: skip


def test_toxiproxy_refusal_names_the_call_and_is_an_http_error() -> None:
    server = Recorder()
    with (
        ToxiproxyAdmin(
            "http://tp", http=httpx.Client(transport=httpx.MockTransport(server))
        ) as admin,
        pytest.raises(ToxiproxyError, match=r"POST /reset answered 500") as caught,
    ):
        admin.reset()
    assert isinstance(caught.value, httpx.HTTPError)


def test_fake_control_takes_base_or_control_url_and_quotes_a_refusal() -> None:
    assert base_url_of("http://llm/_control/") == base_url_of("http://llm") == "http://llm"
    control = FakeControl("http://llm/_control")
    control._client = httpx.Client(transport=httpx.MockTransport(Recorder()))
    assert control.set_faults(error={"status": 503}) == {"error": {"status": 503}}
    with pytest.raises(FakeControlError, match=r"422: .*bogus"):
        control.set_faults(bogus=1)


async def test_fault_injector_applies_reads_back_and_withdraws_each_kind() -> None:
    server = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        injector = AsyncFaultInjector(target(), http)
        assert await injector.inject(Toxic("llm", "latency", {"latency": 50}), "t1")
        assert await injector.inject(ProxyDown("llm"), "down")
        assert server.enabled is False
        assert await injector.inject(FakeFaults("llm", {"malformed": {"mode": "all"}}), "f")
        assert server.faults == {"malformed": {"mode": "all"}}
        for fault in (Toxic("llm", "latency"), ProxyDown("llm"), FakeFaults("llm", {})):
            await injector.withdraw(fault, "t1")
        assert (server.toxics["refactored_llm"], server.enabled, server.faults) == ([], True, {})
        stats = await AsyncFakeControl("http://llm", client=http).stats()
        assert stats == {"calls_total": 3}
        assert isinstance(target().async_toxiproxy(http), AsyncToxiproxyAdmin)


def test_fault_injector_reports_a_fault_the_fake_did_not_take() -> None:
    server = Recorder()
    injector = FaultInjector(target())
    injector._fakes["llm"]._client = httpx.Client(transport=httpx.MockTransport(server))
    # the fake echoes a zero latency back: nothing active, so the fault is not confirmed
    assert injector.inject(FakeFaults("llm", {"latency_ms": 0}), "x") is False
    injector.close()


METRICS = """\
# TYPE circuit_breaker_transitions_total counter
circuit_breaker_transitions_total{dependency="llm",from_state="closed",to_state="open"} 2.0
circuit_breaker_transitions_total{dependency="llm",from_state="open",to_state="half_open"} 1.0
# TYPE event_loop_lag_max_seconds gauge
event_loop_lag_max_seconds{pid="1"} 0.25
event_loop_lag_max_seconds{pid="2"} 0.5
"""


def test_metrics_parsed_once_and_read_as_deltas() -> None:
    before = parse_metrics(METRICS.replace("} 2.0", "} 1.0"))
    after = parse_metrics(METRICS)
    assert gauge_max(after, "event_loop_lag_max_seconds") == 0.5
    assert gauge_max(after, "absent") is None
    assert breaker_transitions(after, before) == [
        {"dependency": "llm", "from_state": "closed", "to_state": "open", "count": 1}
    ]
    assert len(breaker_transitions(after)) == 2


def test_alert_summary_counts_levels_and_distinct_titles() -> None:
    cards = [{"level": "P0", "title": "LLM down"}, {"level": "P0", "title": "LLM down"}]
    cards += [{"level": "P2", "title": f"t{i}"} for i in range(30)] + [{"level": "P9"}]
    summary = alert_summary(cards)
    assert (summary["P0"], summary["P1"], summary["P2"]) == (2, 0, 30)
    assert summary["titles"][:2] == ["LLM down", "t0"] and len(summary["titles"]) == 20
