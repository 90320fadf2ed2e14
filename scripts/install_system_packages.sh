#!/usr/bin/env bash
# Debian packages the project uses: speech synthesis (espeak-ng, flite, sox) and the embedded
# real data sets (see mmpretrain/data/sources). Installs what is missing when run as root with
# apt-get; otherwise prints the command to run and goes on (the tests that need them say so).
set -euo pipefail
PKGS="espeak-ng flite sox fortunes jargon-text python3.11-doc dataset-fashion-mnist fonts-noto-color-emoji unicode-data"
missing=""
if command -v dpkg >/dev/null 2>&1; then
  for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages:$missing"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
else
  echo "Missing Debian packages:$missing" >&2
  echo "Install them with: sudo apt-get install$missing" >&2
fi
