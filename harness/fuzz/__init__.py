"""``make fuzz``: Schemathesis over each target's OpenAPI plus a battery of hostile inputs.

See docs/fuzz.md. ``run.run_fuzz`` boots the stack, sends, reads the webhook fake's
cards and writes ``reports/<run-id>/fuzz.json`` + ``fuzz.md``.
"""
