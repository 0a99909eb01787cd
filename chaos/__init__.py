"""Chaos scenarios (one module per failure mode, one registry) and their engine: the load
generator, the fault timeline, the measurements. Imports the platform (``testbed``) only;
the runs that boot stacks and write reports are ``harness.chaos_run``.
"""
