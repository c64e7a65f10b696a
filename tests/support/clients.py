"""An app running in-process (its lifespan started) and a client of it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI


def client_of(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    """A client of an app whose lifespan is already running; `token` as a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
    )


@asynccontextmanager
async def running(app: FastAPI, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """Starts the app's lifespan, yields a client of it, and stops it afterwards."""
    async with app.router.lifespan_context(app), client_of(app, token) as client:
        yield client
