"""Alembic environment of the commitments service (see kit.migrations)."""

from kit.migrations import run_env
from services.commitments.settings import CommitmentsSettings
from services.commitments.tables import metadata

run_env(metadata, default_url=lambda: CommitmentsSettings().database_url)
