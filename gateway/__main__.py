"""`python -m gateway serve` runs the gateway; `python -m gateway token --role pm --sub
ana@example.com` prints a bearer token for local use, signed with DEALGATE_JWT_SECRET;
`python -m gateway seed` posts the demo deals to the running gateway, signed like a CRM;
`python -m gateway listen` prints the running gateway's events as a subscriber gets them;
`python -m gateway hubspot setup` makes what Dealgate needs in a HubSpot account."""

import argparse
import asyncio
import sys

import httpx
import uvicorn

from gateway import demo
from gateway.app import create_app
from gateway.auth import ROLES, local_token
from gateway.crm import hubspot_setup
from gateway.crm.api import CrmRefused, CrmUnavailable
from gateway.crm.hubspot_api import HubSpotApi
from gateway.listen import listen
from gateway.settings import GatewaySettings
from kit.contracts.events import EventType
from kit.logs import configure_logging
from kit.startup import command, read_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the public API")
    token = commands.add_parser("token", help="print a bearer token for local use")
    token.add_argument("--role", action="append", choices=sorted(ROLES), required=True)
    token.add_argument("--sub", required=True, help="the person, e.g. ana@example.com")
    token.add_argument("--hours", type=float, default=12.0)
    commands.add_parser("seed", help="post the demo deals to the running gateway")
    listening = commands.add_parser(
        "listen", help="subscribe to the running gateway's events and print each in one line"
    )
    listening.add_argument("--port", type=int, default=8765, help="where the receiver listens")
    listening.add_argument(
        "--type", action="append", choices=[kind.value for kind in EventType], dest="types"
    )
    hubspot = commands.add_parser("hubspot", help="connect a HubSpot account")
    hubspot_commands = hubspot.add_subparsers(dest="hubspot_command", required=True)
    setup = hubspot_commands.add_parser(
        "setup",
        help="create the dealgate_commitment object and the write-back's deal properties "
        "(idempotent), then print what is left to click",
    )
    setup.add_argument(
        "--tag", action="append", default=[], dest="tags",
        help="a vision tag slug offered in the commitment's Tags checkboxes (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    with command("gateway"):
        settings = read_settings(GatewaySettings)
        if args.command == "token":
            print(local_token(settings, args.sub, args.role, args.hours))
            return
        if args.command == "seed":
            demo.main(settings.local_url(), settings.webhook_secret)
            return
        if args.command == "listen":
            token = local_token(settings, "listener@localhost", ["admin"], hours=24)
            asyncio.run(_listen(settings.local_url(), token, args.port, args.types))
            return
        if args.command == "hubspot":
            for line in asyncio.run(_hubspot_setup(settings, args.tags)):
                print(line)
            return
        configure_logging(settings.log_level)
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


async def _listen(gateway_url: str, token: str, port: int, types: list[str] | None) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as gateway:
        await listen(gateway, token, port=port, event_types=types, stop_on_signals=True)


async def _hubspot_setup(settings: GatewaySettings, tags: list[str]) -> list[str]:
    if not settings.hubspot_access_token:
        raise SystemExit(
            "gateway hubspot setup: set DEALGATE_HUBSPOT_ACCESS_TOKEN to the private app's token"
        )
    api = HubSpotApi(
        str(settings.hubspot_api_url),
        settings.hubspot_access_token,
        timeout=settings.crm_api_timeout_seconds,
    )
    try:
        type_id = await hubspot_setup.set_up(api, tags, print)
    except (CrmRefused, CrmUnavailable) as error:
        raise SystemExit(f"gateway hubspot setup: {error}") from None
    finally:
        await api.aclose()
    portal = str(settings.hubspot_portal_id or "<your HubSpot account id>")
    return hubspot_setup.what_is_left(
        type_id, portal, f"{settings.gateway_url()}/v1/webhooks/hubspot"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
