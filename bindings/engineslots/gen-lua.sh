#!/usr/bin/env bash
# Regenerates engine_slots.lua, the copy of ../../redis/engine_slots.lua that
# the pure-Go remote client embeds (go:embed cannot reach outside the
# module). Never edit the copy: edit redis/engine_slots.lua and run this;
# TestEmbeddedLuaIsTheLibrary fails while they differ.
set -euo pipefail
cd "$(dirname "$0")"
cp ../../redis/engine_slots.lua engine_slots.lua.tmp
mv engine_slots.lua.tmp engine_slots.lua
