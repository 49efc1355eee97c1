#!/bin/sh
# Installs the audit independence portal from this bundle alone: no package index, no
# internet. Every wheel is checked against the hashes of requirements.txt (the project's lock).
#   sudo ./install.sh                              # into /opt/audit-portal
#   sudo PREFIX=/srv/portal PYTHON=python3.12 ./install.sh
# Run it again to upgrade (then `portal db upgrade` and restart both services).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-/opt/audit-portal}
PYTHON=${PYTHON:-python3}
version=$(cat "$here/VERSION")

if ! "$PYTHON" -c 'import platform, sys; sys.exit(sys.version_info < (3, 11) or platform.python_implementation() != "CPython")' 2>/dev/null; then
    echo "install.sh: needs CPython 3.11 or newer (PYTHON=$PYTHON); see DEBIAN-PACKAGES.txt" >&2
    exit 1
fi
mkdir -p "$PREFIX"
if [ ! -x "$PREFIX/venv/bin/python" ]; then
    "$PYTHON" -m venv "$PREFIX/venv" || {
        echo "install.sh: '$PYTHON -m venv' failed; on Debian: apt-get install python3-venv" >&2
        exit 1
    }
fi

# Only this bundle: no index, and no pip configuration of the machine pointing elsewhere.
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
pip="$PREFIX/venv/bin/python -m pip"
$pip install --quiet --no-index --find-links "$here/wheels" --require-hashes \
    -r "$here/requirements.txt"
# The portal itself, reinstalled even at the same version (a rebuilt bundle), then checked.
$pip install --quiet --no-index --find-links "$here/wheels" --require-hashes --no-deps \
    --force-reinstall -r "$here/portal.txt"
$pip check

# The migrations beside the code: the units and bin/portal run in $PREFIX, where
# `flask db upgrade` and /healthz look for ./migrations.
rm -rf "$PREFIX/migrations.new"
cp -R "$here/migrations" "$PREFIX/migrations.new"
rm -rf "$PREFIX/migrations"
mv "$PREFIX/migrations.new" "$PREFIX/migrations"

mkdir -p "$PREFIX/bin" "$PREFIX/share"
cp "$here/deploy/bin/portal" "$PREFIX/bin/portal"
chmod 0755 "$PREFIX/bin/portal"
rm -rf "$PREFIX/share/deploy"
cp -R "$here/deploy" "$PREFIX/share/deploy"
cp "$here/README.md" "$here/DEBIAN-PACKAGES.txt" "$PREFIX/share/"
echo "$version" > "$PREFIX/VERSION"

echo "audit portal $version installed in $PREFIX ($("$PREFIX/venv/bin/python" -V))."
echo "Next (README, Deploying): the service user, /etc/audit-portal/portal.env,"
echo "  $PREFIX/bin/portal db upgrade, the systemd units, nginx, the backup cron."
