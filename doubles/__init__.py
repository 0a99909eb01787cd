"""The doubles: standalone servers the stack talks to instead of real dependencies.

The fakes (LLM, Memory API, Google Chat webhook) and a Toxiproxy-compatible server. Each
runs as its own process (``python -m doubles.fakes.llm``, ``python -m doubles.toxiproxy``)
and imports nothing else of the harness: no platform, no scenario, no CLI.
"""
