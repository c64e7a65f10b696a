"""How every app's schemathesis test runs: the same settings and the same way of sending the
token, so each app is held to one bar."""

import os

from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

# Under CI the same cases run every time (a landing never hinges on a lucky draw); locally
# each run explores new ones.
conformance_settings = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("CI") == "true",
)


def call_with_token(case, auth: dict[str, str]) -> None:
    """Every case carries the service token, so it reaches the operation itself, except a
    negative case whose headers are the part made invalid (it may have dropped or broken the
    token on purpose: sent as generated, it must be refused)."""
    headers = auth
    if case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE:
        component = case.meta.components.get(ParameterLocation.HEADER)
        if component is not None and component.mode is GenerationMode.NEGATIVE:
            headers = None
    case.call_and_validate(headers=headers)
