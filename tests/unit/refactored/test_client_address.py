"""The rate limiter's client key: the TCP peer, or behind a trusted proxy the right-most
untrusted X-Forwarded-For hop; never a value the client alone chose."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest
from pydantic import ValidationError

from refactored.core.settings import ExplicitSettings
from refactored.infrastructure.web.client_address import (
    UNKNOWN,
    _client_key,
    client_address,
    forwarded_chain,
    parse_hop,
)

pytestmark = pytest.mark.unit
LB = [ip_network("10.0.0.2/32")]
LB_AND_MESH = [ip_network("10.0.0.2/32"), ip_network("172.16.0.0/12"), ip_network("::1/128")]


def key(peer: str | None, xff: str | list[str] = "", trusted: Any = LB) -> str:
    values = [xff] if isinstance(xff, str) else xff
    return client_address(peer, forwarded_chain(values), trusted)


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert key("203.0.113.7") == "203.0.113.7"
    assert key("203.0.113.7", "1.2.3.4") == "203.0.113.7"
    assert key("203.0.113.7", "10.0.0.2") == "203.0.113.7"  # naming the LB buys nothing


def test_no_trusted_proxies_by_default_means_the_peer_even_on_loopback() -> None:
    assert key("127.0.0.1", "1.2.3.4", trusted=()) == "127.0.0.1"


def test_behind_the_trusted_load_balancer_the_forwarded_client_is_the_key() -> None:
    assert key("10.0.0.2", "198.51.100.1") == "198.51.100.1"
    assert key("10.0.0.2", "198.51.100.2") == "198.51.100.2"


def test_a_forged_chain_is_ignored_left_of_the_rightmost_untrusted_hop() -> None:
    # the client sent "X-Forwarded-For: 6.6.6.6, 10.0.0.2" itself; an appending LB added its peer
    assert key("10.0.0.2", "6.6.6.6, 10.0.0.2, 198.51.100.1") == "198.51.100.1"
    # a chain through several trusted hops: the first untrusted one from the right
    assert key("10.0.0.2", "6.6.6.6, 198.51.100.1, 172.16.4.4", LB_AND_MESH) == "198.51.100.1"


def test_when_every_hop_is_trusted_the_left_most_one_is_the_client() -> None:
    assert key("10.0.0.2", "172.16.9.9, 172.16.4.4", LB_AND_MESH) == "172.16.9.9"
    assert key("10.0.0.2") == "10.0.0.2"  # the LB itself (its health checks)


def test_a_hop_that_is_not_an_address_stops_the_walk_at_the_trusted_hop_right_of_it() -> None:
    assert key("10.0.0.2", "unknown") == "10.0.0.2"
    assert key("10.0.0.2", "198.51.100.1, <script>") == "10.0.0.2"
    assert key("10.0.0.2", "junk, 198.51.100.1") == "198.51.100.1"


def test_several_headers_are_one_chain_in_order() -> None:
    assert key("10.0.0.2", ["6.6.6.6", "198.51.100.1"]) == "198.51.100.1"


def test_hops_with_ports_and_brackets() -> None:
    assert key("10.0.0.2", "198.51.100.1:5555") == "198.51.100.1"
    assert key("10.0.0.2", "[2001:db8::1]:443") == "2001:db8::/64"
    assert parse_hop("[::1") is None


def test_ipv6_clients_are_keyed_by_their_64() -> None:
    assert key("2001:db8:1:2::5") == "2001:db8:1:2::/64"
    assert key("2001:db8:1:2:ffff::9") == key("2001:db8:1:2::5")  # same /64: one budget
    assert key("2001:db8:1:3::5") != key("2001:db8:1:2::5")
    assert key("2001:DB8:1:2::5") == "2001:db8:1:2::/64"  # one spelling


def test_ipv4_mapped_ipv6_is_the_ipv4_client() -> None:
    assert key("::ffff:203.0.113.7") == "203.0.113.7"
    assert key("::1", "::ffff:198.51.100.1", LB_AND_MESH) == "198.51.100.1"


def test_an_ipv6_trusted_proxy_forwarding_an_ipv4_client() -> None:
    assert key("::1", "198.51.100.1", LB_AND_MESH) == "198.51.100.1"
    assert key("::1", "198.51.100.1", LB) == "::/64"  # ::1 not trusted here: the peer


def test_no_peer_at_all() -> None:
    assert key(None, "1.2.3.4") == UNKNOWN


def test_keys_are_kept_per_peer_chain_and_trust() -> None:
    """The parsed answer is reused (no address parsing per request), and each of the three
    inputs is part of what it is kept under."""
    _client_key.cache_clear()
    assert key("10.0.0.2", "198.51.100.7") == "198.51.100.7"
    assert key("10.0.0.2", "198.51.100.7") == "198.51.100.7"
    assert _client_key.cache_info().hits == 1
    assert key("10.0.0.2", "198.51.100.8") == "198.51.100.8"  # another chain
    assert key("10.0.0.2", "198.51.100.7", trusted=[]) == "10.0.0.2"  # another trust
    assert key("10.0.0.3", "198.51.100.7") == "10.0.0.3"  # another peer
    assert _client_key.cache_info().hits == 1


def base(**extra: Any) -> ExplicitSettings:
    return ExplicitSettings(
        database_url="postgresql://x@127.0.0.1/x",
        llm_base_url="http://llm",
        memory_api_url="http://memory",
        **extra,
    )


def test_trusted_proxies_setting_takes_ips_and_cidrs_and_defaults_to_none() -> None:
    assert base().trusted_proxies == ()
    parsed = base(trusted_proxies=" 127.0.0.1, 10.1.2.3/8 ,::1").trusted_proxies
    assert parsed == (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("::1/128"))


@pytest.mark.parametrize("value", ["*", "localhost", "10.0.0.0/33"])
def test_trusted_proxies_refuses_anything_but_addresses(value: str) -> None:
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        base(trusted_proxies=value)
