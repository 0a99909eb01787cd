"""Toxiproxy's HTTP API, through raw HTTP and through the toxiproxy-python client."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import NotFound, ProxyExists

from testbed.net import free_port
from testbed.toxiproxy import ToxiproxyHandle

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


def error_of(response: httpx.Response) -> tuple[int, dict[str, object]]:
    """Toxiproxy answers errors through Go's http.Error: text/plain, JSON body, newline."""
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    assert response.text.endswith("\n")
    return response.status_code, response.json()


def test_errors_have_toxiproxy_codes_and_bodies(api: httpx.Client, upstreams: Upstreams) -> None:
    assert api.post("/proxies", json={"name": "dup", "upstream": upstreams.echo}).status_code == 201
    conflict = api.post("/proxies", json={"name": "dup", "upstream": upstreams.echo})
    assert error_of(conflict) == (409, {"error": "proxy already exists", "status": 409})
    missing = api.get("/proxies/nope")
    assert error_of(missing) == (404, {"error": "proxy not found", "status": 404})
    assert error_of(api.post("/proxies", content=b"")) == (
        400,
        {"error": "bad request body: EOF", "status": 400},
    )
    status, body = error_of(api.post("/proxies", content=b"{not json"))
    assert (status, body["status"], str(body["error"]).startswith("bad request body: ")) == (
        400,
        400,
        True,
    )
    status, body = error_of(api.post("/proxies", json={"name": 5, "upstream": upstreams.echo}))
    assert (status, str(body["error"]).startswith("bad request body: ")) == (400, True)
    for request, field in (({"upstream": upstreams.echo}, "name"), ({"name": "x"}, "upstream")):
        assert error_of(api.post("/proxies", json=request)) == (
            400,
            {"error": f"missing required field: {field}", "status": 400},
        )
    assert error_of(api.post("/proxies", json={"name": ""}))[1]["error"] == (
        "missing required field: name"  # name is checked before upstream
    )
    bad_type = api.post("/proxies/dup/toxics", json={"type": "nonsense"})
    assert error_of(bad_type) == (400, {"error": "invalid toxic type", "status": 400})
    bad_both = api.post("/proxies/dup/toxics", json={"type": "nonsense", "stream": "sideways"})
    assert error_of(bad_both)[1]["error"] == (
        "stream was invalid, can be either upstream or downstream"  # the stream is checked first
    )
    assert error_of(api.get("/proxies/dup/toxics/none")) == (
        404,
        {"error": "toxic not found", "status": 404},
    )
    assert api.post("/proxies/nope/toxics", content=b"{not json").status_code == 404  # proxy first
    assert (
        api.post(
            "/proxies", json={"name": "out", "upstream": upstreams.echo, "listen": "0.0.0.0:0"}
        ).status_code
        == 400  # this server's loopback rule (Toxiproxy has none)
    )


def test_addresses_are_checked_as_toxiproxy_does(api: httpx.Client) -> None:
    # upstream is only dialled when a client connects: any non-empty string is accepted
    created = api.post("/proxies", json={"name": "anyup", "upstream": "no-port-here"})
    assert created.status_code == 201, created.text
    port = int(created.json()["listen"].rsplit(":", 1)[1])
    with connect(port) as sock:
        assert sock.recv(10) == b""  # the dial fails: the client is closed
    # listen is only parsed when the proxy starts: a bad one is a 500 listen error then...
    bad = api.post("/proxies", json={"name": "badlisten", "upstream": "x:1", "listen": "nope"})
    assert error_of(bad)[0] == 500
    assert str(error_of(bad)[1]["error"]).startswith("listen tcp")
    assert "badlisten" not in api.get("/proxies").json()
    # ...and a disabled proxy may hold it
    disabled = {"name": "later", "upstream": "x:1", "listen": "nope", "enabled": False}
    assert api.post("/proxies", json=disabled).json()["listen"] == "nope"
    assert error_of(api.post("/proxies/later", json={"enabled": True}))[0] == 500


