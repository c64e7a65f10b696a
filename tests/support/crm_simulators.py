"""Local stand-ins for HubSpot's and Salesforce's APIs, built from their documented
requests and answers (HubSpot CRM API v3/v4, Salesforce REST API v60.0), with faults on
demand: 429 with Retry-After, 5xx, and timeouts.

Each is an ASGI app holding its CRM's records in memory; `transport()` gives the
`httpx` transport the gateway calls it through, where a queued fault is played before
the app is reached. Every request is logged (`calls`) so a test can check what the
gateway asked and wrote.
"""

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
PORTAL_ID = 62515
COMMITMENT_TYPE = "2-3456789"
COMMITMENT_NAME = f"p{PORTAL_ID}_dealgate_commitment"
SALESFORCE_CLIENT_ID = "3MVG9dealgate-consumer-key"
SALESFORCE_CLIENT_SECRET = "dealgate-consumer-secret-0123456789"


@dataclass
class Fault:
    """One answer in place of the API's: a status (with Retry-After), or a timeout."""

    status: int | None = None
    retry_after: str | None = None
    timeout: bool = False
    path_contains: str = ""


class FaultyTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: FastAPI, faults: list[Fault], calls: list[tuple[str, str, Any]]):
        self.inner = httpx.ASGITransport(app=app)
        self.faults, self.calls = faults, calls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        is_json = request.headers.get("content-type", "").startswith("application/json")
        self.calls.append((request.method, request.url.path, json.loads(body) if is_json else body))
        for fault in self.faults:
            if fault.path_contains in request.url.path:
                self.faults.remove(fault)
                if fault.timeout:
                    raise httpx.ReadTimeout("simulated timeout", request=request)
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return httpx.Response(
                    fault.status or 500,
                    headers=headers,
                    json={"status": "error", "message": "simulated fault"},
                    request=request,
                )
        return await self.inner.handle_async_request(request)


class Simulator:
    app: FastAPI

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str, Any]] = []

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def transport(self) -> FaultyTransport:
        return FaultyTransport(self.app, self.faults, self.calls)

    def calls_to(self, method: str, path_contains: str) -> list[Any]:
        return [body for m, path, body in self.calls if m == method and path_contains in path]


# HubSpot --------------------------------------------------------------------------------

DEAL_TYPES = {"deals": "0-3", "deal": "0-3", "0-3": "0-3"}
COMPANY_TYPES = {"companies": "0-2", "company": "0-2", "0-2": "0-2"}


def _type(name: str) -> str:
    if name in DEAL_TYPES:
        return "0-3"
    if name in COMPANY_TYPES:
        return "0-2"
    if name in (COMMITMENT_NAME, COMMITMENT_TYPE):
        return COMMITMENT_TYPE
    return name


def _error(status: int, category: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "message": message, "category": category,
         "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf"},
        status_code=status,
    )  # fmt: skip


