"""Translation: the Chinese catalogue is complete, in sync with the code, compiled and used.

Chinese (zh_CN) is the default language of every page; English (the msgids) is the alternative.
These tests fail when a UI string is added without a translation, when a translation loses or
renames a placeholder, when `make messages` was not run after changing user-visible text, or when
the language choice stops reaching the page or the account.

`make test` compiles the catalogues before pytest (`setup` -> `translations`); the module fixture
below compiles too, so that `pytest` run on its own still tests the current catalogue.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext, ngettext

from app.core.extensions import db as _db
from app.filing.forms import DECLARATION
from app.models import User
from tests.helpers.web import login, post_form

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
# Flask-Babel looks catalogues up by str(Locale.parse("zh_CN")), which is "zh_Hans_CN": a folder
# named zh_CN is never found (python-babel likely subtags), and every page would stay English.
PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
BABEL_CFG = ROOT / "babel.cfg"
EXTRA_KEYWORDS = ["_l"]  # as in the Makefile's `pybabel extract -k _l`

# %(name)s, %(num)d, %(x).1f ... and a literal %% (which must survive translation too)
PLACEHOLDER_RE = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([sdifrx%])")


def read_catalogue():
    with PO.open("rb") as f:
        return read_po(f, locale="zh_CN")


def compile_catalogue() -> None:
    """What `pybabel compile -d app/translations` does, written atomically."""
    catalogue = read_catalogue()
    fd, tmp = tempfile.mkstemp(dir=MO.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write_mo(f, catalogue)  # fuzzy entries are left out, as pybabel does
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a compiled catalogue is not
        os.replace(tmp, MO)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogue(app):
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        compile_catalogue()
    # Flask-Babel caches loaded catalogues; a page rendered before compiling must not stick.
    with app.app_context():
        app.extensions["babel"].instance.domain_instance.cache.clear()
    return MO


def entries(catalogue):
    return [message for message in catalogue if message.id]


def placeholders(text: str) -> Counter:
    return Counter(f"%({name}){conv}" if name else f"%{conv}"
                   for name, conv in PLACEHOLDER_RE.findall(text))


def sample_values(msgid: str) -> dict[str, object]:
    return {name: (3 if conv in "dif" else "x") for name, conv in PLACEHOLDER_RE.findall(msgid)
            if name}


def source_messages() -> dict[str, tuple[str, int]]:
    """Every msgid the code and templates mark for translation, as `make messages` extracts them."""
    with BABEL_CFG.open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(BABEL_CFG))
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(EXTRA_KEYWORDS)}
    found: dict[str, tuple[str, int]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, (filename, lineno))
    return found


# --- the catalogue --------------------------------------------------------------------------------


def test_catalogue_header_is_chinese_with_one_plural_form():
    catalogue = read_catalogue()
    headers = dict(catalogue.mime_headers)
    assert headers["Language"] == "zh_CN"
    assert headers["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"
    assert catalogue.num_plurals == 1
    assert not catalogue.fuzzy


def test_catalogue_is_complete_and_not_fuzzy():
    catalogue = read_catalogue()
    messages = entries(catalogue)
    assert len(messages) > 100  # the catalogue was read, not an empty file
    untranslated, fuzzy = [], []
    for message in messages:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.pluralizable:
            assert len(strings) == catalogue.num_plurals, message.id
        if not all(s and s.strip() for s in strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
    assert not untranslated, f"untranslated: {untranslated}"
    assert not fuzzy, f"fuzzy: {fuzzy}"


def test_translations_keep_every_placeholder():
    wrong = []
    for message in entries(read_catalogue()):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = placeholders(ids[-1]) | placeholders(ids[0])
        values = sample_values(" ".join(ids))
        for string in strings:
            if placeholders(string) != expected:
                wrong.append((ids[0], string))
                continue
            # Templates always %-format (Jinja newstyle gettext): a stray % would break the page.
            try:
                string % values
            except (KeyError, TypeError, ValueError) as error:
                wrong.append((ids[0], f"{string} ({error})"))
    assert not wrong, f"placeholders differ: {wrong}"


def test_translations_are_chinese():
    """A msgstr copied from its English msgid is not a translation."""
    han = re.compile(r"[\u4e00-\u9fff]")

    def chinese(text: str) -> bool:
        # A pure arrangement of placeholders ("%(a)s%(b)s") has no words to translate.
        return bool(han.search(text)) or not PLACEHOLDER_RE.sub("", text).strip()

    not_chinese = [m.id for m in entries(read_catalogue())
                   if not all(chinese(s) for s in
                              (m.string if isinstance(m.string, tuple) else (m.string,)))]
    assert not not_chinese, f"no Chinese in the translation of: {not_chinese}"


def test_key_terms_are_translated_as_the_rules_say():
    catalogue = read_catalogue()
    expected = {
        "I declare that what I report is true and complete.": "本人承诺所报内容真实、完整。",
        "Zero report": "零报告",
        "Probing (打探)": "打探",
        "Interfering (干预)": "干预",
        "Inquiry within official duties (履职过问)": "履职过问",
        "Filed late": "逾期报送",
        "Missing (overdue)": "逾期未报",
        "Bureau leader": "局领导",
        "Discipline office": "机关纪委",
        "Sign in": "登录",
    }
    for msgid, msgstr in expected.items():
        assert catalogue.get(msgid) is not None, msgid
        assert catalogue.get(msgid).string == msgstr


def test_catalogue_is_where_flask_babel_looks_for_it(app):
    default = Locale.parse(app.config["BABEL_DEFAULT_LOCALE"])
    assert PO.parent.parent.name == str(default)
    assert {str(Locale.parse(code)) for code in app.config["LANGUAGES"]} - {"en"} == {str(default)}


# --- the catalogue against the source -------------------------------------------------------------


def test_every_string_in_the_source_is_in_the_catalogue():
    catalogue = read_catalogue()
    source = source_messages()
    assert "Sign in" in source and "Register an incident" in source  # extraction worked
    assert "Probing (打探)" in source  # ... including the _l keyword
    missing = {msgid: where for msgid, where in source.items() if catalogue.get(msgid) is None}
    assert not missing, (
        "strings not in the catalogue (run `make messages` and translate them): "
        + "; ".join(f"{path}:{line} {msgid!r}" for msgid, (path, line) in missing.items())
    )


# --- the compiled catalogue in the app ------------------------------------------------------------


def test_compiled_catalogue_is_current():
    assert MO.exists()
    assert MO.stat().st_mtime >= PO.stat().st_mtime


def test_compiled_catalogue_translates(app):
    with app.test_request_context("/"):
        with force_locale("zh_CN"):
            assert gettext("I declare that what I report is true and complete.") == (
                "本人承诺所报内容真实、完整。")
            assert str(DECLARATION) == "本人承诺所报内容真实、完整。"
            one = ngettext("%(num)d incident", "%(num)d incidents", 1)
            many = ngettext("%(num)d incident", "%(num)d incidents", 5)
            assert one.startswith("1") and many.startswith("5")
            assert "incident" not in one + many
        with force_locale("en"):
            assert str(DECLARATION) == "I declare that what I report is true and complete."
            assert ngettext("%(num)d incident", "%(num)d incidents", 5) == "5 incidents"


# --- pages ----------------------------------------------------------------------------------------


def test_pages_are_chinese_by_default(client):
    response = client.get("/auth/login")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in page
    assert "登录" in page
    assert "审计独立性登记报告平台" in page
    assert "Sign in" not in page


def test_language_form_switches_an_anonymous_visitor_to_english(client):
    response = post_form(
        client, "/language", {"lang": "en", "next": "/auth/login"}, form_url="/auth/login"
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/login")
    page = client.get("/auth/login").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Sign in" in page
    assert "登录" not in page

    post_form(client, "/language", {"lang": "zh_CN", "next": "/auth/login"}, form_url="/auth/login")
    page = client.get("/auth/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "登录" in page


def test_unknown_language_is_refused(client):
    post_form(client, "/language", {"lang": "fr", "next": "/auth/login"}, form_url="/auth/login")
    page = client.get("/auth/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


def test_a_signed_in_users_choice_is_kept_on_the_account(app, client, auditor, frozen):
    login(client, auditor)
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "退出登录" in page

    response = post_form(client, "/language", {"lang": "en", "next": "/"}, form_url="/")
    assert response.status_code == 302
    _db.session.expire_all()  # the request committed through its own session
    assert _db.session.get(User, auditor.id).locale == "en"
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and "Sign out" in page

    # Another browser, which never chose a language: the account's choice applies after sign-in.
    other = app.test_client()
    assert '<html lang="zh-CN">' in other.get("/auth/login").get_data(as_text=True)
    login(other, auditor)
    page = other.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and "Sign out" in page
