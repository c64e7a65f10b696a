"""`python -m gateway serve` runs the gateway; `python -m gateway token --role pm --sub
ana@example.com` prints a bearer token for local use, signed with DEALGATE_JWT_SECRET;
`python -m gateway seed` posts the demo deals to the running gateway, signed like a CRM."""

import argparse
import sys
import time

import jwt
import uvicorn

from gateway import demo
from gateway.app import create_app
from gateway.auth import ROLES
from gateway.settings import GatewaySettings
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
    args = parser.parse_args(argv)
    with command("gateway"):
        settings = read_settings(GatewaySettings)
        if args.command == "token":
            print(local_token(settings, args.sub, args.role, args.hours))
            return
        if args.command == "seed":
            demo.main(settings.local_url(), settings.webhook_secret)
            return
        configure_logging(settings.log_level)
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main(sys.argv[1:])
