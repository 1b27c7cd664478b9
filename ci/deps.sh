#!/usr/bin/env bash
# ci/deps.sh - installs what the build needs, from Debian packages only. Idempotent: when every
# package is already installed it changes nothing and returns in well under a second.
# python3, sqlite3, xz-utils, gzip and time are the real programs of ci/real-programs.sh;
# libjemalloc-dev, libmimalloc-dev and libgoogle-perftools-dev (tcmalloc) are the peers of
# bench/compare.sh.
set -euo pipefail

packages=(
  cmake ninja-build g++ clang-14 libclang-rt-14-dev llvm-14 clang-format-14
  googletest libgtest-dev librapidcheck-dev libbenchmark-dev pkg-config ccache
  python3 sqlite3 xz-utils gzip time
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev
  afl++
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
