"""Reading from the roadmap service what the conflict rules need, in as few calls as the
rules allow: one batch read of every linked item, the vision tags (revalidated by ETag, so
an unchanged set costs a 304), and a search per distinct text of the unlinked features for
their best matches."""

import asyncio
from collections.abc import Mapping, Sequence

from gateway.evaluation import (
    LINK_NEEDED,
    Commitment,
    RoadmapItem,
    RoadmapSnapshot,
    SearchMatch,
)
from gateway.upstream import Upstream, UpstreamBroken
from kit.contracts.roadmap import RoadmapItemBatch, SearchResults, VisionTagList

MATCHES_SHOWN = 3
SEARCH_TEXT_LIMIT = 500  # the roadmap search's own limit on `q`


class VisionTagCache:
    """The vision tags' kinds by slug, revalidated with If-None-Match on every use: always
    current, and cheap while nothing changed."""

    def __init__(self, roadmap: Upstream) -> None:
        self.roadmap = roadmap
        self.etag: str | None = None
        self.kinds: dict[str, str] = {}

    async def current(self) -> dict[str, str]:
        # The kinds the ETag sent names: a slower concurrent read may replace the cache
        # with older kinds meanwhile, and a 304 vouches only for what was sent.
        etag, kinds = self.etag, self.kinds
        headers = {"If-None-Match": etag} if etag else {}
        response = await self.roadmap.request("GET", "/vision-tags", headers=headers)
        if response.status_code == 304 and etag is not None:
            return kinds
        if response.status_code != 200:
            raise UpstreamBroken(self.roadmap.name, f"vision tags answered {response.status_code}")
        tags = self.roadmap.parse(response, VisionTagList)
        self.kinds = {tag.slug: tag.kind.value for tag in tags.items}
        self.etag = response.headers.get("ETag")
        return self.kinds


async def read_items(roadmap: Upstream, keys: Sequence[str]) -> dict[str, RoadmapItem]:
    if not keys:
        return {}
    response = await roadmap.request(
        "POST", "/items/batch", json={"keys": list(keys)}, idempotent=True
    )
    if response.status_code != 200:
        raise UpstreamBroken(roadmap.name, f"the batch read answered {response.status_code}")
    batch = roadmap.parse(response, RoadmapItemBatch)
    return {
        item.key: RoadmapItem(
            key=item.key,
            title=item.title,
            status=item.status.value,
            version=item.version,
            planned_end=item.planned_end,
            confidence=item.confidence.value,
            vision_tags=tuple(item.vision_tags),
            owner=item.owner,
            area=item.area,
        )
        for item in batch.items
    }


async def best_matches(roadmap: Upstream, summary: str) -> tuple[SearchMatch, ...]:
    response = await roadmap.request(
        "GET",
        "/items/search",
        params={"q": summary[:SEARCH_TEXT_LIMIT], "limit": MATCHES_SHOWN},
    )
    if response.status_code != 200:
        raise UpstreamBroken(roadmap.name, f"the search answered {response.status_code}")
    results = roadmap.parse(response, SearchResults)
    return tuple(
        SearchMatch(key=hit.item.key, title=hit.item.title, score=round(hit.score, 4))
        for hit in results.items
    )


async def read_snapshots(
    roadmap: Upstream, tags: VisionTagCache, promises: Mapping[str, Commitment]
) -> dict[str, RoadmapSnapshot]:
    """One snapshot per promise id; they share the items and the tags read once."""
    keys = sorted({p.roadmap_item_key for p in promises.values() if p.roadmap_item_key})
    # One search per distinct text: promises copied across deals share their matches.
    searched = sorted(
        {
            promise.summary
            for promise in promises.values()
            if not promise.roadmap_item_key and promise.kind in LINK_NEEDED
        }
    )
    items, tag_kinds, *matches = await asyncio.gather(
        read_items(roadmap, keys),
        tags.current(),
        *(best_matches(roadmap, summary) for summary in searched),
    )
    matches_of = dict(zip(searched, matches, strict=True))
    return {
        promise_id: RoadmapSnapshot(
            items=items,
            tag_kinds=tag_kinds,
            matches=matches_of.get(promise.summary, ())
            if not promise.roadmap_item_key and promise.kind in LINK_NEEDED
            else (),
        )
        for promise_id, promise in promises.items()
    }
