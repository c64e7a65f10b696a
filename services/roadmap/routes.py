"""The roadmap service's HTTP API (internal: every route needs the service token)."""

from typing import Annotated

from fastapi import Header, Query, Response, status

from kit.contracts.parameters import ItemKeyPath, TagSlugPath
from kit.contracts.roadmap import (
    ChangePage,
    ItemStatus,
    RoadmapItemBatch,
    RoadmapItemBatchRequest,
    RoadmapItemCreate,
    RoadmapItemPage,
    RoadmapItemRead,
    RoadmapItemUpdate,
    SearchHit,
    SearchResults,
    VisionTagCreate,
    VisionTagList,
    VisionTagRead,
    VisionTagUpdate,
)
from kit.db import RequestConnection
from kit.etags import (
    CREATED_HEADERS,
    IfMatch,
    if_none_match_hits,
    strong_etag,
    with_etag,
)
from kit.problems import problem_responses
from kit.routing import service_router
from kit.types import ITEM_KEY_PATTERN, NO_NUL_PATTERN, TAG_SLUG_PATTERN, Timestamp
from services.roadmap import changes, items, search, tags

MAX_BIGINT = 2**63 - 1  # change ids are BIGINT on both databases


router = service_router()


# Vision tags -------------------------------------------------------------------------


@router.get(
    "/vision-tags",
    tags=["vision tags"],
    summary="All vision tags (one small set, with an ETag for caching)",
    response_model=VisionTagList,
    responses=with_etag({304: {"description": "Unchanged since the ETag given"}}),
)
async def list_vision_tags(
    connection: RequestConnection,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> VisionTagList | Response:
    found = await tags.list_tags(connection)
    etag = tags.tags_etag(found)
    if if_none_match_hits(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return VisionTagList(items=found)


@router.post(
    "/vision-tags",
    tags=["vision tags"],
    status_code=status.HTTP_201_CREATED,
    summary="Create a vision tag (an identical repeat answers 200)",
    responses={
        201: {"headers": CREATED_HEADERS},
        200: {"model": VisionTagRead, "description": "Already existed, identical"},
        **problem_responses(409, 413, 422),
    },
)
async def create_vision_tag(
    data: VisionTagCreate, connection: RequestConnection, response: Response
) -> VisionTagRead:
    tag, created = await tags.create_tag(connection, data)
    response.status_code = 201 if created else 200
    response.headers["ETag"] = strong_etag(tag.version)
    response.headers["Location"] = f"/vision-tags/{tag.slug}"
    return tag


@router.get(
    "/vision-tags/{slug:tag_slug}",
    tags=["vision tags"],
    summary="One vision tag",
    responses=with_etag(problem_responses(404, 422)),
)
async def get_vision_tag(
    slug: TagSlugPath, connection: RequestConnection, response: Response
) -> VisionTagRead:
    tag = await tags.require_tag(connection, slug)
    response.headers["ETag"] = strong_etag(tag.version)
    return tag


@router.patch(
    "/vision-tags/{slug:tag_slug}",
    tags=["vision tags"],
    summary="Change a vision tag (changing its kind is a roadmap change)",
    responses=with_etag(problem_responses(404, 412, 413, 422)),
)
async def update_vision_tag(
    slug: TagSlugPath,
    patch: VisionTagUpdate,
    connection: RequestConnection,
    response: Response,
    if_match: IfMatch = None,
) -> VisionTagRead:
    tag = await tags.update_tag(connection, slug, patch, if_match)
    response.headers["ETag"] = strong_etag(tag.version)
    return tag


# Roadmap items -----------------------------------------------------------------------


@router.get(
    "/items",
    tags=["roadmap items"],
    summary="Roadmap items, filtered, by key",
    responses=problem_responses(422),
)
async def list_roadmap_items(
    connection: RequestConnection,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=ITEM_KEY_PATTERN, description="`next_cursor` of the previous page."),
    ] = None,
    status: Annotated[list[ItemStatus] | None, Query(description="Any of these statuses.")] = None,
    tag: Annotated[str | None, Query(pattern=TAG_SLUG_PATTERN, max_length=64)] = None,
    area: Annotated[str | None, Query(max_length=64, pattern=NO_NUL_PATTERN)] = None,
    owner: Annotated[str | None, Query(max_length=254, pattern=NO_NUL_PATTERN)] = None,
    changed_since: Annotated[
        Timestamp | None, Query(description="Only items changed at or after this time.")
    ] = None,
) -> RoadmapItemPage:
    return await items.list_items(
        connection,
        limit=limit,
        cursor=cursor,
        statuses=status or (),
        tag=tag,
        area=area,
        owner=owner,
        changed_since=changed_since,
    )


