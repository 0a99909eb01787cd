"""Chaos tooling: fault-controllable fakes, the Toxiproxy-compatible server, scenarios, runner."""
