"""The composition root's steps, one module per concern (refactored.main calls them).

Each step builds the adapters of its concern from the settings, honours the test's
:class:`~refactored.infrastructure.wiring.assembly.Overrides`, registers what it opens
on the lifespan's exit stack and queues its background tasks; none does I/O at import.
"""
