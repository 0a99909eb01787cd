"""Pure parts of the Toxiproxy-compatible server: toxic validation, defaults, seeded draws."""

from __future__ import annotations

import random

import pytest

from doubles.toxiproxy.__main__ import parse_args
from doubles.toxiproxy.proxy import is_loopback, split_host_port
from doubles.toxiproxy.toxics import (
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
    ("body", "status", "message"),
    [
        ({"type": "nope"}, 400, "invalid toxic type"),
        ({}, 400, "invalid toxic type"),
        (None, 400, "invalid toxic type"),  # JSON null: every default, no type
        ({"type": "latency", "stream": "sideways"}, 400, "stream was invalid"),
        ({"type": "nope", "stream": "sideways"}, 400, "stream was invalid"),  # stream first
        ({"type": "latency", "stream": ""}, 400, "stream was invalid"),
        ({"type": "latency", "toxicity": "high"}, 400, "bad request body: "),
        ({"type": "latency", "name": 5}, 400, "bad request body: "),
        ({"type": "latency", "attributes": {"latency": "100"}}, 400, "bad request body: "),
        ({"type": "latency", "attributes": {"latency": 1.5}}, 400, "bad request body: "),
        ({"type": "latency", "attributes": {"latency": True}}, 400, "bad request body: "),
        ({"type": "latency", "attributes": {"latency": 2**63}}, 400, "bad request body: "),
        ({"type": "latency", "attributes": []}, 400, "bad request body: "),
        ({"type": "nope", "attributes": []}, 400, "bad request body: "),  # decoded first
        ([], 400, "bad request body: "),
        # the name is refused before the attributes are decoded, as AddToxicJson does
        ({"type": "latency", "name": "taken", "attributes": {"x": 1}}, 409, "toxic already exists"),
        ({"type": "bandwidth", "stream": "upstream", "attributes": {"rate": "x"}}, 409, "toxic"),
    ],
)
def test_bad_toxics_have_toxiproxy_status_and_reason(
    body: object, status: int, message: str
) -> None:
    with pytest.raises(ApiError) as caught:
        toxic_from_json(body, taken={"taken", "bandwidth_upstream"})
    assert caught.value.status == status
    assert caught.value.message.startswith(message)


def test_out_of_range_toxicity_and_negative_attributes_are_kept_as_given() -> None:
    # Toxiproxy validates neither: toxicity is a float32 compared with rand.Float32()
    toxic = toxic_from_json(
        {"type": "latency", "toxicity": 1.5, "attributes": {"latency": -100, "jitter": -5}}
    )
    assert (toxic.toxicity, toxic.attributes) == (1.5, {"latency": -100, "jitter": -5})
    assert toxic_applies(3, "db", 0, toxic)  # > 1: always acts
    assert not toxic_applies(3, "db", 0, update_toxic(toxic, {"toxicity": -0.5}))  # < 0: never
    assert latency_delay_ms(toxic.attributes, random.Random(0)) == 0.0  # negative: no delay
    limit = toxic_from_json({"type": "limit_data", "attributes": {"bytes": -1}})
    assert limit.attributes == {"bytes": -1}


def test_null_leaves_defaults_and_stream_is_case_insensitive() -> None:
    toxic = toxic_from_json(
        {"type": "latency", "stream": "UpStream", "toxicity": None, "attributes": None}
    )
    assert (toxic.name, toxic.stream, toxic.direction) == (
        "latency_UpStream",
        "UpStream",
        "upstream",
    )
    assert (toxic.toxicity, toxic.attributes) == (1.0, {"latency": 0, "jitter": 0})
    updated = update_toxic(toxic, {"attributes": {"latency": None, "jitter": 3}})
    assert updated.attributes == {"latency": 0, "jitter": 3}
    assert update_toxic(updated, None).generation == updated.generation + 1  # restarted anyway


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
