#!/usr/bin/env bash
# Builds and runs the outside project in tests/consumer/ the three ways README's "Use tapegrad in your
# project" shows, each from a clean copy in a temporary folder:
#   1. meson, with tapegrad as a subproject through a .wrap file (git, with a revision): at the
#      consumer's default build type and at buildtype=release, and no "warning:" in either build log;
#   2. meson, with tapegrad installed (`meson install --destdir`) and found through pkg-config;
#   3. CMake, through pkg_check_modules(... IMPORTED_TARGET tapegrad), against the same installation.
# usage: tests/consumer/run.sh BUILD_DIR
#   BUILD_DIR: a built tapegrad build directory (./dev's build/), installed for ways 2 and 3.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:?usage: tests/consumer/run.sh BUILD_DIR}" && pwd)
consumer="$repo/tests/consumer"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tapegrad-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

say() { echo "consumer: $*"; }
fail() {
  echo "consumer: FAILED: $*" >&2
  exit 1
}

# step NAME LOG COMMAND...: runs COMMAND with its output in LOG; on failure prints LOG and fails.
step() {
  local name=$1 log=$2
  shift 2
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    fail "$name"
  fi
}

# no_warnings LOG: fails when the compiler said "warning:" in LOG.
no_warnings() {
  if grep -n 'warning:' "$1" >&2; then
    fail "warnings in $1 (above)"
  fi
}

# fresh_consumer DIR: a clean copy of the outside project.
fresh_consumer() {
  mkdir -p "$1"
  cp "$consumer/meson.build" "$consumer/CMakeLists.txt" "$consumer"/*.cpp "$1/"
}

# tapegrad's checkout as it is now (committed or not) in a git repository of its own: what a .wrap
# file fetches.
say "snapshot of $repo"
mkdir "$tmp/tapegrad"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$repo" && while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done) |
  (cd "$repo" && tar -cf - --null --no-recursion -T -) | tar -xf - -C "$tmp/tapegrad"
git -C "$tmp/tapegrad" init -q
git -C "$tmp/tapegrad" add -A
git -C "$tmp/tapegrad" -c user.name=consumer-test -c user.email=consumer-test@localhost commit -q -m snapshot
revision=$(git -C "$tmp/tapegrad" rev-parse HEAD)

# 1. A subproject through a .wrap file; nothing installed is visible to pkg-config.
fresh_consumer "$tmp/wrap"
mkdir "$tmp/wrap/subprojects"
cat >"$tmp/wrap/subprojects/tapegrad.wrap" <<EOF
[wrap-git]
url = $tmp/tapegrad
revision = $revision

[provide]
dependency_names = tapegrad, tapegrad-data, tapegrad-distributed
EOF
for buildtype in default release; do
  say "meson, tapegrad as a subproject, buildtype $buildtype"
  options=()
  [[ $buildtype == default ]] || options=(--buildtype="$buildtype")
  dir="$tmp/wrap/build-$buildtype"
  step "meson setup ($buildtype)" "$tmp/setup-$buildtype.log" \
    env -u PKG_CONFIG_PATH meson setup "$dir" "$tmp/wrap" "${options[@]}"
  if [[ $buildtype == default ]]; then
    # The consumer's default build type has no optimization: tapegrad says so, in one line.
    [[ $(grep -c 'tapegrad is built without optimization' "$tmp/setup-$buildtype.log") == 1 ]] ||
      fail "no one-line notice of an unoptimized tapegrad in $tmp/setup-$buildtype.log"
  fi
  step "meson compile ($buildtype)" "$tmp/compile-$buildtype.log" meson compile -C "$dir"
  no_warnings "$tmp/compile-$buildtype.log"
  step "meson test ($buildtype)" "$tmp/test-$buildtype.log" meson test -C "$dir" --print-errorlogs
done

# 2. Installed: the already built library of BUILD_DIR, installed into a temporary folder (--destdir);
# pkg-config finds it there (tapegrad's .pc files name their prefix relative to themselves).
say "meson install -C $build --destdir (reused library)"
stage="$tmp/stage"
step "meson install" "$tmp/install.log" meson install -C "$build" --destdir "$stage" --no-rebuild
prefix=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
options = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(options["prefix"], options["libdir"], options["includedir"])')
read -r prefix libdir includedir <<<"$prefix"
[[ $libdir == /* ]] || libdir="$prefix/$libdir"
[[ $includedir == /* ]] || includedir="$prefix/$includedir"
export PKG_CONFIG_PATH="$stage$libdir/pkgconfig"

# The installed headers are exactly the public ones: every .hpp at the top of autograd/, nn/, optim/
# and data/ (and distributed/ when the build found MPI), the umbrella headers and version.hpp; none
# from the folders below.
distributed=no
[[ -f $stage$libdir/pkgconfig/tapegrad-distributed.pc ]] && distributed=yes
(
  cd "$repo"
  folders=(autograd nn optim data)
  [[ $distributed == yes ]] && folders+=(distributed)
  for folder in "${folders[@]}"; do
    for f in "$folder"/*.hpp; do echo "tapegrad/$f"; done
  done
  for f in include/tapegrad/*.hpp; do
    [[ $distributed == no && $f == include/tapegrad/distributed.hpp ]] || echo "${f#include/}"
  done
  echo tapegrad/version.hpp
) | sort -u >"$tmp/public-headers"
(cd "$stage$includedir" && find tapegrad -name '*.hpp' | sort) >"$tmp/installed-headers"
if ! diff -u "$tmp/public-headers" "$tmp/installed-headers" >"$tmp/headers.diff"; then
  cat "$tmp/headers.diff" >&2
  fail "installed headers (+) differ from the public headers (-): list each public header in its folder's meson.build install_headers"
fi
version=$(meson introspect "$build" --projectinfo | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
[[ $(pkg-config --modversion tapegrad) == "$version" ]] || fail "tapegrad.pc's version is not $version"

say "meson, tapegrad installed, through pkg-config"
fresh_consumer "$tmp/installed"
step "meson setup (installed)" "$tmp/setup-installed.log" meson setup "$tmp/installed/build" "$tmp/installed"
step "meson compile (installed)" "$tmp/compile-installed.log" meson compile -C "$tmp/installed/build"
no_warnings "$tmp/compile-installed.log"
step "meson test (installed)" "$tmp/test-installed.log" meson test -C "$tmp/installed/build" --print-errorlogs

# 3. CMake against the same installation.
say "CMake, tapegrad installed, through pkg_check_modules"
fresh_consumer "$tmp/cmake"
step "cmake configure" "$tmp/cmake-configure.log" cmake -S "$tmp/cmake" -B "$tmp/cmake/build"
step "cmake build" "$tmp/cmake-build.log" cmake --build "$tmp/cmake/build"
no_warnings "$tmp/cmake-build.log"
step "ctest" "$tmp/ctest.log" ctest --test-dir "$tmp/cmake/build" --output-on-failure

say "all three ways built and ran"
