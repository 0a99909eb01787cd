"""The scenarios in Locust's web UI: a *Scenarios* tab that documents them, a *Verdict* tab
with the last run's thresholds, and JSON routes for scripts and tests.

Locust lets a locustfile extend its UI (docs.locust.io "Extending the web UI"): tabs are
declared in ``web_ui.template_args`` (``extended_tabs``, ``extended_tables``) and filled
from an ``extended_stats`` entry of each ``/stats/requests`` answer, which the UI polls.
"""

from __future__ import annotations

import json

from flask import Response, jsonify, request
from locust.env import Environment

from loadtests.locust_plugin import select_shape
from loadtests.scenarios import SCENARIOS
from loadtests.verdict_view import TABLES, TABS, scenario_rows, verdict_json, verdict_rows


def extend_web_ui(environment: Environment) -> None:
    web_ui = environment.web_ui
    assert web_ui is not None
    web_ui.template_args["extended_tabs"] = TABS
    web_ui.template_args["extended_tables"] = TABLES
    app = web_ui.app
    assert app is not None

    @app.after_request
    def add_tables(response: Response) -> Response:
        if request.path.rstrip("/").endswith("/stats/requests") and response.is_json:
            data = response.get_json() or {}
            data["extended_stats"] = [
                {"key": "scenarios", "data": scenario_rows()},
                {"key": "verdict", "data": verdict_rows()},
            ]
            response.set_data(json.dumps(data))
        return response

    @app.before_request
    def pick_scenario() -> None:
        """Without --class-picker the UI's *scenario* field picks the shape."""
        swarm = request.path.rstrip("/").endswith("/swarm")
        if swarm and not web_ui.userclass_picker_is_active and "scenario" in request.form:
            name = request.form.get("scenario") or ""
            select_shape(environment, name if name in SCENARIOS else None)

    @app.route("/scenario/verdict")
    def scenario_verdict() -> Response:
        return jsonify(verdict_json())
