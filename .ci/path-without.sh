#!/usr/bin/env bash
# Prints a PATH that hides the named programs: every PATH folder's entries linked into one fresh
# folder, except those names. Used to prove that a step needs no system ffmpeg/flac, or no nvcc.
set -euo pipefail
shadow=$(mktemp -d)
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  for f in "$d"/*; do
    name=${f##*/}
    skip=0
    for hide in "$@"; do [ "$name" = "$hide" ] && skip=1; done
    [ $skip -eq 0 ] && [ -x "$f" ] && [ ! -e "$shadow/$name" ] && ln -s "$f" "$shadow/$name"
  done
done
echo "$shadow"
