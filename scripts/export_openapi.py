"""Writes openapi/<app>.json from the code, or with --check fails when a file has drifted."""

import argparse
import json
import sys
from pathlib import Path

from gateway.app import create_app as create_gateway_app
from gateway.settings import GatewaySettings
from services.commitments.app import create_app as create_commitments_app
from services.commitments.settings import CommitmentsSettings
from services.roadmap.app import create_app as create_roadmap_app
from services.roadmap.settings import RoadmapSettings

OUT = Path(__file__).resolve().parent.parent / "openapi"


def documents() -> dict[str, dict]:
    return {
        "gateway": create_gateway_app(GatewaySettings(_env_file=None)).openapi(),
        "commitments": create_commitments_app(CommitmentsSettings(_env_file=None)).openapi(),
        "roadmap": create_roadmap_app(RoadmapSettings(_env_file=None)).openapi(),
    }


def render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    drifted = []
    for name, document in documents().items():
        path = OUT / f"{name}.json"
        text = render(document)
        if args.check:
            if not path.exists() or path.read_text() != text:
                drifted.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(OUT.parent)}")
    if drifted:
        print(f"openapi drifted from the code: {', '.join(drifted)}; run `make openapi`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
