#!/usr/bin/env sh
# Debian's Chromium for the browser test of `sdce viz` (tests/test_viz_browser.py); nothing to do when present.
# Playwright drives it at /usr/bin/chromium, because `playwright install` cannot download browsers everywhere.
set -eu
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium > /dev/null
/usr/bin/chromium --version
