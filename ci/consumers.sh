#!/usr/bin/env bash
# ci/consumers.sh - builds, installs and links the library the ways its users do, from scratch,
# in build/consumers (removed and made anew on every run). Run by ci/test.sh; on its own:
#
#   ci/consumers.sh
#
# Each check prints "consumers: <what>: ok"; the first failure prints the failing command and
# the end of its output and exits non-zero. The checks:
#   1. the README's release build and install (`cmake --preset release`, build, install), with
#      g++ as written, with g++ and -DKMALLOC_WERROR=ON (the release build stays warning-free),
#      and with clang-14 (also -DKMALLOC_WERROR=ON); every install is freestanding: no
#      libstdc++/libsupc++/libatomic symbol in libkmalloc.a, no such NEEDED in libkmalloc.so;
#   2. find_package(kmalloc CONFIG REQUIRED) from a C++ project (examples/cpp) and from a C-only
#      project (examples/c, `project(... LANGUAGES C)`), each linking kmalloc::kmalloc (static)
#      and kmalloc::kmalloc_shared, and running the programs;
#   3. pkg-config: shared (found at run time through -Wl,-rpath,<libdir>), and fully static
#      (`cc -static ... $(pkg-config --static --cflags --libs kmalloc)`), run;
#   4. add_subdirectory from a g++ Release project with enable_testing() (examples/subdirectory):
#      no kmalloc test, model or fuzz target is built and the project's `ctest -N` lists its own
#      test only; kmalloc's flags (-Werror, -fno-exceptions, ...) do not reach the project's code;
#   5. every ```c and ```cpp block of README.md, taken from the file itself: a block must be a
#      whole program that compiles (-Wall -Wextra -Werror, linked with the static library) and
#      exits 0, unless the line directly before its opening fence is exactly
#          <!-- fragment -->
#      Then it is only compiled, as the body of a function: its #include lines go to file
#      scope, after kmalloc/kmalloc.h (C) or kmalloc/heap.h (C++), which a fragment may leave out.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. ci/lib.sh
use_ccache
jobs=$(nproc)

work="$root/build/consumers"
rm -rf "$work"
mkdir -p "$work/logs"
step=0

fail() {
  echo "consumers: FAILED: $*" >&2
  exit 1
}
# run CMD...: runs CMD with its output in a log; on failure prints the command and the log's end.
run() {
  step=$((step + 1))
  local log="$work/logs/$step.log"
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    echo "consumers: FAILED (exit status $rc): $*" >&2
    echo "---- last lines of its output ($log):" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}
ok() { echo "consumers: $1: ok"; }

# ---- 1. release builds and installs
# release_install NAME PREFIX [cmake -D...]: the README's three commands in build/consumers/NAME.
release_install() {
  local name=$1 prefix=$2
  shift 2
  run cmake --preset release -B "$work/$name" "$@"
  run cmake --build "$work/$name" --parallel "$jobs"
  run cmake --install "$work/$name" --prefix "$prefix"
}
# freestanding PREFIX: the installed libraries need no C++ runtime and no libatomic.
# (__cxa_atexit, which registers the default heap's destructor, is glibc's.)
freestanding() {
  local lib="$1/lib/libkmalloc.a" so="$1/lib/libkmalloc.so" bad needed
  [ -f "$lib" ] && [ -f "$so" ] || fail "$1 lacks libkmalloc.a or libkmalloc.so"
  for f in kmalloc.h heap.h config.h report.h gfp.h slab.h export.h; do
    [ -f "$1/include/kmalloc/$f" ] || fail "$1/include/kmalloc/$f is not installed"
  done
  bad=$(nm -u "$lib" | awk 'NF >= 2 {print $NF}' |
    grep -E '^(__cxa_|__gxx_|_Zn[wa]|_Zd[la]|_ZSt|_ZNSt|_ZNKSt|_ZTV|_ZTI|__atomic_|_Unwind_)' |
    grep -vx '__cxa_atexit' | sort -u || true)
  [ -z "$bad" ] || fail "$lib refers to the C++ runtime: $(echo "$bad" | c++filt | tr '\n' ' ')"
  needed=$(readelf -d "$so" | grep NEEDED || true)
  if echo "$needed" | grep -qE 'libstdc\+\+|libsupc\+\+|libc\+\+|libatomic'; then
    fail "$so needs a C++ runtime: $needed"
  fi
}

