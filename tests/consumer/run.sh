#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs a
# consumer with CMake (find_package) and with pkg-config.
set -euo pipefail
build="$1" src="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/consumer" -B "$tmp/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/cmake/consumer"
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" c++ "$src/tests/consumer/main.cc" -o "$tmp/pc-consumer" \
  $(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs recordlayer)
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/pc-consumer"
