"""`python -m services.commitments migrate | serve`."""

from kit.cli import run_service_cli
from services.commitments.app import MIGRATIONS, create_app
from services.commitments.settings import CommitmentsSettings

if __name__ == "__main__":
    run_service_cli(
        prog="services.commitments",
        settings_class=CommitmentsSettings,
        app_factory=create_app,  # type: ignore[arg-type]
        migrations_dir=MIGRATIONS,
    )
