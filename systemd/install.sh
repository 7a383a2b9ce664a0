#!/usr/bin/env bash
# Install aglidein as a systemd service (README "Install as a systemd service"):
#   sudo systemd/install.sh            # from the repository root or anywhere
#   DESTDIR=/tmp/root systemd/install.sh   # into a staging root (packaging, tests)
#
# - a venv at /opt/aglidein with aglidein installed (the unit's ExecStart,
#   /opt/aglidein/bin/aglidein); rerun to upgrade it;
# - the aglidein user and group (systemd-sysusers) and its directories (systemd-tmpfiles);
# - the unit in /etc/systemd/system, the README in /usr/share/doc/aglidein;
# - /etc/aglidein/aglidein.yaml from conf/aglidein.example.yaml, root:aglidein 0640 so the
#   service user can read it, only if there is none yet (an edited config is kept).
# It enables and starts nothing: edit the config first, then `systemctl enable --now aglidein`.
# PYTHON (default python3, >= 3.11) makes the venv; PIP_ARGS are passed to `pip install`.
set -euo pipefail
umask 022 # the service user reads the venv, the unit and the docs

SOURCE=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PYTHON=${PYTHON:-python3}
PREFIX=/opt/aglidein
# shellcheck disable=SC2206  # PIP_ARGS is a list of words
PIP_ARGS=(${PIP_ARGS:-})
root_opt=()
[ -z "$DESTDIR" ] || root_opt=(--root="$DESTDIR")

step() { echo "install: $*" >&2; }

step "venv $DESTDIR$PREFIX"
[ -x "$DESTDIR$PREFIX/bin/python" ] || "$PYTHON" -m venv "$DESTDIR$PREFIX"
"$DESTDIR$PREFIX/bin/pip" install -q --upgrade "${PIP_ARGS[@]}" "$SOURCE"

step "user and directories"
mkdir -p "$DESTDIR/etc" # a staging root starts empty
install -D -m 0644 "$SOURCE/systemd/aglidein.sysusers.conf" "$DESTDIR/usr/lib/sysusers.d/aglidein.conf"
install -D -m 0644 "$SOURCE/systemd/aglidein.tmpfiles.conf" "$DESTDIR/usr/lib/tmpfiles.d/aglidein.conf"
systemd-sysusers "${root_opt[@]}" "$DESTDIR/usr/lib/sysusers.d/aglidein.conf"
systemd-tmpfiles "${root_opt[@]}" --create "$DESTDIR/usr/lib/tmpfiles.d/aglidein.conf"

step "unit and docs"
install -D -m 0644 "$SOURCE/systemd/aglidein.service" "$DESTDIR/etc/systemd/system/aglidein.service"
install -D -m 0644 "$SOURCE/README.md" "$DESTDIR/usr/share/doc/aglidein/README.md"

config=$DESTDIR/etc/aglidein/aglidein.yaml
if [ -e "$config" ]; then
  step "$config exists: kept"
else
  # The group as the (staging) root's own /etc/group has it: the host may not know it.
  gid=$(awk -F: '$1 == "aglidein" { print $3 }' "$DESTDIR/etc/group")
  [ -n "$gid" ] || { echo "install: no aglidein group in $DESTDIR/etc/group" >&2; exit 1; }
  install -o 0 -g "$gid" -m 0640 "$SOURCE/conf/aglidein.example.yaml" "$config"
  step "$config written (root:aglidein 0640): edit it"
fi
