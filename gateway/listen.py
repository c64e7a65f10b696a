"""`python -m gateway listen`: watch Dealgate's events live, as a subscriber receives them.

It serves a small receiver on loopback, subscribes it through /v1/webhook-subscriptions
(with an admin token it signs itself, so development only), verifies every delivery's
signature with the `standardwebhooks` library, prints each event once in one line, and
deletes the subscription when stopped (Ctrl-C).
"""

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from kit.contracts.events import EventType


def one_line(event: dict) -> str:
    """`occurred_at type  what`: who and what, and the reason where there is one."""
    data, kind = event["data"], event["type"]
    deal = data["deal"]["name"]
    if kind == "deal.gate_changed":
        readiness = data["readiness"]
        was = {None: "unknown", True: "ready", False: "not ready"}[data["previous_ready"]]
        now = (
            "ready" if readiness["ready"] else f"not ready ({len(readiness['blocking'])} blocking)"
        )
        what = f"{deal}: {was} → {now}"
    elif kind == "deal.breach_recorded":
        what = f"{deal}: closed won with {len(data['breach']['blocking'])} promises not signed off"
    else:
        commitment = data["commitment"]
        codes = ", ".join(c["code"] for c in commitment["conflicts"] if c["needs_signoff"])
        what = f"{deal} · {commitment['external_id']} {commitment['summary']}"
        if codes:
            what += f" · {codes}"
        if data.get("reason"):
            what += f" · {data['reason']['summary']}"
        if data.get("decision"):
            what += f" · by {data['decision']['decided_by']}"
        if kind == "commitment.reassigned":
            what += f" · to {data['comment']['assignee']} by {data['comment']['author']}"
        if kind.startswith("signoff."):
            what += f" · due {data['due_at']}"
    return f"{event['occurred_at']}  {kind:<22} {what}"


def receiver(secret: Callable[[], str | None], seen: set[str], out: TextIO) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/events")
    async def receive(request: Request) -> Response:
        key = secret()
        if key is None:
            return Response(status_code=503)  # not subscribed yet: Dealgate sends again
        body = (await request.body()).decode()
        try:
            event = Webhook(key).verify(body, dict(request.headers))
        except WebhookVerificationError:
            print("!! a delivery whose signature does not verify was refused", file=out)
            return Response(status_code=401)
        if event["id"] not in seen:  # a delivery may come twice: webhook-id says which
            seen.add(event["id"])
            print(one_line(event), file=out, flush=True)
        return Response(status_code=204)

    return app


class _Receiver(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would raise the signal again once it stopped, ending the process before
        # the subscription is deleted; `listen` handles Ctrl-C and SIGTERM itself.
        yield


async def listen(
    gateway: httpx.AsyncClient,
    admin_token: str,
    *,
    port: int,
    event_types: list[str] | None = None,
    out: TextIO = sys.stdout,
    stop_on_signals: bool = False,
) -> None:
    """Runs until cancelled, or stopped by Ctrl-C or SIGTERM (`stop_on_signals`), then
    unsubscribes."""
    subscription: dict = {}
    server = _Receiver(
        uvicorn.Config(
            receiver(lambda: subscription.get("secret"), set(), out),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if stop_on_signals else ()
    for stop in signals:
        loop.add_signal_handler(stop, lambda: setattr(server, "should_exit", True))
    auth = {"Authorization": f"Bearer {admin_token}"}
    try:
        while not server.started:
            if serving.done():
                serving.result()  # the port was taken: say so
                return
            await asyncio.sleep(0.05)
        response = await gateway.post(
            "/v1/webhook-subscriptions",
            headers=auth,
            json={
                "url": f"http://127.0.0.1:{port}/events",
                "event_types": event_types or [kind.value for kind in EventType],
                "description": "python -m gateway listen",
            },
        )
        response.raise_for_status()
        subscription.update(response.json())
        print(
            f"listening on 127.0.0.1:{port} for {', '.join(subscription['event_types'])}", file=out
        )
        print("(Ctrl-C stops and unsubscribes)", file=out, flush=True)
        # Shielded: a cancel of `listen` must not cut the server's serve() short, which
        # would leave its lifespan task waiting forever; the server stops below, whole.
        await asyncio.shield(serving)
    finally:
        for stop in signals:
            loop.remove_signal_handler(stop)
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(serving, 5)
        if "id" in subscription:
            with contextlib.suppress(httpx.HTTPError):
                await gateway.delete(
                    f"/v1/webhook-subscriptions/{subscription['id']}", headers=auth
                )
            print("unsubscribed", file=out, flush=True)
