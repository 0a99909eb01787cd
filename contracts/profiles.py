"""The two contract profiles (CONTRACTS_PROFILE=fast|deep), applied per test, never globally.

Applying them per test (not ``settings.load_profile``) keeps the other tiers'
Hypothesis settings untouched when ``make test`` runs everything in one session.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, settings

from contracts.report import profile_name


@dataclass(frozen=True)
class Profile:
    rules_examples: int
    sequences: int
    requests_per_sequence: int
    derandomize: bool
    fault_sequences: int  # sequences replayed per fault schedule (seeds 0.., as the pairs)
    minimise_replays: int  # budget of the minimiser, per mismatch: replays ...
    minimise_seconds: float  # ... and seconds (no replay starts after; pytest timeout 300 s)


PROFILES = {
    # fast is part of `make test`: deterministic (derandomize, fixed seeds) so it cannot flake
    "fast": Profile(
        rules_examples=200,
        sequences=1,
        requests_per_sequence=40,
        derandomize=True,
        fault_sequences=1,
        minimise_replays=12,
        minimise_seconds=90,
    ),
    "deep": Profile(
        rules_examples=5000,
        sequences=10,
        requests_per_sequence=200,
        derandomize=False,
        fault_sequences=3,
        minimise_replays=30,
        minimise_seconds=120,
    ),
}


def current() -> Profile:
    name = profile_name()
    if name not in PROFILES:
        raise ValueError(f"CONTRACTS_PROFILE={name!r} is unknown: use one of {', '.join(PROFILES)}")
    return PROFILES[name]


def rules_settings() -> settings:
    p = current()
    return settings(
        max_examples=p.rules_examples,
        deadline=None,
        derandomize=p.derandomize,
        print_blob=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