@router.post(
    "/items",
    tags=["roadmap items"],
    status_code=status.HTTP_201_CREATED,
    summary="Create a roadmap item (an identical repeat answers 200)",
    responses={
        201: {"headers": CREATED_HEADERS},
        200: {"model": RoadmapItemRead, "description": "Already existed, identical"},
        **problem_responses(409, 413, 422),
    },
)
async def create_roadmap_item(
    data: RoadmapItemCreate, connection: RequestConnection, response: Response
) -> RoadmapItemRead:
    item, created = await items.create_item(connection, data)
    response.status_code = 201 if created else 200
    response.headers["ETag"] = strong_etag(item.version)
    response.headers["Location"] = f"/items/{item.key}"
    return item


@router.post(
    "/items/batch",
    tags=["roadmap items"],
    summary="Many items by key in one call",
    responses=problem_responses(413, 422),
)
async def batch_get_roadmap_items(
    request: RoadmapItemBatchRequest, connection: RequestConnection
) -> RoadmapItemBatch:
    wanted = list(dict.fromkeys(request.keys))
    found = await items.load_items(connection, wanted)
    present = {item.key for item in found}
    return RoadmapItemBatch(items=found, missing=[key for key in wanted if key not in present])


@router.get(
    "/items/search",
    tags=["roadmap items"],
    summary="Ranked text search over key, title and description",
    responses=problem_responses(422),
)
async def search_roadmap_items(
    connection: RequestConnection,
    q: Annotated[
        str,
        Query(min_length=1, max_length=500, pattern=NO_NUL_PATTERN, examples=["SSO with Okta"]),
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchResults:
    ranked = await search.search_item_keys(connection, q, limit)
    by_key = {item.key: item for item in await items.load_items(connection, [k for k, _ in ranked])}
    return SearchResults(
        items=[SearchHit(item=by_key[key], score=score) for key, score in ranked if key in by_key]
    )


@router.get(
    "/items/{key:item_key}",
    tags=["roadmap items"],
    summary="One roadmap item",
    responses=with_etag(problem_responses(404, 422)),
)
async def get_roadmap_item(
    key: ItemKeyPath, connection: RequestConnection, response: Response
) -> RoadmapItemRead:
    item = await items.require_item(connection, key)
    response.headers["ETag"] = strong_etag(item.version)
    return item


@router.patch(
    "/items/{key:item_key}",
    tags=["roadmap items"],
    summary="Change some fields of an item (If-Match honoured)",
    responses=with_etag(problem_responses(404, 412, 413, 422)),
)
async def update_roadmap_item(
    key: ItemKeyPath,
    patch: RoadmapItemUpdate,
    connection: RequestConnection,
    response: Response,
    if_match: IfMatch = None,
) -> RoadmapItemRead:
    item = await items.update_item(connection, key, patch, if_match)
    response.headers["ETag"] = strong_etag(item.version)
    return item


@router.delete(
    "/items/{key:item_key}",
    tags=["roadmap items"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an item (If-Match honoured)",
    responses=problem_responses(404, 412, 422),
)
async def delete_roadmap_item(
    key: ItemKeyPath, connection: RequestConnection, if_match: IfMatch = None
) -> None:
    await items.delete_item(connection, key, if_match)


# Change log --------------------------------------------------------------------------


@router.get(
    "/changes",
    tags=["changes"],
    summary="The change log after a given id, in order",
    responses=problem_responses(422),
)
async def list_changes(
    connection: RequestConnection,
    after: Annotated[
        int, Query(ge=0, le=MAX_BIGINT, description="Last change id already seen.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ChangePage:
    found = await changes.read_changes(connection, after=after, limit=limit)
    return ChangePage(changes=found, last_id=found[-1].id if found else after)
