#!/usr/bin/env bash
# Builds the optimize.exe a trader downloads: x86_64-pc-windows-gnu release build, then the debug
# info (the release profile keeps line tables, ~64 MB) is split off into optimize.exe.debug and the
# exe is stripped and linked to it (.gnu_debuglink), so crash addresses can still be resolved
# with the .debug file kept next to the build.
#
#   packaging/build-windows.sh [OUT_DIR]     (default target/dist/windows)
#
# Needs: rustup target x86_64-pc-windows-gnu, mingw-w64 (x86_64-w64-mingw32-gcc, -objcopy, -strip).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=x86_64-pc-windows-gnu
OUT=${1:-target/dist/windows}
OBJCOPY=${OBJCOPY:-x86_64-w64-mingw32-objcopy}
STRIP=${STRIP:-x86_64-w64-mingw32-strip}
for t in x86_64-w64-mingw32-gcc "$OBJCOPY" "$STRIP"; do
    command -v "$t" >/dev/null || { echo "FAIL: $t not found (apt-get install mingw-w64)" >&2; exit 2; }
done

cargo build -p optimize --target "$TARGET" --release
mkdir -p "$OUT"
EXE="$OUT/optimize.exe"
cp "target/$TARGET/release/optimize.exe" "$EXE"
# Split: keep the debug sections in optimize.exe.debug, strip them (and the symbol table) from
# the exe, and record the .debug file's name and CRC in the exe.
"$OBJCOPY" --only-keep-debug "$EXE" "$EXE.debug"
"$STRIP" --strip-debug --strip-unneeded "$EXE"
(cd "$OUT" && "$OBJCOPY" --add-gnu-debuglink=optimize.exe.debug optimize.exe)
echo "$EXE: $(stat -c %s "$EXE") bytes (debug info: $EXE.debug, $(stat -c %s "$EXE.debug") bytes)"
