#!/usr/bin/env bash
# Debian's headless Chromium and its chromedriver, for tests/browser. Idempotent and quiet:
# apt runs only when a package is missing (apt-get update only then), so a second run takes well under a second.
# Never downloads a browser of its own (no `playwright install`, no Selenium Manager).
set -euo pipefail

# fonts-liberation: chromium only recommends it, and without fonts the screenshots would show boxes.
packages=(chromium chromium-driver fonts-liberation)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]})); then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "install_browser: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "install_browser: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    if ! { $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
           { $sudo apt-get update -qq >>"$log" 2>&1 &&
             $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }; }; then
        cat "$log" >&2
        echo "install_browser: apt-get could not install ${missing[*]}" >&2
        exit 1
    fi
fi

# Debian's /usr/bin/chromium wrapper prints a harmless shell warning on some machines; keep the output to one line each.
chromium --version 2>/dev/null
chromedriver --version 2>/dev/null

# axe-core, which the browser tests inject into Chromium to check accessibility (pinned in its package-lock).
support="$(dirname "$0")/../tests/browser/support"
if [[ ! -f "$support/node_modules/axe-core/axe.min.js" ]]; then
    command -v npm >/dev/null || { echo "install_browser: npm is needed for axe-core (apt-get install npm)" >&2; exit 1; }
    npm ci --prefix "$support" --silent --no-audit --no-fund
fi
