#!/usr/bin/env bash
# System packages the test suite needs: Xvfb + Mesa software OpenGL + the Qt xcb libraries for napari;
# Debian's chromium + chromium-driver for the docs test (headless, driven by selenium; no browser download).
# Installs only what is missing; needs root (CI runs as root) or passwordless sudo.
set -euo pipefail
pkgs=(xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libdbus-1-3 libfontconfig1
      libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0
      libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 chromium chromium-driver)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "sysdeps: missing ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
