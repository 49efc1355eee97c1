# The README's two commands: `make run` (portal + demo on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
FLASK = $(BIN)/flask --app wsgi

.PHONY: run test setup translations fonts browser ldap lint messages lock bundle deploy-check

run: setup
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	# The scheduler runs once, beside the web server (gunicorn, as in production: it announces
	# no version, unlike the development server).
	$(FLASK) scheduler & trap 'kill $$!' EXIT INT TERM; $(BIN)/gunicorn --bind 127.0.0.1:5000 --workers 2 wsgi:app

test: setup browser ldap
	$(BIN)/ruff check app tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed translations fonts

# Installs exactly the pinned, hash-checked versions of requirements/dev.txt (runtime + test
# tools), then the portal itself without resolving anything (`make lock` writes the pins).
$(VENV)/.installed: pyproject.toml requirements/runtime.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Re-pin after changing a range in pyproject.toml (the source of the ranges): uv resolves one
# lock for every platform and Python >= 3.11 at once (--universal), with the hash of every file
# of each pinned release, so the offline bundle's aarch64 wheels are hash-checked too. Existing
# pins are kept where they still fit; `make lock UPGRADE=--upgrade` moves everything to the
# newest releases that fit.
UV_VERSION = 0.13.9
UV = $(VENV)/uv/bin/uv
LOCK = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--no-header --annotation-style line $(UPGRADE)
lock:
	test -x $(UV) || { $(PYTHON) -m venv $(VENV)/uv && $(VENV)/uv/bin/pip install --quiet uv==$(UV_VERSION); }
	$(LOCK) pyproject.toml -o requirements/runtime.txt
	$(LOCK) --extra dev --constraint requirements/runtime.txt pyproject.toml -o requirements/dev.txt

# Catalogues are compiled in the build, never committed as .mo files.
translations: $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d app/translations

# The annual statement's PDF embeds a Chinese font (config PDF_FONT; default Noto Serif CJK).
fonts:
	@test -f /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc || { apt-get update -q && apt-get install -y -q fonts-noto-cjk; }

# Browser tests drive Debian's Chromium (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium fonts-noto-cjk; }

# The directory sign-in tests start Debian's OpenLDAP server (slapd) on loopback; not needed to run.
ldap:
	@test -x /usr/sbin/slapd -a -x /usr/bin/ldapadd || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q slapd ldap-utils; }

# The offline bundle: dist/audit-portal-<version>-offline.tar.gz (see deploy/build-bundle).
bundle: setup
	PYTHON=$(BIN)/python deploy/build-bundle

# nginx -t on the site and systemd-analyze verify on the units (installs nginx if missing).
deploy-check:
	deploy/check

# Refresh the catalogue after changing user-visible text.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -o app/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching --ignore-obsolete
