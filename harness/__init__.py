"""Shared by every part: processes, ports, PostgreSQL, the stack, reports, the gate."""
