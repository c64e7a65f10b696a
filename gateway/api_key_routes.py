"""/v1/api-keys: admins make, list and revoke API keys for machine clients. The gateway makes
the key and hands the commitments service only its hash; the key is answered once."""

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from gateway.auth import ApiKeyVerifier, key_hash, new_api_key
from gateway.dependencies import Admin, Commitments
from gateway.relay import refuse, relay
from gateway.relayed import relayed
from gateway.routing import public_router
from kit.contracts.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from kit.contracts.lists import API_KEYS
from kit.contracts.parameters import IdPath
from kit.problems import problem_responses

router = public_router()
TAGS = ["api keys"]
PREFIX_SHOWN = 10  # "dgk_" and 6 characters of the key


@router.post(
    "/api-keys",
    tags=TAGS,
    status_code=201,
    summary="Make an API key for a machine client; the answer carries the key, once",
    description="Send it as `Authorization: Bearer dgk_…`, as a person sends a JWT; it may do "
    "what its roles allow (crm: deals and readiness). Keep it: only its hash is stored.",
    response_model=ApiKeyCreated,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **problem_responses(413, 422),
    },
)
async def create_api_key(
    data: ApiKeyCreate, principal: Admin, commitments: Commitments
) -> Response:
    key = new_api_key()
    record = {
        **data.model_dump(),
        "key_hash": key_hash(key),
        "prefix": key[:PREFIX_SHOWN],
        "created_by": principal.sub,
    }
    response = await commitments.request("POST", "/api-keys", json=record)
    if response.status_code != 201:
        refuse(commitments, response)
    kept = commitments.parse(response, ApiKeyRead)
    created = ApiKeyCreated(**kept.model_dump(), key=key)
    return JSONResponse(
        created.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/v1/api-keys/{kept.id}"},
    )


relayed(router, API_KEYS, Admin)


@router.get(
    "/api-keys/{key_id:uuid_text}",
    tags=TAGS,
    summary="One API key: its name, roles, who made it, when it was last used",
    description="Admins only; 404 for an unknown id. The key itself is never shown again "
    "after it was made: only its first characters (`prefix`) tell it apart.",
    response_model=ApiKeyRead,
    responses=problem_responses(404, 422),
)
async def get_api_key(key_id: IdPath, _: Admin, commitments: Commitments) -> Response:
    return relay(commitments, await commitments.request("GET", f"/api-keys/{key_id}"), ApiKeyRead)


@router.delete(
    "/api-keys/{key_id:uuid_text}",
    tags=TAGS,
    summary="Revoke an API key",
    description="At once on this replica; on the others within DEALGATE_API_KEY_CACHE_SECONDS. "
    "Revoking again answers the key as it is.",
    response_model=ApiKeyRead,
    responses=problem_responses(404, 422),
)
async def revoke_api_key(
    key_id: IdPath, _: Admin, commitments: Commitments, request: Request
) -> Response:
    response = await commitments.request("DELETE", f"/api-keys/{key_id}", idempotent=True)
    verifier: ApiKeyVerifier = request.app.state.api_keys
    verifier.forget(key_id)
    return relay(commitments, response, ApiKeyRead)
