package engineslots

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Random 64-bit values for session ids and generation nonces, made as the
// Rust client makes them (src/remote/nonce.rs): one random key per process,
// a counter and the process id, through SplitMix64's finaliser. Not
// cryptographic: the values only have to differ.

var (
	nonceKeyOnce sync.Once
	nonceKey     uint64
	nonceCounter atomic.Uint64
)

func nonceNext() uint64 {
	nonceKeyOnce.Do(func() {
		var b [8]byte
		if _, err := rand.Read(b[:]); err == nil {
			nonceKey = binary.LittleEndian.Uint64(b[:])
		} else {
			nonceKey = uint64(time.Now().UnixNano())
		}
	})
	n := nonceCounter.Add(1) - 1
	pid := uint64(os.Getpid())
	return splitMix(nonceKey ^ n*0x9E3779B97F4A7C15 ^ pid<<40)
}

func splitMix(x uint64) uint64 {
	z := x + 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// nonceHex is a fresh random value as 16 lowercase hex digits.
func nonceHex() string { return fmt.Sprintf("%016x", nonceNext()) }
