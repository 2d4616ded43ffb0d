"""GET /v1/articles/{id}: the article's current state, as much of it as the caller may read.

Who sees what (the README's security model):
- publisher or ops key: everything stored (version, status, data, withdrawal reason);
- anyone: a published article that a *public* feed carries (the same text that feed
  serves), and the tombstone of a withdrawn one (id, version, status) if its last released
  version was such an article (a story killed under embargo was never public: 404);
- anything else answers 404, the same as an unknown id, so ids of partner-only
  or unpublished stories are not revealed.
An article under embargo (its `embargoed` instant still ahead) is `status: "embargoed"`, with
that instant as `embargoed`, for key holders; without a key it is 404 until the release, like
any story no public feed carries yet.
Ids may contain `/`, hence the path converter. A key is optional, so the document lists the
publisher and ops schemes next to an empty requirement (schema.ANONYMOUS).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Security

from syndication.articles import ArticleStore
from syndication.api import params, query, schema
from syndication.errors import UnknownArticle
from syndication.feeds.index import public
from syndication.api.auth import bearer, check_key

router = APIRouter(dependencies=[Depends(query.known_only)])


def _publicly_visible(settings, data: dict) -> bool:
    return any(f.access == "public" and f.filters.matches(data) for f in settings.feeds)


def _with_embargo(article) -> dict:
    """The stored state for a key holder: while an embargo lies ahead, says so and until when."""
    out = article.public()
    if article.data and not article.withdrawn and not public(article):
        out["status"] = "embargoed"
        out["embargoed"] = article.data["embargoed"]
    return out


@router.get(
    "/v1/articles/{article_id:path}", tags=["articles"], summary="An article's current state",
    # Declared for the document only: the key is looked at below, and a wrong one just reads less.
    dependencies=[Security(schema.PUBLISHER_KEY), Security(schema.OPS_KEY)],
    openapi_extra={"security": [schema.ANONYMOUS]},
    responses={200: {"model": schema.ArticleState},
               **schema.errors(404, e404="Unknown, or not readable without a key (the same answer, so ids "
                                         "of unpublished or partner-only stories are not revealed)"),
               **schema.errors(422, e422="Not an article id (events.ID_PATTERN): no article can have it"),
               **schema.errors(429, 503)},
)
def get_article(article_id: params.ArticleId, request: Request):
    """The article's current version and status.

    With a publisher or ops key: everything stored. Without: a published article that a public
    feed carries, or the tombstone (id, version, status) of a withdrawn one; anything else is 404."""
    state = request.app.state
    article = ArticleStore.of(state.ctx).get(article_id)
    token = bearer(request)
    # A wrong key counts against the throttle: this route must not become a free key oracle.
    trusted = token is not None and check_key(request, token, state.settings.api_keys + state.settings.ops_keys) \
        is not None
    if article is not None and trusted:
        return _with_embargo(article)
    if article is None:
        raise UnknownArticle(f"no article with id {article_id!r}")
    if article.withdrawn:
        # Only a story the public could read has a public tombstone: one never released (killed under
        # embargo) or only ever in partner-only feeds is as unknown as an id never used.
        if article.released_data is not None and _publicly_visible(state.settings, article.released_data):
            return {"id": article.id, "version": article.version, "status": "withdrawn", "withdrawn_reason": None,
                    "last_event_id": None, "article": None}
    elif public(article) and _publicly_visible(state.settings, article.data):
        return article.public()
    raise UnknownArticle(f"no article with id {article_id!r}")
