"""GET /v1/articles/{id}: the article's current state (version, status, data)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

router = APIRouter()


@router.get("/v1/articles/{article_id}", tags=["articles"])
def get_article(article_id: str, request: Request):
    state = request.app.state.ctx.articles.get(article_id)
    if state is None:
        raise HTTPException(404, f"no article with id {article_id!r}")
    return state.public()
