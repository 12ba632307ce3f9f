package engineslots

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

// luaSource is the server-side library, redis/engine_slots.lua: the one
// definition of the remote-table protocol, which every client (Rust, C, Go)
// loads. go:embed cannot reach outside this module, so engine_slots.lua
// here is a generated copy (gen-lua.sh); TestEmbeddedLuaIsTheLibrary fails
// while it differs from the repository's file.
//
//go:embed engine_slots.lua
var luaSource string

// The library's constants this client relies on, read from the source
// itself so they never drift: the protocol version and the limits checked
// here before a round trip.
var (
	luaMajor       = luaConst("MAJOR")
	luaMinor       = luaConst("MINOR")
	luaKeyMax      = int(luaConst("KEY_MAX"))
	luaMaxEngines  = luaConst("MAX_ENGINES")
	luaMaxTickets  = luaConst("MAX_TICKETS")
	luaMaxCapacity = luaConst("MAX_CAPACITY")
)

// luaConst is the integer of the line `local NAME = N` in luaSource.
func luaConst(name string) int64 {
	prefix := "local " + name + " = "
	for _, l := range strings.Split(luaSource, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n
				}
			}
		}
	}
	panic(fmt.Sprintf("engineslots: embedded engine_slots.lua has no `local %s = <int>`", name))
}
