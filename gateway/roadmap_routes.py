"""/v1/roadmap: the roadmap service's items, search and vision tags, behind roles (viewer+
reads, pm and admin write). Writes keep the service's answers: 201 or an identical repeat's
200, ETags, If-Match (412), and Location on the gateway's own paths. A write that can move
promises (any item change, a tag appearing or changing kind) marks their re-checks before
it is answered, so the closing gate never answers from the roadmap it replaced."""

from typing import Annotated, TypeVar

import httpx
from fastapi import Query, Request, Response, status
from pydantic import BaseModel

from gateway.csv_answers import wants_csv
from gateway.dependencies import Reader, Roadmap, Writer
from gateway.relay import preconditions, relay
from gateway.relayed import listing, listing_responses
from gateway.roadmap_changes import TAG_FIELDS_THAT_MATTER, RechecksDep, item_changed, tag_changed
from gateway.routing import public_router
from gateway.upstream import Upstream
from kit.contracts.parameters import ItemKeyPath, TagSlugPath
from kit.contracts.roadmap import (
    ItemStatus,
    RoadmapItemCreate,
    RoadmapItemPage,
    RoadmapItemRead,
    RoadmapItemUpdate,
    SearchResults,
    VisionTagCreate,
    VisionTagList,
    VisionTagRead,
    VisionTagUpdate,
)
from kit.etags import CREATED_HEADERS, IfMatch, IfNoneMatch, with_etag
from kit.problems import problem_responses
from kit.types import ITEM_KEY_PATTERN, NO_NUL_PATTERN, TAG_SLUG_PATTERN, Timestamp

LOCATION_PREFIX = "/v1/roadmap"
Written = TypeVar("Written", bound=BaseModel)

router = public_router()


# Items -------------------------------------------------------------------------------------


@router.get(
    "/roadmap/items",
    tags=["roadmap"],
    summary="Roadmap items, filtered, by key",
    description="Keyset-paged by key (`next_cursor`). Filters: `status` (any of those given), "
    "`tag` (a vision tag slug), `area`, `owner` (the item's PM) and "
    "`changed_since` (items changed at or after that time, for a sync).",
    response_model=RoadmapItemPage,
    responses=listing_responses(RoadmapItemPage, 422),
)
async def list_roadmap_items(
    _: Reader,
    roadmap: Roadmap,
    request: Request,
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
) -> Response:
    response = await roadmap.request("GET", "/items", params=request.query_params.multi_items())
    return listing(request, roadmap, response, RoadmapItemPage)


@router.post(
    "/roadmap/items",
    tags=["roadmap"],
    status_code=status.HTTP_201_CREATED,
    summary="Create a roadmap item (an identical repeat answers 200)",
    description="201 with its Location and ETag. The same item sent again answers 200 with "
    "it; a different item under a key already taken is a 409. Promises waiting "
    "for that key are checked again.",
    response_model=RoadmapItemRead,
    responses={
        201: {"headers": CREATED_HEADERS},
        200: {"model": RoadmapItemRead, "description": "Already existed, identical"},
        **problem_responses(409, 413, 422),
    },
)
async def create_roadmap_item(
    data: RoadmapItemCreate, _: Writer, roadmap: Roadmap, rechecks: RechecksDep
) -> Response:
    response = await roadmap.request("POST", "/items", json=data.model_dump(mode="json"))
    if written := _written(roadmap, response, RoadmapItemRead):
        await rechecks.mark_written([item_changed(written.key, written.version)])
    return relay(roadmap, response, RoadmapItemRead, location_prefix=LOCATION_PREFIX)