def test_toxicity_and_attributes_are_not_range_checked(
    api: httpx.Client, make_proxy: Callable[[str], tuple[str, int]], upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    body = {"type": "latency", "toxicity": 1.5, "attributes": {"latency": -500, "jitter": -1}}
    created = api.post(f"/proxies/{name}/toxics", json=body)
    assert created.status_code == 200, created.text
    assert (created.json()["toxicity"], created.json()["attributes"]) == (
        1.5,
        {"latency": -500, "jitter": -1},
    )
    assert round_trip(port) < 1.0  # a negative latency is no delay


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


def populate(api: httpx.Client, *items: dict[str, object]) -> httpx.Response:
    response = api.post("/populate", json=list(items))
    assert response.headers["content-type"].startswith("application/json")  # errors too
    return response


def test_populate_creates_keeps_and_replaces(api: httpx.Client, upstreams: Upstreams) -> None:
    first = populate(api, {"name": "a", "upstream": upstreams.echo, "listen": "127.0.0.1:0"})
    assert first.status_code == 201
    (created,) = first.json()["proxies"]
    port = int(created["listen"].rsplit(":", 1)[1])
    toxic = {"type": "latency", "attributes": {"latency": 1}}
    assert api.post("/proxies/a/toxics", json=toxic).status_code == 200
    with connect(port) as open_connection:
        # same listen (as bound) and upstream: kept as it is, toxic, connections and enabled
        # state included; the item's "enabled" is not applied to a kept proxy
        again = populate(
            api,
            {
                "name": "a",
                "upstream": upstreams.echo,
                "listen": created["listen"],
                "enabled": False,
            },
        )
        assert again.status_code == 201
        assert [p["listen"] for p in again.json()["proxies"]] == [created["listen"]]
        kept = api.get("/proxies/a").json()
        assert (kept["listen"], kept["enabled"], len(kept["toxics"])) == (
            created["listen"],
            True,
            1,
        )
        open_connection.sendall(b"k")
        assert recv_exactly(open_connection, 1) == b"k"  # not dropped
    port_zero = populate(api, {"name": "a", "upstream": upstreams.echo, "listen": "127.0.0.1:0"})
    replaced = port_zero.json()["proxies"][0]
    assert replaced["listen"] != created["listen"]  # ":0" never matches: a new proxy
    assert api.get("/proxies/a").json()["toxics"] == []  # the old one's toxics went with it
    moved = populate(api, {"name": "a", "upstream": upstreams.blob, "listen": replaced["listen"]})
    assert moved.json()["proxies"][0]["upstream"] == upstreams.blob  # changed: replaced


def test_populate_enabled_flag_applies_to_new_proxies_only(
    api: httpx.Client, upstreams: Upstreams
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    item = {"name": "off", "upstream": upstreams.echo, "listen": listen, "enabled": False}
    created = populate(api, item)
    assert created.status_code == 201
    assert (created.json()["proxies"][0]["enabled"], created.json()["proxies"][0]["listen"]) == (
        False,
        listen,
    )
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(listen.rsplit(":", 1)[1])), timeout=5)
    assert populate(api, {**item, "enabled": True}).status_code == 201  # unchanged: kept...
    assert api.get("/proxies/off").json()["enabled"] is False  # ...disabled, as it was


def test_populate_errors(api: httpx.Client, upstreams: Upstreams) -> None:
    # a missing field is found before anything changes, with the item's 1-based position
    invalid = populate(api, {"name": "x", "upstream": upstreams.echo}, {"name": "y"})
    assert (invalid.status_code, invalid.json()) == (
        400,
        {"error": "missing required field: upstream at proxy 2", "status": 400, "proxies": None},
    )
    assert populate(api, {"upstream": upstreams.echo}).json()["error"] == (
        "missing required field: name at proxy 1"
    )
    assert "x" not in api.get("/proxies").json()
    not_a_list = api.post("/populate", json={"name": "a"})
    assert not_a_list.status_code == 400
    assert str(not_a_list.json()["error"]).startswith("bad request body: ")
    assert not_a_list.json()["proxies"] is None
    # a listen failure stops the loop: what came before it stays, and is listed
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        partial = populate(
            api,
            {"name": "first", "upstream": upstreams.echo},
            {"name": "second", "upstream": upstreams.echo, "listen": busy},
            {"name": "third", "upstream": upstreams.echo},
        )
    assert partial.status_code == 500
    body = partial.json()
    assert (body["status"], "address already in use" in str(body["error"])) == (500, True)
    assert [p["name"] for p in body["proxies"]] == ["first"]
    assert sorted(api.get("/proxies").json()) == ["first"]
    assert populate(api).json() == {"proxies": None}  # nothing to do: null, as Go encodes it


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
    status, body = error_of(response)
    assert status == 500  # Toxiproxy reports listen failures as 500, in net.Listen's words
    assert body["error"] == f"listen tcp {listen}: bind: address already in use"
    assert "busy" not in api.get("/proxies").json()
