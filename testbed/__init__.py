"""The platform every run stands on: processes, ports, PostgreSQL, Caddy, launching the
doubles, the stack and its ``stack.json``, the results schema and statistics, the
production timeouts (docs/conventions.md §11). It knows no scenario: ``chaos``,
``loadtests`` and ``harness`` import it, never the reverse.
"""