@router.get(
    "/roadmap/items/search",
    tags=["roadmap"],
    summary="Ranked text search over key, title and description",
    description="What a PM uses to link a promise to the right item: the best `limit` matches "
    "for `q`, best first, each with a score comparable within one answer.",
    response_model=SearchResults,
    responses=listing_responses(SearchResults, 422),
)
async def search_roadmap_items(
    _: Reader,
    roadmap: Roadmap,
    request: Request,
    q: Annotated[
        str,
        Query(min_length=1, max_length=500, pattern=NO_NUL_PATTERN, examples=["SSO with Okta"]),
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Response:
    params = request.query_params.multi_items()
    response = await roadmap.request("GET", "/items/search", params=params)
    return listing(request, roadmap, response, SearchResults)


@router.get(
    "/roadmap/items/{key:item_key}",
    tags=["roadmap"],
    summary="One roadmap item",
    description="404 for an unknown key. The ETag guards a change (PATCH or DELETE with If-Match).",
    response_model=RoadmapItemRead,
    responses=with_etag(problem_responses(404, 422)),
)
async def get_roadmap_item(key: ItemKeyPath, _: Reader, roadmap: Roadmap) -> Response:
    return relay(roadmap, await roadmap.request("GET", f"/items/{key}"), RoadmapItemRead)


@router.patch(
    "/roadmap/items/{key:item_key}",
    tags=["roadmap"],
    summary="Change some fields of an item (If-Match honoured); a slip re-checks promises",
    description="Only the fields given change. A stale If-Match is refused (412). When the "
    "change can move a promise (its dates, its status, its tags), every promise "
    "on the item owes a re-check, and until it is done the deals they belong to "
    "are not ready.",
    response_model=RoadmapItemRead,
    responses=with_etag(problem_responses(404, 412, 413, 422)),
)
async def update_roadmap_item(
    key: ItemKeyPath,
    patch: RoadmapItemUpdate,
    _: Writer,
    roadmap: Roadmap,
    rechecks: RechecksDep,
    if_match: IfMatch = None,
) -> Response:
    response = await roadmap.request(
        "PATCH",
        f"/items/{key}",
        json=patch.model_dump(mode="json", exclude_unset=True),
        headers=preconditions(if_match),
    )
    if written := _written(roadmap, response, RoadmapItemRead):
        await rechecks.mark_written([item_changed(written.key, written.version)])
    return relay(roadmap, response, RoadmapItemRead)


@router.delete(
    "/roadmap/items/{key:item_key}",
    tags=["roadmap"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an item (If-Match honoured)",
    description="204; a stale If-Match is 412. Promises on the item are checked again (they "
    "now name an unknown item and need sign-off).",
    response_class=Response,
    responses=problem_responses(404, 412, 422),
)
async def delete_roadmap_item(
    key: ItemKeyPath,
    _: Writer,
    roadmap: Roadmap,
    rechecks: RechecksDep,
    if_match: IfMatch = None,
) -> Response:
    response = await roadmap.request("DELETE", f"/items/{key}", headers=preconditions(if_match))
    # A 404 too: it may be the repeat of a delete whose marking failed (503) last time.
    if response.status_code in (204, 404):
        await rechecks.mark_written([item_changed(key, None)])
    return relay(roadmap, response, None)


# Vision tags -------------------------------------------------------------------------------


@router.get(
    "/roadmap/vision-tags",
    tags=["roadmap"],
    summary="All vision tags (with an ETag for caching)",
    description="The product vision: pillars and explicit non-goals, by slug. Send the ETag "
    "back as If-None-Match to get 304 when nothing changed.",
    response_model=VisionTagList,
    responses=with_etag(
        {304: {"description": "Unchanged since the ETag given"}, **listing_responses(VisionTagList)}
    ),
)
async def list_vision_tags(
    _: Reader, roadmap: Roadmap, request: Request, if_none_match: IfNoneMatch = None
) -> Response:
    # A strong ETag names one representation, the JSON one: CSV is answered in full.
    asked = None if wants_csv(request) else if_none_match
    response = await roadmap.request(
        "GET", "/vision-tags", headers=preconditions(if_none_match=asked)
    )
    return listing(request, roadmap, response, VisionTagList)


@router.post(
    "/roadmap/vision-tags",
    tags=["roadmap"],
    status_code=status.HTTP_201_CREATED,
    summary="Create a vision tag (an identical repeat answers 200)",
    description="201 with its Location and ETag; the same tag again answers 200, a different "
    "tag under a slug already taken is a 409.",
    response_model=VisionTagRead,
    responses={
        201: {"headers": CREATED_HEADERS},
        200: {"model": VisionTagRead, "description": "Already existed, identical"},
        **problem_responses(409, 413, 422),
    },
)
async def create_vision_tag(
    data: VisionTagCreate, _: Writer, roadmap: Roadmap, rechecks: RechecksDep
) -> Response:
    response = await roadmap.request("POST", "/vision-tags", json=data.model_dump(mode="json"))
    if written := _written(roadmap, response, VisionTagRead):
        await rechecks.mark_written([tag_changed(written.slug, written.version)])
    return relay(roadmap, response, VisionTagRead, location_prefix=LOCATION_PREFIX)


@router.patch(
    "/roadmap/vision-tags/{slug:tag_slug}",
    tags=["roadmap"],
    summary="Change a vision tag (If-Match honoured); a change of kind re-checks promises",
    description="A stale If-Match is refused (412). Turning a pillar into a non-goal (or "
    "back) re-checks every promise the tag touches, directly or through its "
    "items.",
    response_model=VisionTagRead,
    responses=with_etag(problem_responses(404, 412, 413, 422)),
)
async def update_vision_tag(
    slug: TagSlugPath,
    patch: VisionTagUpdate,
    _: Writer,
    roadmap: Roadmap,
    rechecks: RechecksDep,
    if_match: IfMatch = None,
) -> Response:
    response = await roadmap.request(
        "PATCH",
        f"/vision-tags/{slug}",
        json=patch.model_dump(mode="json", exclude_unset=True),
        headers=preconditions(if_match),
    )
    written = _written(roadmap, response, VisionTagRead)
    if written and TAG_FIELDS_THAT_MATTER & patch.model_fields_set:
        await rechecks.mark_written([tag_changed(written.slug, written.version)])
    return relay(roadmap, response, VisionTagRead)


def _written(roadmap: Upstream, response: httpx.Response, model: type[Written]) -> Written | None:
    """What the roadmap service answered a successful write with (None: it refused)."""
    if response.status_code not in (200, 201):
        return None
    return roadmap.parse(response, model)
