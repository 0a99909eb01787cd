"""Addresses, JSON and request ids as Toxiproxy's Go (net, encoding/json, rs/xid) makes them."""

from __future__ import annotations

import asyncio

import pytest

from doubles.toxiproxy.addresses import AddressError, TcpAddress, resolve_tcp_address
from doubles.toxiproxy.toxics import float32_json, toxic_from_json
from doubles.toxiproxy.wire import RequestIds, go_json

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("listen", "resolved"),
    [
        ("127.0.0.1:7070", "127.0.0.1:7070"),
        ("[::1]:7070", "[::1]:7070"),
        ("[::ffff:127.0.0.1]:7070", "127.0.0.1:7070"),  # Go prints v4-mapped as IPv4
        (":7070", ":7070"),  # every interface in Go: never equal to a bound address
        ("", ":0"),
        ("127.0.0.1:", "127.0.0.1:0"),
    ],
)
def test_literal_addresses_resolve_as_go_prints_them(listen: str, resolved: str) -> None:
    assert str(asyncio.run(resolve_tcp_address(listen))) == resolved


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("localhost", "address localhost: missing port in address"),
        ("::1:80", "address ::1:80: too many colons in address"),
        ("[::1:80", "address [::1:80: missing ']' in address"),
        ("[::1]", "address [::1]: missing port in address"),
        ("[::1]x:80", "address [::1]x:80: missing port in address"),
        ("a]:80", "address a]:80: unexpected ']' in address"),
        ("127.0.0.1:70000", "address 70000: invalid port"),
        ("127.0.0.1:no-such-service", "lookup tcp/no-such-service: unknown port"),
    ],
)
def test_unresolvable_addresses_have_go_messages(listen: str, message: str) -> None:
    with pytest.raises(AddressError) as caught:
        asyncio.run(resolve_tcp_address(listen))
    assert str(caught.value) == message


def test_a_tcp_address_prints_as_go_tcpaddr() -> None:
    assert [str(TcpAddress(h, 80)) for h in ("10.0.0.1", "::1", "")] == [
        "10.0.0.1:80",
        "[::1]:80",
        ":80",
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1.0, 1), (0.5, 0.5), (0.1, 0.1), (0.123456789, 0.12345679), (1.5, 1.5), (-2.0, -2)],
)
def test_toxicity_is_shown_as_a_go_float32(value: float, shown: float) -> None:
    rendered = float32_json(value)
    assert (rendered, type(rendered)) == (shown, type(shown))


def test_noop_has_no_attributes_and_toxiproxy_defaults() -> None:
    toxic = toxic_from_json({"type": "noop", "attributes": {"latency": 5}})
    assert go_json(toxic.to_json()) == (
        b'{"attributes":{},"name":"noop_downstream","type":"noop","stream":"downstream",'
        b'"toxicity":1}'
    )


def test_go_json_escapes_html_characters() -> None:
    assert go_json({"name": "<a&b>\u2028é"}) == b'{"name":"\\u003ca\\u0026b\\u003e\\u2028\xc3\xa9"}'


def test_request_ids_are_xids() -> None:
    ids = RequestIds()
    first, second = ids.next(), ids.next()
    assert len(first) == 20 and set(first) <= set("0123456789abcdefghijklmnopqrstuv")
    assert first != second and first[:8] <= second[:8]  # time first: ids sort by time
