"""The HTTP API (docs/conventions.md §4). ``async def`` handlers doing blocking I/O: the 3am bug."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from legacy.db import get_db
from legacy.schemas import ActivitiesRequest, ConversationEndRequest, NightlyRequest
from legacy.services.activities_service import suggest_activities
from legacy.services.alerts import send_alert
from legacy.services.conversation_service import find_processed_response, save_conversation
from legacy.services.events import publish_score_updated
from legacy.services.friendship_queries import friendship_response, load_friendship
from legacy.services.llm_analysis_utils import analyze_conversation, extract_memories_from_api
from legacy.services.nightly_job import run_nightly_job

router = APIRouter()


@router.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    try:
        with request.app.state.engine.connect() as conn:  # blocking, no timeout
            conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "not_ready", "database": "error"}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok"})


@router.post("/v1/conversations/end")
async def end_conversation(
    body: ConversationEndRequest, request: Request, db: Session = Depends(get_db)
) -> JSONResponse:
    settings = request.app.state.settings
    stored = find_processed_response(db, body.conversation_id)  # checks out a DB connection
    if stored is not None:
        return JSONResponse(stored)
    conversation = body.model_dump()
    analysis, degraded = analyze_conversation(settings, conversation["messages"])
    if not extract_memories_from_api(
        settings, body.user_id, body.agent_id, conversation["messages"]
    ):
        degraded.append("memory")
    response, written = save_conversation(db, conversation, analysis, degraded)
    if written:
        publish_score_updated(settings.amqp_url, response)
        if degraded:
            send_alert(
                settings.alert_webhook_url,
                "P2",
                "LLM fallback used",
                f"fallbacks used: {', '.join(degraded)}",
                body.conversation_id,
            )
    return JSONResponse(response)


@router.post("/v1/activities/suggest")
async def activities(
    body: ActivitiesRequest, request: Request, db: Session = Depends(get_db)
) -> dict:
    settings = request.app.state.settings
    friendship = load_friendship(db, body.user_id, body.agent_id)
    result = suggest_activities(settings, body.user_id, body.agent_id, body.limit, friendship)
    if result["source"] == "fallback":
        send_alert(settings.alert_webhook_url, "P2", "LLM fallback used", "activities fallback")
    return result


@router.get("/v1/friendships/{user_id}/{agent_id}")
async def get_friendship(user_id: str, agent_id: str, db: Session = Depends(get_db)) -> dict:
    friendship = load_friendship(db, user_id, agent_id)
    if friendship is None:
        raise HTTPException(status_code=404, detail="friendship not found")
    return friendship_response(friendship)


def require_admin(request: Request, authorization: str | None = Header(default=None)) -> None:
    expected = f"Bearer {request.app.state.settings.admin_token}"
    if authorization != expected:
        raise HTTPException(status_code=401, detail="invalid admin token")


@router.post("/v1/admin/nightly", dependencies=[Depends(require_admin)])
async def nightly(request: Request, body: NightlyRequest | None = None) -> dict:
    # Runs inline: the event loop is blocked until the whole job is done.
    now = body.now if body else None
    return run_nightly_job(request.app.state.engine, request.app.state.settings, now)
