package engineslots

import (
	"fmt"
	"strconv"
)

// Remote handles (src/remote/handles.rs, docs/REMOTE.md "Handles"): the
// same 64-bit values in every client, carried as 16 lowercase hex digits.
//
//	bits 60..64: kind (0xE engine, 0xA ticket)
//	bits 20..60: generation (40 bits, never 0)
//	bits  0..20: slot index
const (
	handleKindShift = 60
	handleEngine    = 0xE
	handleTicket    = 0xA
	handleGenMask   = ((uint64(1) << 40) - 1) << 20
)

// handleHex is the protocol form of raw, or false when raw cannot be a
// handle of that kind of a remote table (then it is stale, no round trip).
func handleHex(raw, kind uint64) (string, bool) {
	if raw>>handleKindShift != kind || raw&handleGenMask == 0 {
		return "", false
	}
	return fmt.Sprintf("%016x", raw), true
}

// parseHandle reads a handle the server sent; an error (EPROTO) if it is
// not one of that kind.
func parseHandle(v any, kind uint64) (uint64, error) {
	s, ok := v.(string)
	if !ok || len(s) != 16 {
		return 0, errGarbled
	}
	raw, err := strconv.ParseUint(s, 16, 64)
	if err != nil || raw>>handleKindShift != kind || raw&handleGenMask == 0 {
		return 0, errGarbled
	}
	return raw, nil
}
