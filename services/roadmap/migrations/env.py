"""Alembic environment of the roadmap service (see kit.migrations)."""

from kit.migrations import run_env
from services.roadmap.settings import RoadmapSettings
from services.roadmap.tables import metadata

run_env(metadata, default_url=lambda: RoadmapSettings().database_url)
