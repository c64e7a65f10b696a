"""How every app's schemathesis test runs: the same settings, so each app is held to one bar."""

import os

from hypothesis import HealthCheck, settings

# Under CI the same cases run every time (a landing never hinges on a lucky draw); locally
# each run explores new ones.
conformance_settings = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("CI") == "true",
)
