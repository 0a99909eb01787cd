"""Fault-controllable fakes of the service's dependencies: LLM, Memory API, Google Chat webhook.

Each fake is a small FastAPI app (``create_app()``) runnable as its own process
(``python -m doubles.fakes.llm|memory|webhook --host 127.0.0.1 --port PORT``) and
shares the control API of :mod:`doubles.fakes.control`. See docs/fakes.md.
"""
