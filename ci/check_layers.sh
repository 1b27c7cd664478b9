#!/usr/bin/env bash
# ci/check_layers.sh - the include rules of the design: lower layers never include higher ones
# (with or without a directory: a bare "heap_state.h" is the top level), the layers below capi
# never include the top-level public headers (kmalloc/heap.h, kmalloc/kmalloc.h), only the
# platform layer includes OS headers, and model/ never includes allocator internals.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
fail() { echo "layers: $*"; bad=1; }

# Layer order, lowest first; a file may include its own layer and lower ones. The files directly
# in allocator/src (heap.cpp, heap_state.h, config.cpp, options.cpp) are the top level, above
# every layer. Public headers (kmalloc/*.h) hold shared types and may be included anywhere, but
# kmalloc/heap.h and kmalloc/kmalloc.h (the API) only by capi and the top level.
layers=(support platform report page slab front capi)
top=${#layers[@]}
rank() { local i; for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }

for f in $(git ls-files 'allocator/src/*/*.h' 'allocator/src/*/*.cpp'); do
  own=$(basename "$(dirname "$f")")
  r_own=$(rank "$own")
  [ "$r_own" -lt 0 ] && continue
  while IFS= read -r inc; do
    dir=${inc%%/*}
    r_inc=$(rank "$dir")
    if [ "$r_inc" -gt "$r_own" ]; then fail "$f includes higher layer $inc"; fi
  done < <(grep -oE '#include "[a-z_]+/[^"]+"' "$f" | sed -E 's/#include "([^"]+)"/\1/')
  # A bare include names a file of its own directory, or else one of the top level.
  while IFS= read -r inc; do
    if [ ! -e "$(dirname "$f")/$inc" ] && [ -e "allocator/src/$inc" ] && [ "$top" -gt "$r_own" ]; then
      fail "$f includes the top-level $inc"
    fi
  done < <(grep -oE '#include "[a-z_]+\.h"' "$f" | sed -E 's/#include "([^"]+)"/\1/')
  if [ "$own" != capi ] && grep -qE '#include "kmalloc/(heap|kmalloc)\.h"' "$f"; then
    fail "$f includes the public API header; include the small kmalloc/*_info.h headers"
  fi
done

os_headers='<(sys/|unistd\.h|pthread\.h|fcntl\.h|dlfcn\.h)'
for f in $(git ls-files 'allocator/src/*' 'allocator/include/*'); do
  case "$f" in allocator/src/platform/*) continue ;; esac
  if grep -qE "#include ${os_headers}" "$f"; then fail "$f includes an OS header outside platform/"; fi
done

if git ls-files 'model/*' | xargs -r grep -nE '#include "(\.\./)*(allocator/src|heap_state|page/|slab/|support/|platform/)' ; then
  fail "model/ includes allocator internals"
fi
[ $bad -eq 0 ] && echo "layers: include rules hold"
exit $bad
