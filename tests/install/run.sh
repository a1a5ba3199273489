#!/bin/bash
# SPDX-License-Identifier: MIT
# Install the build tree into a scratch prefix, then build a consumer project against it
# twice: with CMake's find_package(loom) and with pkg-config.
set -eu
src=$1
build=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loom-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
test -f "$prefix/include/loom/loom.h"
test -f "$prefix/lib/cmake/loom/loomConfig.cmake"
test -f "$prefix/lib/pkgconfig/loom.pc"
test -x "$prefix/bin/loom"

# find_package(loom)
cmake -S "$src/tests/install/consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
"$tmp/cm/consumer"

# pkg-config
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
cc -o "$tmp/pc-consumer" "$src/tests/install/consumer/consumer.c" $(pkg-config --cflags --libs loom)
LD_LIBRARY_PATH=$prefix/lib "$tmp/pc-consumer"

# The installed loom runs from its prefix.
"$prefix/bin/loom" version | grep -q '^loom '
echo "install: find_package and pkg-config consumers built and ran"
