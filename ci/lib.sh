#!/usr/bin/env bash
# ci/lib.sh - helpers the ci/ scripts source (`. ci/lib.sh` from the repository root):
#
#   use_ccache        when ccache is installed, fresh CMake build trees compile through it
#                     (CMAKE_C/CXX_COMPILER_LAUNCHER from the environment, read on a tree's first
#                     configure); without ccache nothing changes. Paths are hashed relative to
#                     the checkout and the build directory is not hashed, so another clone of
#                     the repository (CI's) hits the same cache; the debug info of such a hit
#                     names the other clone's build directory.
#   timed NAME CMD... runs CMD (a command or a shell function; under `set -e` a failure ends the
#                     script there) and then prints "time: NAME: <seconds> s".

use_ccache() {
  command -v ccache >/dev/null 2>&1 || return 0
  export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER:-ccache}
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(pwd)}
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
}

timed() {
  local name=$1 t0=$SECONDS
  shift
  "$@"
  echo "time: ${name}: $((SECONDS - t0)) s"
}
