"""Application factory: `create_app` runs short register_* steps and nothing else.

It never migrates or seeds the database: that is `flask db upgrade` and `flask demo`.
"""

from __future__ import annotations

import os

from flask import Flask

from config import CONFIGS, INSTANCE_DIR, ProductionConfig


def create_app(config_name: str | None = None, **overrides: object) -> Flask:
    config_name = config_name or os.environ.get("PORTAL_CONFIG", "development")
    config_class = CONFIGS[config_name]
    if config_class is ProductionConfig:
        ProductionConfig.check()
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(config_class)
    app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    register_logging(app)
    register_proxy(app)
    register_extensions(app)
    register_blueprints(app)
    register_security(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_cli(app)
    return app


def register_logging(app: Flask) -> None:
    from app import logs

    logs.register_logging(app)


def register_proxy(app: Flask) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    count = app.config["PROXY_COUNT"]
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (the models must be known to Alembic and create_all)
    from app.extensions import babel, bootstrap, csrf, db, login_manager, migrate
    from app.i18n import select_locale, select_timezone

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True)
    csrf.init_app(app)
    bootstrap.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    login_manager.init_app(app)


def register_blueprints(app: Flask) -> None:
    from app.admin import bp as admin_bp
    from app.auth import bp as auth_bp
    from app.dashboard import bp as dashboard_bp
    from app.desk import bp as desk_bp
    from app.filings import bp as filings_bp
    from app.main import bp as main_bp
    from app.notifications import bp as notifications_bp
    from app.statements import bp as statements_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(main_bp)
    app.register_blueprint(filings_bp)
    app.register_blueprint(desk_bp)
    app.register_blueprint(dashboard_bp, url_prefix="/compliance")
    app.register_blueprint(notifications_bp)
    app.register_blueprint(statements_bp)
    app.register_blueprint(admin_bp)


def register_security(app: Flask) -> None:
    from app import security

    security.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    from app import errors

    errors.init_app(app)


def register_template_helpers(app: Flask) -> None:
    from app import templating

    templating.init_app(app)


def register_cli(app: Flask) -> None:
    from app import cli

    cli.init_app(app)
