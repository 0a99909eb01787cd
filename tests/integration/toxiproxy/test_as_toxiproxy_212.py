"""What a Toxiproxy 2.12 client notices, point by point (issue 13), raw and via toxiproxy-python.

Each expectation is the real server's answer, read from Toxiproxy v2.12.0's ``api.go``,
``proxy.go`` (``Differs``), ``proxy_collection.go`` (``AddOrReplace``) and ``toxics/noop.go``.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from testbed.net import free_port
from testbed.toxiproxy import ToxiproxyHandle

from .conftest import Upstreams, connect, recv_exactly, round_trip

pytestmark = pytest.mark.integration

XID = re.compile(r"[0-9a-v]{20}")  # rs/xid, as hlog.RequestIDHandler sets it
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def client(toxiproxy: ToxiproxyHandle, api: httpx.Client) -> Iterator[Toxiproxy]:
    """toxiproxy-python pointed at the server (``api`` deletes every proxy afterwards)."""
    server = Toxiproxy()
    server.update_api_consumer(toxiproxy.host, toxiproxy.port)
    yield server


def test_every_routed_answer_carries_a_request_id(api: httpx.Client, client: Toxiproxy) -> None:
    answers = [
        api.get("/proxies"),
        api.get("/proxies/nope"),  # an API error too
        api.get("/version", headers={"User-Agent": BROWSER}),  # and the browser refusal
        APIConsumer.get("/version"),  # toxiproxy-python's requests session
    ]
    ids = [answer.headers.get("X-Toxiproxy-Request-Id", "") for answer in answers]
    assert all(XID.fullmatch(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)
    # a path no route matches never reaches mux's middlewares: no id, Go's plain 404
    unrouted = api.get("/nope")
    assert (unrouted.status_code, unrouted.text) == (404, "404 page not found\n")
    assert "X-Toxiproxy-Request-Id" not in unrouted.headers
    for wrong_method in (api.put("/proxies"), api.head("/version")):
        assert (wrong_method.status_code, wrong_method.content) == (405, b"")


def test_a_browser_user_agent_is_refused(
    api: httpx.Client, client: Toxiproxy, upstreams: Upstreams
) -> None:
    browser = {"User-Agent": BROWSER}
    refused = api.post(
        "/proxies", json={"name": "csrf", "upstream": upstreams.echo}, headers=browser
    )
    assert (refused.status_code, refused.text) == (403, "User agent not allowed\n")
    assert refused.headers["content-type"] == "text/plain; charset=utf-8"
    via_client = APIConsumer.post("/reset", headers=browser)
    assert via_client.status_code == 403
    assert client.get_proxy("csrf") is None  # refused before anything ran
    # only the prefix counts, as strings.HasPrefix(r.UserAgent(), "Mozilla/")
    assert api.get("/proxies", headers={"User-Agent": "curl/8 (like Mozilla/5.0)"}).is_success


def test_populate_keeps_a_proxy_whose_listen_is_another_spelling(
    api: httpx.Client, client: Toxiproxy, upstreams: Upstreams
) -> None:
    port = free_port()
    item = {"name": "db", "upstream": upstreams.echo, "listen": f"localhost:{port}"}
    assert api.post("/populate", json=[item]).status_code == 201
    proxy = client.get_proxy("db")
    assert proxy.listen == f"127.0.0.1:{port}"  # bound as resolved
    proxy.add_toxic(type="latency", attributes={"latency": 1})
    with connect(port) as open_connection:
        for spelling in (f"localhost:{port}", f"127.0.0.1:{port}"):
            again = api.post("/populate", json=[{**item, "listen": spelling}])
            assert again.status_code == 201
            assert set(proxy.toxics()) == {"latency_downstream"}  # kept, not replaced
        # a PATCH naming the same address is no change either (Proxy.Update uses Differs)
        assert api.patch("/proxies/db", json={"listen": f"localhost:{port}"}).is_success
        open_connection.sendall(b"k")
        assert recv_exactly(open_connection, 1) == b"k"  # never dropped
    # a listen that does not resolve is Differs' error: 500, and the proxy is untouched
    broken = api.post("/populate", json=[{**item, "listen": "localhost"}])
    assert (broken.status_code, broken.json()) == (
        500,
        {"error": "address localhost: missing port in address", "status": 500, "proxies": None},
    )
    assert set(proxy.toxics()) == {"latency_downstream"}
    assert round_trip(port) < 5


def test_populate_lists_a_kept_proxy_as_it_is(
    api: httpx.Client, client: Toxiproxy, upstreams: Upstreams
) -> None:
    item = {"name": "kept", "upstream": upstreams.echo, "listen": f"127.0.0.1:{free_port()}"}
    assert api.post("/populate", json=[item]).status_code == 201
    client.get_proxy("kept").add_toxic(type="latency", attributes={"latency": 5})
    again = APIConsumer.post("/populate", json=[item])
    assert again.status_code == 201
    (listed,) = again.json()["proxies"]
    assert listed == api.get("/proxies/kept").json()
    assert (listed["enabled"], [t["name"] for t in listed["toxics"]]) == (
        True,
        ["latency_downstream"],
    )


def test_a_listen_conflict_names_the_resolved_address(
    api: httpx.Client, client: Toxiproxy, upstreams: Upstreams
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        item = {"name": "busy", "upstream": upstreams.echo, "listen": f"localhost:{port}"}
        raw = api.post("/proxies", json=item)
        via_client = APIConsumer.post("/proxies", json=item)
    expected = {
        "error": f"listen tcp 127.0.0.1:{port}: bind: address already in use",
        "status": 500,
    }
    assert (raw.status_code, raw.json()) == (500, expected)
    assert (via_client.status_code, via_client.json()) == (500, expected)
    assert client.get_proxy("busy") is None


def test_the_noop_toxic_is_accepted_and_read_back(
    api: httpx.Client, client: Toxiproxy, upstreams: Upstreams
) -> None:
    proxy = client.create(upstream=upstreams.echo, name="quiet")
    proxy.add_toxic(type="noop")
    toxic = proxy.get_toxic("noop_downstream")
    assert (toxic.type, toxic.stream, toxic.toxicity, toxic.attributes) == (
        "noop",
        "downstream",
        1,
        {},
    )
    created = api.post("/proxies/quiet/toxics", json={"type": "noop", "stream": "upstream"})
    assert created.status_code == 200
    assert created.text == (  # Go's field order and compact encoding; toxicity a float32
        '{"attributes":{},"name":"noop_upstream","type":"noop","stream":"upstream","toxicity":1}'
    )
    assert round_trip(int(proxy.listen.rsplit(":", 1)[1])) < 5  # passes everything through


def test_version_content_types_and_identification(
    api: httpx.Client, client: Toxiproxy, upstreams: Upstreams
) -> None:
    assert client.version() == b'{"version": "2.12.0"}\n'  # clients parse a bare semver
    version = api.get("/version")
    assert version.headers["content-type"] == "application/json;charset=utf-8"
    assert version.headers["server"].startswith("doubles.toxiproxy")  # who this server is
    created = api.post("/proxies", json={"name": "typed", "upstream": upstreams.echo})
    assert created.headers["content-type"] == "application/json"
    assert created.text.startswith('{"name":"typed","listen":"127.0.0.1:')
    toxic = api.post("/proxies/typed/toxics", json={"type": "latency", "toxicity": 0.123456789})
    assert toxic.json()["toxicity"] == 0.12345679  # float32, as Toxiproxy keeps it
    assert api.get("/proxies").headers["content-type"] == "application/json"
