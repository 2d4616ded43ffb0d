"""GET /v1/articles/{id}: the article's current state (version, status, data)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from ..delivery import records

router = APIRouter()


@router.get("/v1/articles/{article_id}", tags=["articles"])
def get_article(article_id: str, request: Request):
    state = request.app.state.ctx.articles.get(article_id)
    if state is None:
        raise HTTPException(404, f"no article with id {article_id!r}")
    return state.public()


@router.get("/v1/deliveries", tags=["deliveries"])
def list_deliveries(request: Request, article_id: str | None = None, partner: str | None = None,
                    state: str | None = None, limit: int = 100):
    """Deliveries of an article, or of a partner (optionally in one state), newest first."""
    ctx = request.app.state.ctx
    if article_id:
        recs = records.for_article(ctx, article_id)
    elif partner:
        ids = [i.decode() for i in ctx.redis.zrevrange(ctx.keys.partner_history(partner), 0, max(1, limit) * 10)]
        recs = records.get_many(ctx, ids)
    else:
        raise HTTPException(400, "give article_id or partner")
    if state:
        recs = [r for r in recs if r["status"] == state]
    for r in recs[:limit]:
        r["attempt_log"] = records.attempts(ctx, r["id"])
    return {"deliveries": recs[:limit]}
