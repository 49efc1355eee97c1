"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`. Builds the app, nothing more."""

from app import create_app

app = create_app()
