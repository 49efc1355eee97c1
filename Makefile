# The README's two commands: `make run` (portal + demo on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
FLASK = $(BIN)/flask --app wsgi

.PHONY: run test setup translations fonts browser lint messages

run: setup
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	# The scheduler runs once, beside the web server (gunicorn, as in production: it announces
	# no version, unlike the development server).
	$(FLASK) scheduler & trap 'kill $$!' EXIT INT TERM; $(BIN)/gunicorn --bind 127.0.0.1:5000 --workers 2 wsgi:app

test: setup browser
	$(BIN)/ruff check app tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed translations fonts

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Catalogues are compiled in the build, never committed as .mo files.
translations: $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d app/translations

# The annual statement's PDF embeds a Chinese font (config PDF_FONT; default Noto Serif CJK).
fonts:
	@test -f /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc || { apt-get update -q && apt-get install -y -q fonts-noto-cjk; }

# Browser tests drive Debian's Chromium (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium fonts-noto-cjk; }

# Refresh the catalogue after changing user-visible text.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -o app/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching --ignore-obsolete