gcc_prefix="$work/prefix-gcc"
clang_prefix="$work/prefix-clang"
release_install release-gcc "$gcc_prefix"
freestanding "$gcc_prefix"
ok "release preset build + install (g++)"
run cmake --preset release -B "$work/release-gcc-werror" -DKMALLOC_WERROR=ON
run cmake --build "$work/release-gcc-werror" --parallel "$jobs"
ok "release preset build with -DKMALLOC_WERROR=ON (g++)"
release_install release-clang "$clang_prefix" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DKMALLOC_WERROR=ON
freestanding "$clang_prefix"
ok "release preset build + install with -DKMALLOC_WERROR=ON (clang-14)"
ok "libkmalloc.a and libkmalloc.so need no C++ runtime (g++ and clang builds)"
# The malloc shim is installed beside them and runs a program under LD_PRELOAD.
for prefix in "$gcc_prefix" "$clang_prefix"; do
  [ -f "$prefix/lib/libkmalloc-malloc.so" ] || fail "$prefix/lib/libkmalloc-malloc.so is not installed"
  run env LD_PRELOAD="$prefix/lib/libkmalloc-malloc.so" ls "$prefix/lib"
done
ok "libkmalloc-malloc.so installed (g++ and clang builds) and runs ls under LD_PRELOAD"

# ---- 2. find_package
# no_cxx_runtime EXE: EXE does not need libstdc++ (a C program must not).
no_cxx_runtime() {
  if readelf -d "$1" | grep NEEDED | grep -qE 'libstdc\+\+|libc\+\+|libatomic'; then
    fail "$1 needs a C++ runtime: $(readelf -d "$1" | grep NEEDED | tr '\n' ' ')"
  fi
}
# needs_libkmalloc EXE yes|no: whether EXE is linked against libkmalloc.so.
needs_libkmalloc() {
  local has=no
  readelf -d "$1" | grep NEEDED | grep -q 'libkmalloc\.so' && has=yes
  [ "$has" = "$2" ] || fail "$1: NEEDED libkmalloc.so is '$has', expected '$2'"
}

b="$work/find-cpp"
run cmake -S examples/cpp -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$gcc_prefix"
run cmake --build "$b" --parallel "$jobs"
run "$b/heap_cpp_static"
run "$b/heap_cpp_shared"
needs_libkmalloc "$b/heap_cpp_static" no
needs_libkmalloc "$b/heap_cpp_shared" yes
ok "find_package from a C++ project: kmalloc::kmalloc and kmalloc::kmalloc_shared"

for flavour in gcc clang; do
  prefix="$work/prefix-$flavour"
  b="$work/find-c-$flavour"
  run cmake -S examples/c -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc \
    -DCMAKE_PREFIX_PATH="$prefix"
  run cmake --build "$b" --parallel "$jobs"
  run "$b/hello_c_static"
  run "$b/hello_c_shared"
  for exe in "$b/hello_c_static" "$b/hello_c_shared"; do no_cxx_runtime "$exe"; done
  needs_libkmalloc "$b/hello_c_static" no
  needs_libkmalloc "$b/hello_c_shared" yes
  ok "find_package from a C-only project, C linker: kmalloc::kmalloc and kmalloc::kmalloc_shared ($flavour-built library)"
done

# ---- 3. pkg-config
export PKG_CONFIG_PATH="$gcc_prefix/lib/pkgconfig"
run pkg-config --exists --print-errors kmalloc
cflags=$(pkg-config --cflags kmalloc)
libs=$(pkg-config --libs kmalloc)
libdir=$(pkg-config --variable=libdir kmalloc)
static_libs=$(pkg-config --static --libs kmalloc)
b="$work/pkg-config"
mkdir -p "$b"
# shellcheck disable=SC2086
run cc -std=c11 -Wall -Wextra -Werror examples/c/hello_kmalloc.c $cflags $libs \
  -Wl,-rpath,"$libdir" -o "$b/hello_shared"
run "$b/hello_shared"
needs_libkmalloc "$b/hello_shared" yes
no_cxx_runtime "$b/hello_shared"
# shellcheck disable=SC2086
run c++ -std=c++20 -Wall -Wextra -Werror examples/cpp/heap.cpp $cflags $libs \
  -Wl,-rpath,"$libdir" -o "$b/heap_shared"
run "$b/heap_shared"
ok "pkg-config, shared (run time: -Wl,-rpath,\$(pkg-config --variable=libdir kmalloc))"
# shellcheck disable=SC2086
run cc -static -std=c11 -Wall -Wextra -Werror examples/c/hello_kmalloc.c $cflags $static_libs \
  -o "$b/hello_static"
run "$b/hello_static"
if readelf -d "$b/hello_static" 2>/dev/null | grep -q NEEDED; then
  fail "$b/hello_static (cc -static) still needs shared libraries"
fi
ok "pkg-config --static, fully static C program"

