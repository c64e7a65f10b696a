"""`python -m gateway serve` runs the gateway; `python -m gateway token --role pm --sub
ana@example.com` prints a bearer token for local use, signed with DEALGATE_JWT_SECRET;
`python -m gateway seed` posts the demo deals to the running gateway, signed like a CRM;
`python -m gateway listen` prints the running gateway's events as a subscriber gets them."""

import argparse
import asyncio
import sys
import time

import httpx
import jwt
import uvicorn

from gateway import demo
from gateway.app import create_app
from gateway.auth import ROLES
from gateway.listen import listen
from gateway.settings import GatewaySettings
from kit.contracts.events import EventType
from kit.logs import configure_logging
from kit.startup import command, read_settings


def local_token(settings: GatewaySettings, sub: str, roles: list[str], hours: float) -> str:
    if settings.jwt_algorithm != "HS256":
        raise SystemExit("tokens can be printed only for HS256 (the keys of RS256 live elsewhere)")
    claims = {"sub": sub, "roles": roles, "exp": int(time.time() + hours * 3600)}
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


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
        configure_logging(settings.log_level)
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


async def _listen(gateway_url: str, token: str, port: int, types: list[str] | None) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as gateway:
        await listen(gateway, token, port=port, event_types=types, stop_on_signals=True)


if __name__ == "__main__":
    main(sys.argv[1:])
