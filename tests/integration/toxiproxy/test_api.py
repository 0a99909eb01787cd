"""Toxiproxy's HTTP API, through raw HTTP and through the toxiproxy-python client."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import NotFound, ProxyExists

from chaos.toxiproxy.testing import ToxiproxyHandle

from .conftest import Upstreams, connect, recv_exactly, round_trip

pytestmark = pytest.mark.integration


def test_create_reports_the_actual_port_and_forwards(
    api: httpx.Client, upstreams: Upstreams
) -> None:
    response = api.post(
        "/proxies", json={"name": "echo", "upstream": upstreams.echo, "listen": "127.0.0.1:0"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "name": "echo",
        "listen": body["listen"],
        "upstream": upstreams.echo,
        "enabled": True,
        "toxics": [],
    }
    port = int(body["listen"].rsplit(":", 1)[1])
    assert port != 0
    assert round_trip(port) < 5
    assert api.get("/proxies").json() == {"echo": body}
    assert api.get("/proxies/echo").json() == body


def test_errors_have_toxiproxy_codes_and_bodies(api: httpx.Client, upstreams: Upstreams) -> None:
    assert api.post("/proxies", json={"name": "dup", "upstream": upstreams.echo}).status_code == 201
    conflict = api.post("/proxies", json={"name": "dup", "upstream": upstreams.echo})
    assert (conflict.status_code, conflict.json()) == (
        409,
        {"error": "proxy already exists", "status": 409},
    )
    missing = api.get("/proxies/nope")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "proxy not found", "status": 404},
    )
    assert api.post("/proxies", content=b"{not json").json() == {
        "error": "bad request body",
        "status": 400,
    }
    assert api.post("/proxies", json={"name": "x"}).status_code == 400
    bad_type = api.post("/proxies/dup/toxics", json={"type": "nonsense"})
    assert (bad_type.status_code, bad_type.json()["error"]) == (400, "invalid toxic type")
    assert api.get("/proxies/dup/toxics/none").json() == {"error": "toxic not found", "status": 404}
    assert api.post("/proxies/nope/toxics", json={"type": "latency"}).status_code == 404
    assert (
        api.post(
            "/proxies", json={"name": "out", "upstream": upstreams.echo, "listen": "0.0.0.0:0"}
        ).status_code
        == 400
    )


def test_toxic_crud_defaults_and_update(
    api: httpx.Client, make_proxy: Callable[[str], tuple[str, int]], upstreams: Upstreams
) -> None:
    name, _port = make_proxy(upstreams.echo)
    created = api.post(
        f"/proxies/{name}/toxics", json={"type": "latency", "attributes": {"latency": 50}}
    )
    assert created.status_code == 200
    assert created.json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 50, "jitter": 0},
    }
    assert api.post(f"/proxies/{name}/toxics", json={"type": "latency"}).status_code == 409
    updated = api.post(
        f"/proxies/{name}/toxics/latency_downstream",
        json={"attributes": {"jitter": 5}, "toxicity": 0.5},
    )
    assert updated.json()["attributes"] == {"latency": 50, "jitter": 5}
    assert updated.json()["toxicity"] == 0.5
    assert api.get(f"/proxies/{name}/toxics").json() == [updated.json()]
    assert api.get(f"/proxies/{name}").json()["toxics"] == [updated.json()]
    assert api.delete(f"/proxies/{name}/toxics/latency_downstream").status_code == 204
    assert api.get(f"/proxies/{name}/toxics").json() == []


def test_disable_closes_listener_and_connections_enable_reopens_same_port(
    api: httpx.Client, make_proxy: Callable[[str], tuple[str, int]], upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    with connect(port) as open_connection:
        open_connection.sendall(b"a")
        assert recv_exactly(open_connection, 1) == b"a"
        assert api.post(f"/proxies/{name}", json={"enabled": False}).json()["enabled"] is False
        assert open_connection.recv(10) == b""  # dropped
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert api.post(f"/proxies/{name}", json={"enabled": True}).json()["enabled"] is True
    assert round_trip(port) < 5


def test_reset_enables_every_proxy_and_removes_every_toxic(
    api: httpx.Client, make_proxy: Callable[[str], tuple[str, int]], upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    api.post(f"/proxies/{name}/toxics", json={"type": "timeout"})
    api.post(f"/proxies/{name}", json={"enabled": False})
    assert api.post("/reset").status_code == 204
    proxy = api.get(f"/proxies/{name}").json()
    assert (proxy["enabled"], proxy["toxics"]) == (True, [])
    assert round_trip(port) < 5


def test_populate_creates_keeps_and_replaces(api: httpx.Client, upstreams: Upstreams) -> None:
    first = api.post(
        "/populate", json=[{"name": "a", "upstream": upstreams.echo, "listen": "127.0.0.1:0"}]
    )
    assert first.status_code == 201
    (created,) = first.json()["proxies"]
    again = api.post(
        "/populate", json=[{"name": "a", "upstream": upstreams.echo, "listen": created["listen"]}]
    )
    assert again.json()["proxies"][0]["listen"] == created["listen"]  # unchanged: kept
    port_zero = api.post(
        "/populate", json=[{"name": "a", "upstream": upstreams.echo, "listen": "127.0.0.1:0"}]
    )
    assert port_zero.json()["proxies"][0]["listen"] != created["listen"]  # ":0" differs: new port
    moved = api.post(
        "/populate", json=[{"name": "a", "upstream": upstreams.blob, "listen": "127.0.0.1:0"}]
    )
    assert moved.json()["proxies"][0]["upstream"] == upstreams.blob  # changed: replaced
    assert api.post("/populate", json={"name": "a"}).status_code == 400


def test_update_upstream_restarts_the_proxy(
    api: httpx.Client, make_proxy: Callable[[str], tuple[str, int]], upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    updated = api.post(f"/proxies/{name}", json={"upstream": upstreams.blob})
    assert updated.json()["upstream"] == upstreams.blob
    with connect(port) as sock:
        sock.sendall(b"3\n")
        assert recv_exactly(sock, 3) == b"xxx"


def test_version_is_json(api: httpx.Client) -> None:
    response = api.get("/version")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["version"]


@pytest.fixture
def client(toxiproxy: ToxiproxyHandle, api: httpx.Client) -> Iterator[Toxiproxy]:
    server = Toxiproxy()
    server.update_api_consumer(toxiproxy.host, toxiproxy.port)
    yield server


def test_toxiproxy_python_client_drives_the_server(client: Toxiproxy, upstreams: Upstreams) -> None:
    assert client.running()
    assert b"version" in client.version()
    proxy = client.create(upstream=upstreams.echo, name="via_client")
    with pytest.raises(ProxyExists):
        client.create(upstream=upstreams.echo, name="via_client")
    port = int(client.get_proxy("via_client").listen.rsplit(":", 1)[1])
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    assert set(proxy.toxics()) == {"latency_downstream"}
    assert round_trip(port) >= 0.3
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    with proxy.down(), pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert round_trip(port) < 5
    with pytest.raises(NotFound):
        proxy.destroy_toxic("nothing")
    assert client.reset()
    client.destroy(proxy)
    assert client.get_proxy("via_client") is None


def test_listen_on_a_taken_port_is_an_error_and_creates_nothing(
    api: httpx.Client, upstreams: Upstreams
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        response = api.post(
            "/proxies", json={"name": "busy", "upstream": upstreams.echo, "listen": listen}
        )
    assert response.status_code == 500  # Toxiproxy reports listen failures as 500
    assert "in use" in response.json()["error"]
    assert "busy" not in api.get("/proxies").json()
