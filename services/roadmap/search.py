"""Ranked text search over item key, title and description, on either database.

PostgreSQL: full-text search (english stemming) over an expression GIN index, key and
title weighted above description. SQLite: the FTS5 table the migration keeps in step,
ranked by bm25 with the same weighting. Either way any word may match (OR), and items
matching more of the words, or rarer ones, rank higher: the caller is usually matching a
salesperson's phrasing ("SSO with Okta") against roadmap titles.
"""

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Keep in step with the expression index in the initial migration, or the index goes unused.
PG_DOCUMENT = (
    "setweight(to_tsvector('english', key), 'A') || "
    "setweight(to_tsvector('english', title), 'A') || "
    "setweight(to_tsvector('english', description), 'B')"
)

_PG_SEARCH = text(
    f"""
    WITH query AS (
        SELECT replace(plainto_tsquery('english', :q)::text, '&', '|')::tsquery AS tsq
    )
    SELECT key, ts_rank({PG_DOCUMENT}, query.tsq) AS score
    FROM roadmap_items, query
    WHERE {PG_DOCUMENT} @@ query.tsq
    ORDER BY score DESC, key
    LIMIT :limit
    """
)

# bm25 is lower-is-better; column weights: key, title, description.
_SQLITE_SEARCH = text(
    """
    SELECT key, -bm25(roadmap_items_fts, 10.0, 10.0, 1.0) AS score
    FROM roadmap_items_fts
    WHERE roadmap_items_fts MATCH :q
    ORDER BY score DESC, key
    LIMIT :limit
    """
)

_WORD = re.compile(r"\w+")


def fts5_any_word(query: str) -> str:
    """A user's words as an FTS5 query matching any of them, each quoted so none is syntax."""
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(_WORD.findall(query.lower())))


async def search_item_keys(
    connection: AsyncConnection, query: str, limit: int
) -> list[tuple[str, float]]:
    """(key, score) pairs, best first."""
    if connection.dialect.name == "postgresql":
        rows = await connection.execute(_PG_SEARCH, {"q": query, "limit": limit})
    else:
        match = fts5_any_word(query)
        if not match:
            return []
        rows = await connection.execute(_SQLITE_SEARCH, {"q": match, "limit": limit})
    return [(key, float(score)) for key, score in rows]