# ---- 4. add_subdirectory
b="$work/subdirectory"
run cmake -S examples/subdirectory -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DKMALLOC_SOURCE_DIR="$root"
run cmake --build "$b" --parallel "$jobs"
cmake --build "$b" --target help >"$work/logs/subdirectory-targets.txt"
kmalloc_verification='kmalloc_model|kmalloc_[a-z0-9_]*tests?\b|fuzz_|_replay'
if grep -E "$kmalloc_verification" "$work/logs/subdirectory-targets.txt"; then
  fail "add_subdirectory(kmalloc) with default options has kmalloc test/model/fuzz targets (above)"
fi
grep -qE '^kmalloc(_shared)?: ' "$work/logs/subdirectory-targets.txt" ||
  fail "add_subdirectory(kmalloc) has no kmalloc/kmalloc_shared target"
for d in model tests property fuzz; do
  [ ! -e "$b/kmalloc/$d" ] || fail "add_subdirectory(kmalloc) configured kmalloc's $d/ ($b/kmalloc/$d)"
done
if find "$b" -name '*.a' -o -name 'kmalloc_*test*' -o -name '*_replay' | grep -vE '/libkmalloc\.a$' |
  grep .; then
  fail "add_subdirectory(kmalloc) built more than the library (above)"
fi
ctest --test-dir "$b" -N >"$work/logs/subdirectory-ctest-N.txt"
tests=$(grep -E '^ *Test +#' "$work/logs/subdirectory-ctest-N.txt" | sed -E 's/^ *Test +#[0-9]+: //')
[ "$tests" = app_runs ] ||
  fail "the consumer's ctest -N lists more than its own test app_runs: $(echo "$tests" | tr '\n' ' ')"
run ctest --test-dir "$b" --output-on-failure
app_compile=$(ninja -C "$b" -t commands app | grep -F 'cpp/heap.cpp' | grep -E -- ' -c ' | head -1)
[ -n "$app_compile" ] || fail "no compile command for the consumer's own source in $b"
if echo "$app_compile" | grep -qE -- '-Werror|-fno-exceptions|-fno-rtti|-fvisibility|-fsanitize|-fprofile'; then
  fail "kmalloc's flags reach the consumer's code: $app_compile"
fi
ok "add_subdirectory in a g++ Release project: library only, ctest -N lists only the project's test"

# ---- 5. the README's code blocks
rd="$work/readme"
mkdir -p "$rd"
# Writes block-<line>.<c|cpp> for each block (line: of the opening fence), and an empty
# block-<line>.<lang>.fragment next to a block marked <!-- fragment -->.
awk -v dir="$rd" '
  !inblock && /^```(c|cpp)[ \t]*$/ {
    lang = $0; sub(/^```/, "", lang); gsub(/[ \t]/, "", lang)
    file = sprintf("%s/block-%04d.%s", dir, NR, lang)
    printf "" > file
    if (prev == "<!-- fragment -->") { printf "" > (file ".fragment"); close(file ".fragment") }
    inblock = 1; prev = $0; next
  }
  inblock && /^```/ { inblock = 0; close(file); prev = $0; next }
  inblock { print >> file }
  { prev = $0 }
' README.md
mapfile -t blocks < <(find "$rd" -name 'block-*.c' -o -name 'block-*.cpp' | sort)
[ ${#blocks[@]} -gt 0 ] || fail "README.md has no \`\`\`c or \`\`\`cpp block"
for src in "${blocks[@]}"; do
  base=$(basename "$src")
  line=$((10#$(echo "$base" | sed -E 's/^block-([0-9]+)\..*/\1/')))
  lang=${base##*.}
  if [ "$lang" = c ]; then
    compiler=(gcc -std=c11) header=kmalloc/kmalloc.h sig="void readme_fragment(void)"
  else
    compiler=(g++ -std=c++20) header=kmalloc/heap.h sig="void readme_fragment()"
  fi
  if [ -e "$src.fragment" ]; then
    wrapped="$rd/fragment-$line.$lang"
    {
      echo "#include \"$header\""
      grep -E '^[[:space:]]*#[[:space:]]*include' "$src" || true
      echo "$sig {"
      grep -vE '^[[:space:]]*#[[:space:]]*include' "$src" || true
      echo "}"
    } >"$wrapped"
    run "${compiler[@]}" -fsyntax-only -I"$gcc_prefix/include" "$wrapped"
    ok "README.md block at line $line ($lang, fragment): compiles"
  else
    run "${compiler[@]}" -Wall -Wextra -Werror -I"$gcc_prefix/include" "$src" \
      "$gcc_prefix/lib/libkmalloc.a" -o "$rd/program-$line"
    run "$rd/program-$line"
    ok "README.md block at line $line ($lang): compiles, links, runs, exits 0"
  fi
done
