"""Settings come from the environment with a production guard; openapi/ matches the code."""

import jsonschema_rs
import pytest
from pydantic import ValidationError

from kit.settings import DEV_SERVICE_TOKEN
from scripts.export_openapi import OUT, documents, render
from services.roadmap.settings import RoadmapSettings


def test_settings_read_the_prefixed_environment(monkeypatch):
    monkeypatch.setenv("ROADMAP_DATABASE_URL", "postgresql+asyncpg://postgres@db:5432/roadmap")
    monkeypatch.setenv("ROADMAP_PORT", "9002")
    monkeypatch.setenv("ROADMAP_SUBSCRIBER_URL", "http://gateway:8000/internal/roadmap-changes")

    settings = RoadmapSettings(_env_file=None)

    assert settings.database_url == "postgresql+asyncpg://postgres@db:5432/roadmap"
    assert settings.port == 9002
    assert str(settings.subscriber_url) == "http://gateway:8000/internal/roadmap-changes"
    assert settings.development_secrets() == {"service_token": DEV_SERVICE_TOKEN}


def test_production_refuses_a_development_secret(monkeypatch):
    monkeypatch.setenv("DEALGATE_ENV", "production")

    with pytest.raises(ValidationError, match="ROADMAP_SERVICE_TOKEN"):
        RoadmapSettings(_env_file=None)
    monkeypatch.setenv("ROADMAP_SERVICE_TOKEN", "a-real-secret-of-some-length")
    assert RoadmapSettings(_env_file=None).environment == "production"


def test_bad_settings_are_refused():
    with pytest.raises(ValidationError):
        RoadmapSettings(_env_file=None, port=0)
    with pytest.raises(ValidationError):
        RoadmapSettings(_env_file=None, service_token="short")


@pytest.mark.parametrize(("name", "document"), documents().items())
def test_exported_openapi_matches_the_code(name, document):
    path = OUT / f"{name}.json"
    assert path.exists(), f"run `make openapi`: {path} is missing"
    assert path.read_text() == render(document), f"run `make openapi`: {path.name} drifted"


@pytest.mark.parametrize(("name", "document"), documents().items())
def test_openapi_is_complete(name, document):
    operations = [operation for item in document["paths"].values() for operation in item.values()]
    operation_ids = [operation["operationId"] for operation in operations]
    assert len(operation_ids) == len(set(operation_ids))
    schemas = document["components"]["schemas"]
    for operation in operations:
        assert operation.get("summary"), operation["operationId"]
        for body in operation.get("requestBody", {}).get("content", {}).values():
            schema = body["schema"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            example = schema.get("examples") or body.get("example") or body.get("examples")
            assert example, f"{operation['operationId']} body has no example"
        for status, response in operation["responses"].items():
            # /readyz answers its check report on 503 too: load balancers read the status.
            if int(status) >= 400 and operation["operationId"] != "readyz":
                assert list(response["content"]) == ["application/problem+json"], (
                    operation["operationId"],
                    status,
                )
        if operation.get("security"):
            assert "401" in operation["responses"], operation["operationId"]


def _examples(content: dict, schemas: dict) -> list:
    """What a media type shows: its own example(s), else its schema's (each member's, for a
    choice of schemas)."""
    if "example" in content:
        return [content["example"]]
    if "examples" in content:
        return [example["value"] for example in content["examples"].values()]
    schema = content["schema"]
    found = []
    for member in schema.get("anyOf") or [schema]:
        if "$ref" in member:
            member = schemas[member["$ref"].rsplit("/", 1)[-1]]
        found += member.get("examples") or []
    return found


def test_the_public_contract_tells_a_client_author_what_to_expect():
    """Every /v1 operation of the gateway: a description to act on, a typed answer for each
    status it returns, and examples that fit their schemas (a client generated from the
    document parses them; tests/test_generated_client.py uses one)."""
    document = documents()["gateway"]
    schemas = document["components"]["schemas"]
    for item in document["paths"].values():
        for operation in item.values():
            name = operation["operationId"]
            assert len(operation.get("description", "")) >= 40, f"{name}: no description"
            for status, response in operation["responses"].items():
                if status in ("204", "304"):
                    assert "content" not in response, (name, status)
                    continue
                assert response.get("content"), f"{name} answers {status} with no type"
                for media_type, content in response["content"].items():
                    shown = _examples(content, schemas)
                    if status.startswith("2"):
                        assert shown, f"{name} {status} {media_type}: no example"
                    if "json" not in media_type:
                        continue
                    validator = jsonschema_rs.Draft202012Validator(
                        {**content["schema"], "components": document["components"]}
                    )
                    for example in shown:
                        errors = [error.message for error in validator.iter_errors(example)]
                        assert not errors, (name, status, errors[:3])
