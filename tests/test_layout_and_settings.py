"""The repository's layout (DESIGN.md §2) and the environment-driven settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def run_python(code, **env_overrides):
    """Run Python from the repository root with a clean, controlled environment."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "REDIS_URL",
            "DJANGO_SETTINGS_MODULE",
            "ALLOW_PROCESS_LOCAL_CACHE",
            "CELERY_TASKS_IN_PROCESS",
            "LOG_FORMAT",
        }
    }
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_standard_platform_module_is_not_shadowed():
    result = run_python("import uuid, platform; print(platform.system())")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Linux"
    assert not (ROOT / "platform" / "__init__.py").exists()


@pytest.mark.parametrize(
    "path",
    [
        "manage.py",
        "config/settings.py",
        "config/urls.py",
        "config/wsgi.py",
        "config/asgi.py",
        "config/celery.py",
        "platform/gunicorn.conf.py",
        "platform/Procfile",
        "platform/compose.yaml",
        "platform/DEPLOY.md",
        "tenants/models.py",
        "rewards/apps.py",
        "storefront/apps.py",
        "templates/base.html",
        "requirements.txt",
        "README.md",
        ".ci/run",
    ],
)
def test_the_layout_of_design_section_2(path):
    assert (ROOT / path).is_file()


def rewards_sub_packages() -> set[str]:
    return {
        path.name
        for path in (ROOT / "rewards").iterdir()
        if path.is_dir() and (path / "__init__.py").exists() and path.name not in {"migrations", "templatetags"}
    }


@pytest.mark.parametrize("document", ["README.md", "DESIGN.md"])
def test_the_documented_layout_matches_the_tree(document):
    """Every folder the layout names exists, and every sub-package of rewards is named in it."""
    text = (ROOT / document).read_text()
    heading = "## Layout" if document == "README.md" else "## 2. Layout"
    section = text[text.index(heading) :]
    block = section[section.index("```") + 3 :]
    block = block[: block.index("```")]
    top = set(re.findall(r"^([a-z][\w.]*)/ ", block, re.M))
    assert {"config", "tenants", "rewards", "storefront", "platform", "templates", "tests"} <= top
    assert all((ROOT / name).is_dir() for name in top), top
    named_sub_packages = set(re.findall(r"^  ([a-z]\w*)/ ", block, re.M))
    if document == "README.md":
        assert named_sub_packages == rewards_sub_packages()
    else:  # DESIGN.md draws them in its table of owners
        owners = set(re.findall(r"^\| (\w+) \| ", section, re.M)) - {"sub"}
        assert owners == rewards_sub_packages()


def requirement_lines(name: str) -> list[str]:
    """The requirements of a requirements file, each on one line (continuations joined), without comments."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    return [" ".join(line.split("#")[0].split()) for line in text.splitlines() if line.split("#")[0].strip()]


def test_requirements_are_pinned_exactly_with_hashes_on_django_5_2_lts():
    """requirements.in pins the direct dependencies; requirements.txt, compiled from it, pins those and
    everything they pull in, each with the hashes pip checks (one --hash puts pip in hash-checking mode)."""
    direct = requirement_lines("requirements.in")
    compiled = requirement_lines("requirements.txt")
    pinned = re.compile(r"([\w.-]+)==(\S+)")
    hashed = re.compile(rf"{pinned.pattern}( --hash=sha256:[0-9a-f]{{64}})+")
    assert direct and [line for line in direct if not pinned.fullmatch(line)] == []
    assert compiled and [line for line in compiled if not hashed.fullmatch(line)] == []
    pins = {canonicalize_name(name): version for name, version in (pinned.match(line).groups() for line in compiled)}
    wanted = {canonicalize_name(name): version for name, version in (pinned.match(line).groups() for line in direct)}
    assert wanted.items() <= pins.items()
    assert pins["django"].startswith("5.2.")


def test_with_debug_off_secret_key_and_allowed_hosts_are_required():
    result = run_python("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()")

    assert result.returncode != 0
    assert "SECRET_KEY and ALLOWED_HOSTS must be set" in result.stderr


def test_with_debug_off_and_both_set_the_settings_load():
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="moments.example,api.moments.example",
        REDIS_URL="redis://cache.internal:6379/0",
        CELERY_BROKER_URL="amqp://guest:guest@mq.internal:5672//",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['moments.example', 'api.moments.example']"


def test_with_debug_off_a_shared_cache_is_required():
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()"
    secrets = {"SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "moments.example", "CELERY_BROKER_URL": "amqp://mq.internal//"}

    refused = run_python(code, **secrets)
    single_process = run_python(code, **secrets, ALLOW_PROCESS_LOCAL_CACHE="true")

    assert refused.returncode != 0 and "REDIS_URL must be set" in refused.stderr
    assert single_process.returncode == 0, single_process.stderr


def test_with_debug_off_a_broker_is_required_unless_tasks_in_process_are_allowed():
    """Without a broker every task would run inside the web request, and the beat never: production
    settings refuse, as they do without a shared cache, unless told it is meant (a one-process trial)."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings; from config.celery import app;"
        "print(settings.CELERY_BROKER_URL, app.conf.task_always_eager)"
    )
    production = {
        "SECRET_KEY": "s" * 50,
        "ALLOWED_HOSTS": "moments.example",
        "REDIS_URL": "redis://cache.internal:6379/0",
    }

    refused = run_python(code, **production)
    empty = run_python(code, **production, CELERY_BROKER_URL="")
    said_no = run_python(code, **production, CELERY_TASKS_IN_PROCESS="false")
    allowed = run_python(code, **production, CELERY_TASKS_IN_PROCESS="true")
    with_broker = run_python(code, **production, CELERY_BROKER_URL="amqp://guest:guest@mq.internal:5672//")
    development = run_python(code, DEBUG="true")

    for result in (refused, empty, said_no):
        assert result.returncode != 0
        assert "DEBUG is off, so CELERY_BROKER_URL must be set (or CELERY_TASKS_IN_PROCESS=true" in result.stderr
    assert allowed.returncode == 0 and allowed.stdout.split() == ["memory://", "True"], allowed.stderr
    assert with_broker.returncode == 0 and with_broker.stdout.split()[1] == "False", with_broker.stderr
    assert development.returncode == 0 and development.stdout.split() == ["memory://", "True"], development.stderr


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "json"),
        ({"DEBUG": "true"}, "console"),
        ({"DEBUG": "true", "LOG_FORMAT": "json"}, "json"),
        ({"LOG_FORMAT": "Console"}, "console"),
    ],
)
def test_logs_are_json_unless_debug_or_log_format_says_otherwise(environment, expected):
    result = run_python(
        "import django, logging, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings; handler = logging.getLogger().handlers[0];"
        "print(settings.LOG_FORMAT, type(handler.formatter).__name__)",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="moments.example",
        ALLOW_PROCESS_LOCAL_CACHE="true",
        CELERY_TASKS_IN_PROCESS="true",
        **environment,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [expected, {"json": "JsonFormatter", "console": "ConsoleFormatter"}[expected]]


def test_an_unknown_log_format_is_refused():
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()",
        DEBUG="true",
        LOG_FORMAT="xml",
    )

    assert result.returncode != 0 and "LOG_FORMAT must be one of json, console, not 'xml'" in result.stderr


