#!/usr/bin/env bash
# The system tools `make test`, `make demo` and `make bench` use: scripts/deps.sh [--check] TOOL...
#
# Checks that $PYTHON (default python3) is Python >= 3.11 and, while there is no .venv yet,
# can create one, and that every TOOL is on PATH. When something is missing it installs
# the Debian packages with apt-get if running as root on Debian/Ubuntu, and otherwise
# (or with --check) exits 1 with one line naming the exact packages. Silent, quick and
# without `apt-get update` when nothing is missing.
set -euo pipefail

# tool → Debian/Ubuntu package
declare -A PACKAGE=(
  [promtool]=prometheus
  [chromium]=chromium
  [wrk]=wrk
  [systemd-analyze]=systemd
  [curl]=curl
  [gzip]=gzip
  [tar]=tar
  [git]=git
)
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
OS_RELEASE=${AGLIDEIN_OS_RELEASE:-/etc/os-release}

check_only=false
if [ "${1:-}" = --check ]; then
  check_only=true
  shift
fi

fail() {
  echo "make deps: $*" >&2
  exit 1
}

missing_packages() {
  local tool
  local -a wanted=()
  for tool in "$@"; do
    [ -n "${PACKAGE[$tool]:-}" ] || fail "unknown tool '$tool' (known: ${!PACKAGE[*]})"
    command -v "$tool" >/dev/null || wanted+=("${PACKAGE[$tool]}")
  done
  if [ ! -x "$VENV/bin/python" ]; then
    local version
    if ! command -v "$PYTHON" >/dev/null; then
      wanted+=(python3 python3-venv)
    elif ! version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
      fail "$PYTHON does not run; aglidein needs Python >= 3.11: run make PYTHON=python3.X"
    elif ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      fail "aglidein needs Python >= 3.11, $PYTHON is $version: install a newer one and run make PYTHON=python3.X"
    elif ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
      wanted+=(python3-venv)
    fi
  fi
  [ "${#wanted[@]}" -eq 0 ] || printf '%s\n' "${wanted[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//'
}

debian_like() {
  [ -r "$OS_RELEASE" ] && command -v apt-get >/dev/null &&
    grep -Eq '^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b' "$OS_RELEASE"
}

need=$(missing_packages "$@")
[ -z "$need" ] && exit 0

if $check_only || [ "$(id -u)" -ne 0 ] || ! debian_like; then
  fail "missing system packages, install them (as root: apt-get install $need) and rerun"
fi

echo "make deps: installing $need" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # $need is a list of package names
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $need >/dev/null; }; then
  fail "apt-get install $need failed (see above)"
fi
still=$(missing_packages "$@")
[ -z "$still" ] || fail "still missing after apt-get install: $still"
