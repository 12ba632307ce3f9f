#!/usr/bin/env python3
"""Writes the seed corpus tests/fuzz/corpus/ for fuzz_api.c.

Each seed is a short, meaningful scenario in the harness's input encoding
(see fuzz_api.c): a flags byte, three config bytes, then operations. The
fuzzer mutates from these; they are committed so every run starts from the
interesting corners (removal with live tickets, draining, full tables, NULLs).
Re-run after changing the encoding: python3 tests/fuzz/make_corpus.py
"""
import os
import struct

OPS = ["add", "find", "remove", "drain", "undrain", "set_capacity", "set_healthy",
       "set_priority", "set_external", "reserve", "reserve_on", "commit", "cancel",
       "release", "touch", "reclaim", "stats", "snapshot", "foreign", "misc"]
OP = {name: i for i, name in enumerate(OPS)}
NULL_TABLE, NULL_OTHER = 6 << 5, 7 << 5


def cfg(engines=4, tickets=8, capacity=2, policy=0, leases=0, flags=0):
    a, b = engines - 1, tickets - 1
    c = (capacity - 1) | (policy << 2) | (leases << 4)
    return bytes([flags, a, b, c])


def key_fresh(k):  # selector 2: explicit bytes, any length 0..80
    return bytes([2, len(k)]) + k


def key_live(i=0):  # selector 0: the key of a live engine
    return bytes([0, i])


def cap(n):  # capacity chooser
    if n == 0:
        return bytes([0])
    if 1 <= n <= 4:
        return bytes([1, n - 1])
    if n == 2047:
        return bytes([2])
    if n == 2048:
        return bytes([3])
    return bytes([4]) + struct.pack("<I", n)


def eng_live(i=0):
    return bytes([0, i])


def eng_stale(i=0):
    return bytes([3, i])


def tik_live(i=0):
    return bytes([0, i])


def tik_stale(i=0):
    return bytes([3, i])


def op(name, *args, null=0):
    return bytes([OP[name] | null]) + b"".join(args)


def add(k, c=0, null=0, which=0):
    extra = bytes([which]) if null == NULL_OTHER else b""
    return op("add", extra, key_fresh(k), cap(c), null=null)


SEEDS = {
    # The README story: two engines, reserve, commit, release.
    "lifecycle": cfg() + add(b"engine-a") + add(b"engine-b", 4) + op("reserve")
    + op("commit", tik_live()) + op("snapshot", bytes([8])) + op("release", tik_live()),
    # Capacity 1: the second reserve is "no capacity"; cancel gives it back.
    "no_capacity": cfg(capacity=1) + add(b"e") + op("reserve") + op("reserve")
    + op("cancel", tik_live()) + op("reserve") + op("commit", tik_live()),
    # Removal with a pending and an active ticket, slot reuse, stale finishes.
    "remove_live": cfg(engines=1) + add(b"old") + op("reserve") + op("reserve")
    + op("commit", tik_live(0)) + op("remove", eng_live()) + add(b"new")
    + op("commit", tik_live(1)) + op("release", tik_live(0)) + op("reserve_on", eng_stale())
    + op("stats", eng_stale()) + op("touch", tik_stale()),
    # An active ticket of a removed engine: touch is stale, release is ok,
    # commit of the pending one is stale; a new engine takes the slot.
    "touch_removed": cfg(engines=1, capacity=2) + add(b"old") + op("reserve") + op("reserve")
    + op("commit", tik_live(0)) + op("remove", eng_live()) + op("touch", tik_live(0))
    + add(b"new") + op("touch", tik_live(0)) + op("reserve") + op("release", tik_live(0))
    + op("commit", tik_live(0)),
    # Draining stops admissions; undrain restores them.
    "drain": cfg(capacity=3) + add(b"a") + add(b"b") + op("drain", eng_live(0))
    + op("reserve_on", eng_live(0)) + op("reserve") + op("undrain", eng_live(0))
    + op("reserve_on", eng_live(0)),
    # Every ticket slot in use: table full, on reserve and reserve_on.
    "tickets_full": cfg(tickets=2, capacity=4) + add(b"a") + op("reserve") + op("reserve")
    + op("reserve") + op("reserve_on", eng_live()) + op("release", tik_live())
    + op("cancel", tik_live(1)),
    # Fill-first with mixed capacities, priorities and health.
    "fill_first": cfg(policy=1, capacity=4) + add(b"a", 2) + add(b"b", 4) + add(b"c", 3)
    + op("set_priority", eng_live(2), struct.pack("<i", 7)) + op("set_healthy", eng_live(1), b"\x00")
    + op("reserve") + op("reserve") + op("reserve") + op("reserve"),
    # Two choices over eight engines.
    "two_choices": cfg(engines=8, tickets=16, policy=2)
    + b"".join(add(bytes([0x41 + i])) for i in range(8)) + op("reserve") * 10,
    # External load and capacity changes, including out-of-range values.
    "settings": cfg(capacity=3) + add(b"x") + op("set_external", eng_live(), bytes([1, 2]))
    + op("reserve") + op("reserve") + op("set_capacity", eng_live(), cap(1))
    + op("set_capacity", eng_live(), cap(0)) + op("set_capacity", eng_live(), cap(2048))
    + op("set_external", eng_live(), bytes([3])) + op("set_external", eng_live(), bytes([0])),
    # Keys of length 0, 64, 65 and 80, and a key with NUL bytes.
    "keys": cfg(engines=3) + add(b"") + add(b"k" * 64) + add(b"k" * 65) + add(b"z" * 80)
    + add(b"a\x00b") + op("find", key_fresh(b"a\x00b")) + op("find", key_fresh(b"a"))
    + add(b"k" * 64) + op("find", key_live(0)),
    # NULL table and NULL other pointers on every kind of call.
    "nulls": cfg() + add(b"a", null=NULL_TABLE) + add(b"a", null=NULL_OTHER, which=1)
    + add(b"a", null=NULL_OTHER, which=0) + add(b"a") + op("reserve", null=NULL_TABLE)
    + op("reserve", b"\x01", null=NULL_OTHER) + op("reserve", b"\x00", null=NULL_OTHER)
    + op("reserve_on", eng_live(), null=NULL_OTHER) + op("snapshot", b"\x03\x01", null=NULL_OTHER)
    + op("stats", eng_live(), null=NULL_OTHER) + op("misc", b"\x00", null=NULL_OTHER)
    + op("misc", b"\x03", null=NULL_TABLE),
    # Handles of the other table, 0, near misses and garbage.
    "foreign": cfg() + add(b"a") + op("reserve") + op("foreign", b"\x00", eng_live(), tik_live())
    + op("commit", bytes([6])) + op("reserve_on", bytes([6])) + op("remove", bytes([4]))
    + op("cancel", bytes([5, 20])) + op("release", bytes([7]) + b"\x11" * 8)
    + op("stats", bytes([5, 40])),
    # Invalid configurations first, then a table with leases (nothing expires).
    "bad_config_leases": cfg(leases=3, flags=1)[:1] + bytes([6]) + cfg(leases=3)[1:]
    + add(b"a") + op("reserve") + op("commit", tik_live()) + op("touch", tik_live())
    + op("misc", b"\x00") + op("misc", b"\x02") + op("misc", b"\x01" + struct.pack("<i", -100)),
    # Snapshots with capacities 0..n+2.
    "snapshots": cfg(engines=5) + b"".join(add(bytes([0x61 + i]) * (i + 1)) for i in range(5))
    + b"".join(op("snapshot", bytes([c])) for c in range(8)) + op("remove", eng_live(2))
    + op("snapshot", bytes([4])),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