def test_embedded_defaults_sqlite_under_var_and_eager_tasks():
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings; from config.celery import app;"
        "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME']);"
        "print(app.conf.task_always_eager, settings.CACHES['default']['BACKEND'])",
        DEBUG="true",
    )

    assert result.returncode == 0, result.stderr
    database, tasks = result.stdout.strip().splitlines()
    assert database == f"django.db.backends.sqlite3 {ROOT / 'var' / 'db.sqlite3'}"
    assert tasks == "True django.core.cache.backends.locmem.LocMemCache"


def test_services_come_from_their_urls():
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings; from config.celery import app;"
        "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME']);"
        "print(app.conf.task_always_eager, app.conf.broker_url, app.conf.task_acks_late);"
        "print(settings.CACHES['default']['BACKEND'])",
        DEBUG="true",
        DATABASE_URL="postgres://moments@db.internal:5432/moments",
        CELERY_BROKER_URL="amqp://guest:guest@mq.internal:5672//",
        REDIS_URL="redis://cache.internal:6379/0",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "django.db.backends.postgresql moments",
        "False amqp://guest:guest@mq.internal:5672// True",
        "config.cache.ReusingRedisCache",
    ]


def test_migrations_match_the_models(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        # An empty database of its own: the check must not depend on the state of var/.
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": f"sqlite:///{tmp_path}/db",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_celery_acknowledges_late_speaks_json_and_bounds_every_task():
    from config.celery import app

    conf = app.conf
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.worker_prefetch_multiplier) == (True, True, 1)
    assert (conf.task_serializer, conf.result_serializer, list(conf.accept_content)) == ("json", "json", ["json"])
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit


def test_every_beat_entry_names_a_task_of_the_project_that_retries_or_is_harmless_to_repeat():
    from config.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks), scheduled - set(app.tasks)
    assert scheduled >= {
        "rewards.tasks.month_roll",
        "rewards.tasks.expire_moments",
        "rewards.tasks.sweep_orders",
        "rewards.tasks.end_campaigns",
        "rewards.tasks.send_due_webhooks",
    }
    # Tasks that talk to the outside world retry with exponential backoff and jitter.
    for name in (
        "rewards.tasks.fulfil_order",
        "rewards.tasks.deliver_webhook",
        "storefront.tasks.send_order_update",
    ):
        task = app.tasks[name]
        assert (task.retry_backoff, task.retry_jitter) == (True, True), name
        assert task.autoretry_for and task.max_retries, name


@pytest.mark.parametrize(
    ("email_url", "expected"),
    [
        ("", "django.core.mail.backends.console.EmailBackend None None False"),
        (
            "smtp+tls://mailer:s3cret@smtp.example.com:587",
            "django.core.mail.backends.smtp.EmailBackend smtp.example.com 587 True",
        ),
    ],
)
def test_email_goes_to_the_console_unless_an_email_url_says_smtp(email_url, expected):
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.EMAIL_BACKEND, getattr(s, 'EMAIL_HOST', None) if s.EMAIL_BACKEND.endswith('smtp.EmailBackend')"
        " else None, getattr(s, 'EMAIL_PORT', None) if s.EMAIL_BACKEND.endswith('smtp.EmailBackend') else None,"
        " bool(getattr(s, 'EMAIL_USE_TLS', False)))",
        DEBUG="true",
        **({"EMAIL_URL": email_url} if email_url else {}),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_makemigrations_check_runs_on_a_bare_checkout_and_serving_commands_still_refuse(tmp_path):
    """No DEBUG, no secrets, no services: the source-only command needs none; `migrate` does."""
    bare = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE", "SECRET_KEY"}}
    bare["DATABASE_URL"] = f"sqlite:///{tmp_path}/db"

    def run(*command):
        return subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=bare, capture_output=True, text=True, timeout=60
        )

    check = run("makemigrations", "--check", "--dry-run")
    assert check.returncode == 0 and "No changes detected" in check.stdout, check.stderr
    refused = run("migrate")
    assert refused.returncode != 0 and "DEBUG is off, so SECRET_KEY" in refused.stderr
