#!/usr/bin/env bash
# Debian packages: speech synthesis (espeak-ng, flite, sox) and the embedded real data sets
# (see mmpretrain/data/sources). Needs root; skips what is already installed.
set -euo pipefail
PKGS="espeak-ng flite sox fortunes jargon-text python3.11-doc dataset-fashion-mnist"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
