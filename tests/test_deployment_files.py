"""docker-compose.yml, Dockerfile, .env.example and README agree with the code.

Docker cannot run on these machines, so this checks what would break a
deployment: commands that point at missing modules, variables that the
settings never read, required variables that compose forgets.
"""

import importlib
import re
from pathlib import Path

import yaml
from django.conf import settings

from ma_core.settings.env import VARIABLES

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
KIZUKI_SERVICES = ("web", "worker", "beat")


def test_compose_has_the_production_services():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat", "mailpit"}
    assert services["postgres"]["image"] == "postgres:17"
    assert services["redis"]["image"] == "redis:7"
    for name in KIZUKI_SERVICES:
        assert services[name]["build"] == "."


def test_web_command_points_at_a_real_wsgi_application():
    command = COMPOSE["services"]["web"]["command"]
    assert command[0] == "gunicorn"
    module, attribute = command[1].split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert '"gunicorn", "ma_core.wsgi:application"' in dockerfile


def test_worker_and_beat_load_the_celery_app_and_consume_every_queue():
    worker = COMPOSE["services"]["worker"]["command"]
    beat = COMPOSE["services"]["beat"]["command"]
    for command in (worker, beat):
        assert command[:3] == ["celery", "-A", "ma_core"]
        assert importlib.import_module(command[2]).celery_app.main == "kizuki"
    assert worker[3] == "worker" and beat[3] == "beat"
    queues = worker[worker.index("-Q") + 1].split(",")
    assert sorted(queues) == sorted(settings.KIZUKI_QUEUES)


def test_compose_passes_only_variables_the_settings_read_and_all_required_ones():
    required = {name for name, var in VARIABLES.items() if var.required_in_production}
    for name in KIZUKI_SERVICES:
        environment = COMPOSE["services"][name]["environment"]
        assert set(environment) <= set(VARIABLES), name
        assert required <= set(environment), name
        assert environment["KIZUKI_MODE"] == "production"


def test_env_example_covers_what_compose_interpolates():
    raw = (BASE_DIR / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z_]+)", raw))
    example = {
        line.split("=", 1)[0]
        for line in (BASE_DIR / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert interpolated <= example
    assert example <= set(VARIABLES) | {"POSTGRES_PASSWORD"}


def test_readme_documents_every_variable_and_the_two_commands():
    readme = (BASE_DIR / "README.md").read_text()
    for name in VARIABLES:
        assert f"`{name}`" in readme, name
    assert readme.index("make run") < readme.index("make test") < readme.index("## ")
    assert (BASE_DIR / ".ci" / "run").read_text().strip().endswith("make test")
