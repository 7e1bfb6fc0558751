#!/usr/bin/env bash
# The GraphiQL browser test (test/graphiql.e2e.spec.ts) drives Debian's Chromium through
# playwright-core, which downloads no browser of its own. This makes sure it is installed before
# `npm test`, and fails loudly otherwise: the browser test is never skipped.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensureChromium: $CHROMIUM is missing; installing Debian's chromium package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  if [ -x "$CHROMIUM" ]; then
    exit 0
  fi
  echo "ensureChromium: installed the chromium package but $CHROMIUM is still missing" >&2
  exit 1
fi

cat >&2 <<MESSAGE
ensureChromium: the GraphiQL browser test needs Chromium at $CHROMIUM, and it is not there.
Install it, e.g. on Debian or Ubuntu:  sudo apt-get install chromium
or point CHROMIUM_PATH at a Chromium or Chrome binary.
MESSAGE
exit 1
