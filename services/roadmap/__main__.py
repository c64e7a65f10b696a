"""`python -m services.roadmap migrate | seed | serve`."""

from kit.cli import run_service_cli
from services.roadmap.app import MIGRATIONS, create_app
from services.roadmap.demo import seed_demo_roadmap
from services.roadmap.settings import RoadmapSettings

if __name__ == "__main__":
    run_service_cli(
        prog="services.roadmap",
        settings_class=RoadmapSettings,
        app_factory=create_app,  # type: ignore[arg-type]
        migrations_dir=MIGRATIONS,
        seed=seed_demo_roadmap,
    )