@dataclass
class HubSpot(Simulator):
    """A HubSpot account with the `dealgate_commitment` object (once set up)."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    links: set[tuple[str, str, str, str]] = field(default_factory=set)
    owners: dict[str, str] = field(default_factory=dict)
    schemas: dict[str, dict] = field(default_factory=dict)
    properties: dict[str, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))
    pipelines: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        Simulator.__init__(self)
        self._ids = itertools.count(20_000_000)
        self.pipelines = [
            {"id": "default", "label": "Sales Pipeline", "stages": [
                {"id": "appointmentscheduled", "label": "Appointment scheduled",
                 "metadata": {"isClosed": "false", "probability": "0.2"}},
                {"id": "contractsent", "label": "Contract sent",
                 "metadata": {"isClosed": "false", "probability": "0.9"}},
                {"id": "closedwon", "label": "Closed won",
                 "metadata": {"isClosed": "true", "probability": "1.0"}},
                {"id": "closedlost", "label": "Closed lost",
                 "metadata": {"isClosed": "true", "probability": "0.0"}},
            ]},
        ]  # fmt: skip
        self.app = self._build()

    # What a test does in the HubSpot UI -------------------------------------------------

    def set_up_commitment_object(self) -> None:
        self.schemas[COMMITMENT_TYPE] = {
            "id": "3456789", "objectTypeId": COMMITMENT_TYPE,
            "fullyQualifiedName": COMMITMENT_NAME, "name": "dealgate_commitment",
        }  # fmt: skip

    def set_up_deal_properties(self) -> None:
        for name in ("dealgate_ready", "dealgate_blocking_count", "dealgate_url"):
            self.properties["0-3"][name] = {"name": name}

    def put(self, object_type: str, object_id: str, **properties: Any) -> None:
        kind = _type(object_type)
        stored = self.objects[kind].setdefault(object_id, {"hs_object_id": object_id})
        stored.update({name: None if value is None else str(value)
                       for name, value in properties.items()})  # fmt: skip

    def delete(self, object_type: str, object_id: str) -> None:
        kind = _type(object_type)
        self.objects[kind].pop(object_id, None)
        self.links = {link for link in self.links
                      if (link[0], link[1]) != (kind, object_id)
                      and (link[2], link[3]) != (kind, object_id)}  # fmt: skip

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.links.add((_type(from_type), from_id, _type(to_type), to_id))
        self.links.add((_type(to_type), to_id, _type(from_type), from_id))

    def add_pipeline(self, pipeline_id: str, stages: list[tuple[str, bool, float]]) -> None:
        self.pipelines.append({"id": pipeline_id, "label": pipeline_id, "stages": [
            {"id": stage, "label": stage,
             "metadata": {"isClosed": str(closed).lower(), "probability": str(probability)}}
            for stage, closed, probability in stages
        ]})  # fmt: skip

    def deal_patches(self, deal_id: str) -> list[dict]:
        return [body["properties"] for body in self.calls_to("PATCH", f"/objects/deals/{deal_id}")]

    # The API ----------------------------------------------------------------------------

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def authenticate(request: Request, call_next):
            if request.headers.get("authorization") != f"Bearer {HUBSPOT_TOKEN}":
                return _error(
                    401, "INVALID_AUTHENTICATION", "Authentication credentials not found."
                )
            return await call_next(request)

        @app.post("/crm/v3/objects/{object_type}/batch/read")
        async def batch_read(object_type: str, request: Request):
            body = await request.json()
            kind = _type(object_type)
            if kind.startswith("2-") and kind not in self.schemas:
                return _error(400, "OBJECT_TYPE_NOT_FOUND", f"Unknown object type {object_type}")
            results, missing = [], []
            for entry in body["inputs"]:
                found = self.objects[kind].get(str(entry["id"]))
                if found is None:
                    missing.append(str(entry["id"]))
                    continue
                results.append({
                    "id": str(entry["id"]), "archived": False,
                    "createdAt": "2026-11-20T09:00:00Z", "updatedAt": "2026-11-20T09:59:00Z",
                    "properties": {name: found.get(name) for name in body["properties"]},
                })  # fmt: skip
            answer: dict[str, Any] = {"status": "COMPLETE", "results": results,
                                      "startedAt": "2026-11-20T10:00:00Z",
                                      "completedAt": "2026-11-20T10:00:00Z"}  # fmt: skip
            if missing:
                answer["numErrors"] = 1
                answer["errors"] = [{
                    "status": "error", "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                }]  # fmt: skip
            return JSONResponse(answer, status_code=207 if missing else 200)

        @app.post("/crm/v4/associations/{from_type}/{to_type}/batch/read")
        async def associations(from_type: str, to_type: str, request: Request):
            body = await request.json()
            source, target = _type(from_type), _type(to_type)
            results, without = [], []
            for entry in body["inputs"]:
                object_id = str(entry["id"])
                to = sorted(t for f, fid, t_kind, t in self.links
                            if (f, fid, t_kind) == (source, object_id, target))  # fmt: skip
                if not to:
                    without.append(object_id)
                    continue
                results.append({"from": {"id": object_id}, "to": [
                    {"toObjectId": int(t), "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}]}
                    for t in to]})  # fmt: skip
            answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
            if without:
                answer["errors"] = [{"status": "error", "category": "NO_ASSOCIATIONS_FOUND",
                                     "message": "No associations found",
                                     "context": {"fromObjectId": without}}]  # fmt: skip
            return JSONResponse(answer, status_code=207 if without else 200)

        @app.get("/crm/v3/owners/{owner_id}")
        async def owner(owner_id: str):
            if owner_id not in self.owners:
                return _error(404, "OBJECT_NOT_FOUND", "Owner not found")
            return {"id": owner_id, "email": self.owners[owner_id], "firstName": "Rep",
                    "lastName": "One", "userId": 9000001, "archived": False}  # fmt: skip

        @app.get("/crm/v3/pipelines/deals")
        async def pipelines():
            return {"results": self.pipelines}

        @app.patch("/crm/v3/objects/deals/{deal_id}")
        async def update_deal(deal_id: str, request: Request):
            if deal_id not in self.objects["0-3"]:
                return _error(404, "OBJECT_NOT_FOUND", "resource not found")
            given = (await request.json())["properties"]
            known = self.properties["0-3"]
            unknown = [name for name in given if name.startswith("dealgate_") and name not in known]
            if unknown:
                return _error(400, "VALIDATION_ERROR", f"Property {unknown[0]} does not exist")
            self.put("deals", deal_id, **(await request.json())["properties"])
            return {"id": deal_id, "properties": self.objects["0-3"][deal_id], "archived": False}

        @app.get("/crm-object-schemas/v3/schemas")
        async def list_schemas():
            return {"results": list(self.schemas.values())}

        @app.get("/crm-object-schemas/v3/schemas/{name}")
        async def get_schema(name: str):
            for schema in self.schemas.values():
                if name in (schema["objectTypeId"], schema["fullyQualifiedName"], schema["name"]):
                    return schema
            return _error(404, "OBJECT_NOT_FOUND", f"Unable to find object type {name}")

        @app.post("/crm-object-schemas/v3/schemas", status_code=201)
        async def create_schema(request: Request):
            body = await request.json()
            if any(s["name"] == body["name"] for s in self.schemas.values()):
                return _error(409, "OBJECT_ALREADY_EXISTS", "Object type already exists")
            self.set_up_commitment_object()
            for prop in body.get("properties", []):
                self.properties[COMMITMENT_TYPE][prop["name"]] = prop
            return JSONResponse(self.schemas[COMMITMENT_TYPE], status_code=201)

        @app.post("/crm/v3/properties/{object_type}")
        async def create_property(object_type: str, request: Request):
            body = await request.json()
            kind = _type(object_type)
            if body["name"] in self.properties[kind]:
                return _error(409, "OBJECT_ALREADY_EXISTS", f"Property {body['name']} exists")
            self.properties[kind][body["name"]] = body
            return JSONResponse(body, status_code=201)

        @app.post("/crm-object-schemas/v3/schemas/{name}/associations")
        async def create_association(name: str, request: Request):
            body = await request.json()
            return JSONResponse({"id": "123", **body}, status_code=201)

        return app


# Salesforce ----------------------------------------------------------------------------


SOBJECTS = "/services/data/v60.0/sobjects"


def _sf_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status)


@dataclass
class Salesforce(Simulator):
    """A Salesforce org with Dealgate's metadata deployed."""

    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    tokens_issued: int = 0

    def __post_init__(self) -> None:
        Simulator.__init__(self)
        self.valid_tokens: set[str] = set()
        self.app = self._build()

    def put(self, object_type: str, record_id: str, **fields: Any) -> None:
        self.records[object_type].setdefault(record_id, {"Id": record_id}).update(fields)

    def delete(self, object_type: str, record_id: str) -> None:
        self.records[object_type].pop(record_id, None)

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/services/oauth2/token")
        async def token(request: Request):
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
                "client_credentials",
                SALESFORCE_CLIENT_ID,
                SALESFORCE_CLIENT_SECRET,
            ):
                return JSONResponse({"error": "invalid_client",
                                     "error_description": "invalid client credentials"},
                                    status_code=400)  # fmt: skip
            self.tokens_issued += 1
            issued = f"00D5e000000AbCd!token-{self.tokens_issued}"
            self.valid_tokens.add(issued)
            return {"access_token": issued, "instance_url": "https://dealgate-dev.my.salesforce.com",
                    "id": "https://login.salesforce.com/id/00D5e000000AbCdEAK/0055e000001AbCdAAK",
                    "token_type": "Bearer", "issued_at": "1763632740000",
                    "signature": "c2lnbmF0dXJl"}  # fmt: skip

        @app.middleware("http")
        async def authenticate(request: Request, call_next):
            if request.url.path.startswith("/services/data/"):
                given = request.headers.get("authorization", "").removeprefix("Bearer ")
                if given not in self.valid_tokens:
                    return _sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            return await call_next(request)

        @app.get("/services/data/v60.0/query")
        async def query(q: str):
            # Only what Dealgate asks: SELECT <fields> FROM <object> WHERE <field> = '<id>'.
            head, _, condition = q.partition(" WHERE ")
            fields_part, _, object_type = head.removeprefix("SELECT ").partition(" FROM ")
            fields = [name.strip() for name in fields_part.split(",")]
            where_field, _, value = condition.split(" ORDER BY ")[0].partition(" = ")
            wanted = value.strip().strip("'")
            found = [
                {"attributes": {"type": object_type.strip(),
                                "url": f"{SOBJECTS}/{object_type.strip()}/{rid}"},
                 **{name: record.get(name) for name in fields}}
                for rid, record in sorted(self.records[object_type.strip()].items())
                if record.get(where_field.strip()) == wanted
            ]  # fmt: skip
            return {"totalSize": len(found), "done": True, "records": found}

        @app.patch("/services/data/v60.0/sobjects/{object_type}/{record_id}")
        async def update(object_type: str, record_id: str, request: Request):
            if record_id not in self.records[object_type]:
                return _sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            self.records[object_type][record_id].update(await request.json())
            return Response(status_code=204)

        return app


class Listening:
    """A simulator served on a real local port (uvicorn in a thread), for what runs as its
    own process: `python -m gateway hubspot setup`, a gateway started by `make run`."""

    def __init__(self, app: FastAPI) -> None:
        import threading

        import uvicorn

        from tests.support.processes import free_port

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Listening":
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise AssertionError("the simulator did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
