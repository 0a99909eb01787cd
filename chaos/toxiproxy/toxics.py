"""Toxic definitions: types, attribute defaults, validation, and the seeded random choices.

Pure code (no I/O), so it is unit-tested on its own. Attribute names, units and defaults
follow Toxiproxy's documentation; see docs/toxiproxy.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

STREAMS = ("upstream", "downstream")

# type -> attribute -> default (all integers, as in Toxiproxy's Go structs)
TOXIC_ATTRIBUTES: dict[str, dict[str, int]] = {
    "latency": {"latency": 0, "jitter": 0},  # ms
    "bandwidth": {"rate": 0},  # KB/s (1 KB = 1000 bytes); <= 0 means unlimited
    "slow_close": {"delay": 0},  # ms
    "timeout": {"timeout": 0},  # ms; 0 = never close while the toxic exists
    "reset_peer": {"timeout": 0},  # ms after the first data
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},  # bytes, bytes, µs
    "limit_data": {"bytes": 0},
}


class ApiError(Exception):
    """An error the HTTP API reports as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def bad_request(message: str) -> ApiError:
    return ApiError(message, 400)


@dataclass
class Toxic:
    """One toxic as the API shows it; ``generation`` changes on every update."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]
    generation: int = field(default=0, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def _validate_toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request("toxicity must be a number between 0 and 1")
    if not 0.0 <= float(value) <= 1.0:
        raise bad_request("toxicity must be between 0 and 1")
    return float(value)


def validate_attributes(
    toxic_type: str, raw: object, current: dict[str, int] | None = None
) -> dict[str, int]:
    """Merge ``raw`` into ``current`` (or the defaults); integers >= 0 only.

    Unknown keys are ignored, as Go's JSON decoding does.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad_request("attributes must be a JSON object")
    merged = dict(current if current is not None else TOXIC_ATTRIBUTES[toxic_type])
    for key in TOXIC_ATTRIBUTES[toxic_type]:
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"attribute {key!r} of a {toxic_type} toxic must be an integer")
        if value < 0:
            raise bad_request(f"attribute {key!r} of a {toxic_type} toxic must be >= 0")
        merged[key] = value
    return merged


def toxic_from_json(body: object) -> Toxic:
    """Build a new toxic from a POST /proxies/{proxy}/toxics body (Toxiproxy's defaults)."""
    if not isinstance(body, dict):
        raise bad_request("bad request body")
    toxic_type = body.get("type")
    if not isinstance(toxic_type, str) or toxic_type not in TOXIC_ATTRIBUTES:
        raise bad_request("invalid toxic type")
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise bad_request("stream was invalid, can be either upstream or downstream")
    name = body.get("name") or f"{toxic_type}_{stream}"
    if not isinstance(name, str):
        raise bad_request("name must be a string")
    toxicity = _validate_toxicity(body["toxicity"]) if "toxicity" in body else 1.0
    attributes = validate_attributes(toxic_type, body.get("attributes"))
    return Toxic(name, toxic_type, stream, toxicity, attributes)


def update_toxic(toxic: Toxic, body: object) -> Toxic:
    """Apply a POST /proxies/{proxy}/toxics/{toxic} body: attributes and/or toxicity."""
    if not isinstance(body, dict):
        raise bad_request("bad request body")
    toxicity = _validate_toxicity(body["toxicity"]) if "toxicity" in body else toxic.toxicity
    attributes = validate_attributes(toxic.type, body.get("attributes"), toxic.attributes)
    return Toxic(toxic.name, toxic.type, toxic.stream, toxicity, attributes, toxic.generation + 1)


def toxic_applies(seed: int, proxy: str, connection: int, toxic: Toxic) -> bool:
    """Decide, reproducibly, whether ``toxic`` acts on one connection (its ``toxicity``).

    The draw depends only on the server seed and the names/ordinals involved, never on the
    order in which concurrent events happen, so a run with the same seed and the same
    connection sequence replays exactly.
    """
    if toxic.toxicity >= 1.0:
        return True
    if toxic.toxicity <= 0.0:
        return False
    rng = random.Random(f"{seed}/{proxy}/{connection}/{toxic.name}/{toxic.generation}")
    return rng.random() < toxic.toxicity


def connection_rng(seed: int, proxy: str, connection: int, stream: str) -> random.Random:
    """The random source for jitter and slice sizes of one direction of one connection."""
    return random.Random(f"{seed}/{proxy}/{connection}/{stream}/data")


def latency_delay_ms(attributes: dict[str, int], rng: random.Random) -> float:
    jitter = attributes["jitter"]
    delay = attributes["latency"]
    if jitter > 0:
        delay += rng.randint(-jitter, jitter)
    return float(max(0, delay))


def slice_sizes(length: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Split ``length`` bytes into slices of ``average`` ± ``variation`` bytes (>= 1 each)."""
    if average <= 0:
        return [length] if length else []
    sizes: list[int] = []
    remaining = length
    while remaining > 0:
        size = average + (rng.randint(-variation, variation) if variation > 0 else 0)
        size = max(1, min(size, remaining))
        sizes.append(size)
        remaining -= size
    return sizes
