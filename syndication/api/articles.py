"""GET /v1/articles/{id}: the article's current state, as much of it as the caller may read.

Who sees what (the README's security model):
- publisher or ops key: everything stored (version, status, data, withdrawal reason);
- anyone: a published article that a *public* feed carries (the same text that feed
  serves), and the tombstone of a withdrawn one (id, version, status);
- anything else answers 404, the same as an unknown id, so ids of partner-only
  or unpublished stories are not revealed.
Ids may contain `/`, hence the path converter.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from .auth import bearer, key_matches

router = APIRouter()


def _publicly_visible(settings, data: dict) -> bool:
    return any(f.access == "public" and f.filters.matches(data) for f in settings.feeds)


@router.get("/v1/articles/{article_id:path}", tags=["articles"])
def get_article(article_id: str, request: Request):
    """The article's current version and status (data for key holders or public-feed articles)."""
    state = request.app.state
    article = state.ctx.articles.get(article_id)
    token = bearer(request)
    trusted = token is not None and key_matches(token, state.settings.api_keys + state.settings.ops_keys)
    if article is not None and trusted:
        return article.public()
    if article is not None and article.withdrawn:
        return {"id": article.id, "version": article.version, "status": "withdrawn", "withdrawn_reason": None,
                "last_event_id": None, "article": None}
    if article is not None and article.data and _publicly_visible(state.settings, article.data):
        return article.public()
    raise HTTPException(404, f"no article with id {article_id!r}")
