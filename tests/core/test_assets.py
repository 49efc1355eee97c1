"""Static files: addressed by their content, kept by the browser for a year, asked again only
when they change."""

import hashlib
import re
from pathlib import Path

from tests.helpers.web import login

ROOT = Path(__file__).resolve().parents[2]


def _assets(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/(?:bootstrap/)?static/[^"]+)"', page)


def test_every_asset_of_a_page_carries_its_content_digest(client, auditor):
    login(client, auditor)
    assets = _assets(client.get("/").get_data(as_text=True))
    assert any("bootstrap" in a for a in assets) and any("portal.css" in a for a in assets)
    for address in assets:
        version = address.partition("?v=")[2]
        assert version, address
        response = client.get(address)
        assert response.status_code == 200
        assert hashlib.sha256(response.data).hexdigest().startswith(version)
        directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
        assert directives == {"public", "max-age=31536000", "immutable"}


def test_a_stale_or_missing_version_is_not_cached_for_long(client):
    for address in ("/static/css/portal.css", "/static/css/portal.css?v=000000000000"):
        response = client.get(address)
        assert response.status_code == 200
        assert "max-age=31536000" not in response.headers.get("Cache-Control", "")


def test_the_css_digest_follows_the_file(client):
    digest = hashlib.sha256((ROOT / "app/static/css/portal.css").read_bytes()).hexdigest()[:12]
    page = client.get("/auth/login").get_data(as_text=True)
    assert f"/static/css/portal.css?v={digest}" in page
