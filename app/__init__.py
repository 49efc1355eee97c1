"""Application factory: `create_app` runs short register_* steps and nothing else.

It never migrates or seeds the database: that is `flask db upgrade` and `flask demo`.
"""

from __future__ import annotations

import gc
import os
import secrets
from pathlib import Path

from flask import Flask

from config import CONFIGS, INSTANCE_DIR, ProductionConfig

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a key)


def create_app(config_name: str | None = None, instance_path: str | Path | None = None,
               **overrides: object) -> Flask:
    config_name = config_name or os.environ.get("PORTAL_CONFIG", "development")
    config_class = CONFIGS[config_name]
    if config_class is ProductionConfig:
        ProductionConfig.check()
    app = Flask(__name__, instance_path=str(instance_path or INSTANCE_DIR))
    app.config.from_object(config_class)
    app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    register_logging(app)
    register_secret_key(app)
    register_converters(app)
    register_proxy(app)
    register_extensions(app)
    register_blueprints(app)
    register_security(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_cli(app)
    register_heap(app)
    return app


def register_heap(app: Flask) -> None:
    """What the app is built of (modules, routes, its configuration) lives as long as the
    process: moved out of the garbage collector's view (gc.freeze), it is no longer scanned
    by each full collection a request's allocations trigger, which took 50-65 ms of a
    national tree's roll-up page (bench/municipal.py). Tests build many apps: not there."""
    if app.config["FREEZE_HEAP"]:
        gc.collect()
        gc.freeze()


def register_logging(app: Flask) -> None:
    from app.core import logs

    logs.register_logging(app)
def register_secret_key(app: Flask) -> None:
    """Without SECRET_KEY, a random key made on first start and kept in the instance folder
    (readable by its owner only), so that no installation signs cookies with a known key and
    sessions survive a restart. Production never gets here without one (Config.check)."""
    if app.config.get("SECRET_KEY"):
        return
    app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / SECRET_KEY_FILE)


def _instance_secret(path: Path) -> str:
    if not path.exists():
        # Written under a temporary name, then linked into place: two workers starting at once
        # agree on one key (the link fails for the second, which then reads the first's).
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key: remove it to make a new one")
    return key


def register_converters(app: Flask) -> None:
    """`<int:...>` in every URL refuses values beyond the database's integer range (404), as
    the form fields do (app/core/bounds.py), instead of failing in the database."""
    from app.core.bounds import BoundedIntConverter, YearConverter

    app.url_map.converters["int"] = BoundedIntConverter
    app.url_map.converters["year"] = YearConverter


def register_proxy(app: Flask) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    count = app.config["PROXY_COUNT"]
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (the models must be known to Alembic and create_all)
    from app.core.extensions import babel, bootstrap, csrf, db, login_manager, migrate
    from app.core.i18n import select_locale, select_timezone

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True)
    csrf.init_app(app)
    bootstrap.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    login_manager.init_app(app)
    register_sealing(app)


def register_sealing(app: Flask) -> None:
    """Content is sealed at every flush (app/keys/fields.py), with the configured AEAD."""
    from app.keys import crypto, fields

    if app.config["CONTENT_CIPHER"] not in crypto.CIPHERS:
        raise RuntimeError(f"CONTENT_CIPHER must be one of {', '.join(crypto.CIPHERS)}")
    fields.install()


def register_blueprints(app: Flask) -> None:
    """One blueprint per area; each package, blueprint and URL prefix share one name."""
    from importlib import import_module

    for area in ("auth", "home", "filing", "review", "compliance", "notices", "statement", "admin",
                 "installation", "rollup", "api"):
        app.register_blueprint(import_module(f"app.{area}.blueprint").bp)


def register_security(app: Flask) -> None:
    from app.auth import security

    security.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    from app.core import errors

    errors.init_app(app)


def register_template_helpers(app: Flask) -> None:
    from app.core import assets, templating

    templating.init_app(app)
    assets.init_app(app)


def register_cli(app: Flask) -> None:
    from app import cli

    cli.init_app(app)
