"""Pure parts of the Toxiproxy-compatible server: toxic validation, defaults, seeded draws."""

from __future__ import annotations

import random

import pytest

from chaos.toxiproxy.__main__ import parse_args
from chaos.toxiproxy.proxy import is_loopback, split_host_port
from chaos.toxiproxy.toxics import (
    TOXIC_ATTRIBUTES,
    ApiError,
    Toxic,
    latency_delay_ms,
    slice_sizes,
    toxic_applies,
    toxic_from_json,
    update_toxic,
)

pytestmark = pytest.mark.unit


def test_defaults_follow_toxiproxy() -> None:
    toxic = toxic_from_json({"type": "latency"})
    assert toxic.to_json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 0, "jitter": 0},
    }
    assert toxic_from_json({"type": "slicer", "stream": "upstream"}).name == "slicer_upstream"


@pytest.mark.parametrize("toxic_type", sorted(TOXIC_ATTRIBUTES))
def test_every_documented_type_is_accepted_with_its_attributes(toxic_type: str) -> None:
    attributes = {key: 7 for key in TOXIC_ATTRIBUTES[toxic_type]}
    toxic = toxic_from_json({"type": toxic_type, "attributes": {**attributes, "unknown": 1}})
    assert toxic.attributes == attributes  # unknown keys ignored, as Go's decoder does


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "nope"}, "invalid toxic type"),
        ({}, "invalid toxic type"),
        ({"type": "latency", "stream": "sideways"}, "stream was invalid"),
        ({"type": "latency", "toxicity": 1.5}, "toxicity must be between 0 and 1"),
        ({"type": "latency", "toxicity": "high"}, "toxicity must be a number"),
        ({"type": "latency", "attributes": {"latency": "100"}}, "must be an integer"),
        ({"type": "latency", "attributes": {"latency": 1.5}}, "must be an integer"),
        ({"type": "latency", "attributes": {"latency": -1}}, "must be >= 0"),
        ({"type": "latency", "attributes": []}, "attributes must be a JSON object"),
        ([], "bad request body"),
    ],
)
def test_bad_toxics_are_400_with_a_reason(body: object, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        toxic_from_json(body)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_update_merges_attributes_and_bumps_generation() -> None:
    toxic = toxic_from_json({"type": "latency", "attributes": {"latency": 100}})
    updated = update_toxic(toxic, {"attributes": {"jitter": 10}})
    assert updated.attributes == {"latency": 100, "jitter": 10}
    assert (updated.toxicity, updated.generation) == (1.0, toxic.generation + 1)
    assert update_toxic(updated, {"toxicity": 0.25}).toxicity == 0.25


def _toxic(toxicity: float) -> Toxic:
    return Toxic("latency_downstream", "latency", "downstream", toxicity, {"latency": 1})


def test_toxicity_draw_is_a_function_of_seed_and_connection() -> None:
    half = _toxic(0.5)
    draws = [toxic_applies(3, "db", n, half) for n in range(200)]
    assert draws == [toxic_applies(3, "db", n, half) for n in range(200)]
    assert draws != [toxic_applies(4, "db", n, half) for n in range(200)]
    assert 60 < sum(draws) < 140  # about half
    assert not any(toxic_applies(3, "db", n, _toxic(0.0)) for n in range(200))
    assert all(toxic_applies(3, "db", n, _toxic(1.0)) for n in range(200))


def test_latency_jitter_stays_in_range_and_is_seeded() -> None:
    attributes = {"latency": 100, "jitter": 20}
    delays = [latency_delay_ms(attributes, random.Random(1)) for _ in range(3)]
    assert len(set(delays)) == 1
    rng = random.Random(2)
    many = [latency_delay_ms(attributes, rng) for _ in range(500)]
    assert min(many) >= 80 and max(many) <= 120 and len(set(many)) > 10


def test_slices_cover_the_data_within_the_variation() -> None:
    sizes = slice_sizes(1000, 10, 3, random.Random(0))
    assert sum(sizes) == 1000
    assert all(1 <= size <= 13 for size in sizes)
    assert min(sizes[:-1]) >= 7
    assert slice_sizes(5, 0, 0, random.Random(0)) == [5]  # average 0: no slicing


def test_addresses() -> None:
    assert split_host_port("127.0.0.1:80") == ("127.0.0.1", 80)
    assert split_host_port("[::1]:8080") == ("::1", 8080)
    assert split_host_port(":9") == ("127.0.0.1", 9)
    for bad in ("nohost", "h:port", "h:70000"):
        with pytest.raises(ApiError):
            split_host_port(bad)
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


def test_cli_accepts_toxiproxy_server_single_dash_flags() -> None:
    args = parse_args(["-host", "127.0.0.1", "-port=9000", "-seed", "5"])
    assert (args.host, args.port, args.seed) == ("127.0.0.1", 9000, 5)
    assert parse_args(["--port", "1"]).port == 1
