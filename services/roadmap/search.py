"""Ranked text search over roadmap items, on either database.

An item named by its key in the query ("RM-12") ranks first. The rest of the query is a
full-text match over title and description: PostgreSQL full-text search (english config)
over stored documents with a GIN index, title weighted above description; SQLite an FTS5
table (porter stemming), ranked by bm25 with the same weighting; on both, triggers keep the
index in step with the items. Either way any word may match (OR), English stopwords are
ignored, and items matching more of the words, or rarer ones, rank higher: the caller is
usually matching a salesperson's phrasing ("SSO with Okta") against roadmap titles.
"""

import re

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.types import ITEM_KEY_PATTERN
from services.roadmap.tables import roadmap_items

# Each item's weighted document (title A, description B) is stored in roadmap_items_fts by
# a trigger (migration 0003) and ranked from there.
_PG_SEARCH = text(
    """
    WITH query AS (
        SELECT replace(plainto_tsquery('english', :q)::text, '&', '|')::tsquery AS tsq
    )
    SELECT fts.key, ts_rank(fts.document, query.tsq) AS score
    FROM roadmap_items_fts AS fts, query
    WHERE fts.document @@ query.tsq
    ORDER BY score DESC, fts.key
    LIMIT :limit
    """
)

# bm25 is lower-is-better; column weights: key (not indexed), title, description.
_SQLITE_SEARCH = text(
    """
    SELECT key, -bm25(roadmap_items_fts, 0.0, 4.0, 1.0) AS score
    FROM roadmap_items_fts
    WHERE roadmap_items_fts MATCH :q
    ORDER BY score DESC, key
    LIMIT :limit
    """
)

_WORD = re.compile(r"\w+")
# An item key anywhere in the query, in any case ("rm-12" names RM-12).
_KEY = re.compile(rf"\b{ITEM_KEY_PATTERN.strip('^$')}\b", re.IGNORECASE)

# PostgreSQL's english stopword list, so SQLite ignores the same words.
ENGLISH_STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will
    just don should now""".split()  # noqa: SIM905 - a word list reads best as text
)


def fts5_any_word(query: str) -> str:
    """A user's words as an FTS5 query matching any of them, each quoted so none is syntax."""
    words = dict.fromkeys(word for word in _WORD.findall(query.lower()))
    return " OR ".join(f'"{word}"' for word in words if word not in ENGLISH_STOPWORDS)


async def _key_hits(connection: AsyncConnection, query: str) -> list[str]:
    named = list(dict.fromkeys(match.upper() for match in _KEY.findall(query)))
    if not named:
        return []
    found = set(
        (
            await connection.execute(
                select(roadmap_items.c.key).where(roadmap_items.c.key.in_(named))
            )
        ).scalars()
    )
    return [key for key in named if key in found]


async def _text_hits(
    connection: AsyncConnection, query: str, limit: int
) -> list[tuple[str, float]]:
    if connection.dialect.name == "postgresql":
        rows = await connection.execute(_PG_SEARCH, {"q": query, "limit": limit})
    else:
        match = fts5_any_word(query)
        if not match:
            return []
        rows = await connection.execute(_SQLITE_SEARCH, {"q": match, "limit": limit})
    return [(key, float(score)) for key, score in rows]


async def search_item_keys(
    connection: AsyncConnection, query: str, limit: int
) -> list[tuple[str, float]]:
    """(key, score) pairs, best first; items named by key score above every text match."""
    named = await _key_hits(connection, query)
    text_hits = [hit for hit in await _text_hits(connection, query, limit) if hit[0] not in named]
    top = max((score for _, score in text_hits), default=0.0) + 1.0
    return ([(key, top) for key in named] + text_hits)[:limit]
