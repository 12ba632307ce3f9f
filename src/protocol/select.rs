//! Selection policies: which engine a reservation tries first.
//!
//! Selection only *proposes* an engine and the word it saw; admission is the
//! compare-and-swap in [`crate::table::reserve`], which fails if the word changed,
//! after which the reserver decides again. So these scans read with
//! `Relaxed` loads and may see a slightly old picture without ever causing
//! an overcommit.
//!
//! The scans are the hot loop of `reserve`, so they are written to touch as
//! little memory and take as few unpredictable branches as they can:
//!
//! * everything but the tie-breaks comes from the packed engine word, and
//!   "is this engine preferred to the best so far" is one integer sign
//!   ([`preference`]), not a chain of comparisons;
//! * the least-recently-reserved tie-break sits beside the word in the same
//!   16-byte cell ([`EngineWordCell`]), so a load tie (the normal case in a
//!   balanced table) costs one more load from a line already being read;
//! * the priority tie-break is read from the engine's metadata only when the
//!   word's `prioritized` bit says an engine's priority is not 0.

use crate::bits::engine_word::{EngineWord, CLASS_MASK, LOAD_MASK};
use crate::memory::layout::{EngineMeta, EngineWordCell};
use crate::sync::Ordering;

/// An engine with room, as seen by a scan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub index: u32,
    pub word: EngineWord,
}

/// Positive when `w` is preferred to `b` on (healthy first, lower
/// load/capacity), negative when `b` is, 0 on a tie. Exact: the ratios are
/// compared by cross-multiplication (`load < 2^13`, `capacity < 2^11`, so
/// the products and their difference fit well inside 32 bits, and the
/// health difference dominates them from bit 32 up).
#[inline(always)]
fn preference(w: EngineWord, b: EngineWord) -> i64 {
    let health = w.healthy() as i64 - b.healthy() as i64;
    let w_ratio = w.load() as i64 * b.capacity() as i64;
    let b_ratio = b.load() as i64 * w.capacity() as i64;
    (health << 32) + (b_ratio - w_ratio)
}

/// The priority of engine `index` whose word is `w` (0 unless the word says
/// it is prioritized, so the metadata line is read only then).
#[inline(always)]
fn priority(w: EngineWord, metas: &[EngineMeta], index: usize) -> i32 {
    if w.prioritized() {
        metas
            .get(index)
            .map_or(0, |m| m.priority.load(Ordering::Relaxed))
    } else {
        0
    }
}

/// The first engine with room in `cells`, if any, as the starting best.
#[inline(always)]
fn first_with_room(cells: &[EngineWordCell]) -> Option<(usize, EngineWord)> {
    cells.iter().enumerate().find_map(|(i, c)| {
        let w = EngineWord(c.word.load(Ordering::Relaxed));
        w.has_room().then_some((i, w))
    })
}

/// The best engine of a least-loaded scan so far: slot, word, stamp.
#[derive(Clone, Copy)]
struct Best {
    index: usize,
    word: EngineWord,
    stamp: u64,
}

/// Least loaded: healthy first, lowest load/capacity, higher priority,
/// least recently reserved, then any one of the engines still equal.
///
/// "Any one" is what keeps concurrent reservers apart. In a balanced table
/// most engines tie on everything (the last-reserved stamp is a coarse
/// clock, equal for every reservation within one tick), and if every
/// reserver took the lowest such slot they would all compare-and-swap the
/// same engine word: one wins, the others fail and scan again, and the
/// word's cache line bounces between their cores. So the scan starts at a
/// random slot ([`random::scan_start`]: per thread, kept for 64 scans, no
/// syscall) and goes round the table, keeping the first of equal engines it
/// meets; reservers that start at different slots settle on different
/// engines. The comparisons, and so the order of the four criteria, are
/// exactly those of a scan from slot 0.
///
/// [`random::scan_start`]: crate::protocol::random::scan_start
pub(crate) fn least_loaded(cells: &[EngineWordCell], metas: &[EngineMeta]) -> Option<Candidate> {
    counters::count_scan();
    least_loaded_from(cells, metas, counters::start(cells.len()))
}

/// [`least_loaded`] with the scan starting at slot `start` and wrapping
/// round: among engines still equal after the four criteria, the first at
/// or after `start` (cyclically) wins. A `start` at or past the end scans
/// from slot 0.
#[inline]
pub(crate) fn least_loaded_from(
    cells: &[EngineWordCell],
    metas: &[EngineMeta],
    start: usize,
) -> Option<Candidate> {
    let (head, tail) = cells.split_at(start.min(cells.len()));
    // The first engine with room in scan order (tail, then head) starts
    // as the best; the scan goes on from the cell after it, round the end.
    let best = match first_with_room(tail) {
        Some((i, w)) => {
            let best = Best::at(start + i, w, &tail[i]);
            let best = least_loaded_scan(&tail[i + 1..], start + i + 1, best, metas);
            least_loaded_scan(head, 0, best, metas)
        }
        None => {
            let (i, w) = first_with_room(head)?;
            least_loaded_scan(&head[i + 1..], i + 1, Best::at(i, w, &head[i]), metas)
        }
    };
    Some(Candidate {
        index: best.index as u32,
        word: best.word,
    })
}

impl Best {
    /// Engine `index`, whose cell is `cell` and word `word`, as the best.
    #[inline(always)]
    fn at(index: usize, word: EngineWord, cell: &EngineWordCell) -> Best {
        Best {
            index,
            word,
            stamp: cell.last_reserved_ns.load(Ordering::Relaxed),
        }
    }
}

/// Continues a least-loaded scan over `part`, whose first cell is slot
/// `base`, from the best so far; a later engine must be strictly preferred
/// to replace it, so the first of equals stays.
#[inline(always)]
fn least_loaded_scan(
    part: &[EngineWordCell],
    base: usize,
    best: Best,
    metas: &[EngineMeta],
) -> Best {
    let Best {
        index: mut bi,
        word: mut bw,
        stamp: mut bt,
    } = best;
    for (i, cell) in part.iter().enumerate() {
        let i = base + i;
        let w = EngineWord(cell.word.load(Ordering::Relaxed));
        if (w.0 ^ bw.0) & CLASS_MASK == 0 && !bw.prioritized() {
            // The common case: same capacity and flags as the best (which
            // has room, so a load at most the best's has room too), and
            // both priorities 0. The loads decide, then the stamps; on a
            // full tie the best so far (met first) stays. (Comparing
            // (load, stamp) as one 128-bit key takes 10% fewer
            // instructions but ran 12% slower at 4096 engines.)
            let (l, bl) = (w.0 & LOAD_MASK, bw.0 & LOAD_MASK);
            if l > bl {
                continue;
            }
            let t = cell.last_reserved_ns.load(Ordering::Relaxed);
            if l == bl && t >= bt {
                continue;
            }
            (bi, bw, bt) = (i, w, t);
        } else if let Some(t) = least_loaded_prefers(w, i, cell, bw, bi, bt, metas) {
            (bi, bw, bt) = (i, w, t);
        }
    }
    Best {
        index: bi,
        word: bw,
        stamp: bt,
    }
}

/// The full least-loaded comparison of engine `i` (word `w`) against the
/// best so far (`bw`, slot `bi`, stamp `bt`): `Some(stamp of i)` when `i`
/// is preferred. Out of line, so the common-case loop above stays small.
#[inline(never)]
fn least_loaded_prefers(
    w: EngineWord,
    i: usize,
    cell: &EngineWordCell,
    bw: EngineWord,
    bi: usize,
    bt: u64,
    metas: &[EngineMeta],
) -> Option<u64> {
    if !w.has_room() {
        return None;
    }
    let t = cell.last_reserved_ns.load(Ordering::Relaxed);
    let d = preference(w, bw);
    let wins = if d != 0 {
        d > 0
    } else {
        let (p, bp) = (priority(w, metas, i), priority(bw, metas, bi));
        p > bp || (p == bp && t < bt)
    };
    wins.then_some(t)
}

/// Fill first: healthy first, highest load/capacity with room, higher
/// priority, lowest slot.
pub(crate) fn fill_first(cells: &[EngineWordCell], metas: &[EngineMeta]) -> Option<Candidate> {
    counters::count_scan();
    let (mut bi, mut bw) = first_with_room(cells)?;
    for (i, cell) in cells.iter().enumerate().skip(bi + 1) {
        let w = EngineWord(cell.word.load(Ordering::Relaxed));
        if (w.0 ^ bw.0) & CLASS_MASK == 0 && !bw.prioritized() {
            // Same capacity and flags as the best, both priorities 0: a
            // strictly higher load wins if it still has room; on a tie the
            // lower slot (the best so far) stays.
            if w.0 & LOAD_MASK > bw.0 & LOAD_MASK && w.has_room() {
                (bi, bw) = (i, w);
            }
        } else if fill_first_prefers(w, i, bw, bi, metas) {
            (bi, bw) = (i, w);
        }
    }
    Some(Candidate {
        index: bi as u32,
        word: bw,
    })
}

/// The full fill-first comparison of engine `i` (word `w`) against the best
/// so far (`bw`, slot `bi`). Out of line, like [`least_loaded_prefers`].
#[inline(never)]
fn fill_first_prefers(
    w: EngineWord,
    i: usize,
    bw: EngineWord,
    bi: usize,
    metas: &[EngineMeta],
) -> bool {
    if !w.has_room() {
        return false;
    }
    // Health as for least loaded, the load order reversed.
    let health = w.healthy() as i64 - bw.healthy() as i64;
    let fuller = w.load() as i64 * bw.capacity() as i64 - bw.load() as i64 * w.capacity() as i64;
    match (health << 32) + fuller {
        0 => priority(w, metas, i) > priority(bw, metas, bi),
        d => d > 0,
    }
}

/// Power of two choices: up to eight random probes collect two engines with
/// room and the less loaded (healthy first) wins. Constant time while
/// engines with room are common; when the probes find none, a full
/// least-loaded scan answers, so it never fails while any engine has room.
pub(crate) fn two_choices(
    cells: &[EngineWordCell],
    metas: &[EngineMeta],
    seed: u64,
) -> Option<Candidate> {
    counters::count_scan();
    let n = cells.len() as u64;
    if n == 0 {
        return None;
    }
    let mut found: [Option<Candidate>; 2] = [None, None];
    let mut state = seed;
    for _ in 0..8 {
        state = crate::protocol::random::splitmix64(state);
        // Multiply-shift maps 32 random bits onto 0..n without a division.
        let index = (((state >> 32) * n) >> 32) as u32;
        let w = EngineWord(cells[index as usize].word.load(Ordering::Relaxed));
        if !w.has_room() {
            continue;
        }
        let c = Candidate { index, word: w };
        match found {
            [None, _] => found[0] = Some(c),
            [Some(a), _] if a.index == index => {}
            [Some(_), _] => {
                found[1] = Some(c);
                break;
            }
        }
    }
    match found {
        [Some(a), Some(b)] => Some(if preference(b.word, a.word) > 0 { b } else { a }),
        [Some(a), None] => Some(a),
        _ => least_loaded_from(cells, metas, counters::start(cells.len())),
    }
}

/// Benchmark instrumentation, compiled only with the `bench-counters`
/// feature (never in a production build): how many selection scans the
/// calling thread ran, so a benchmark gets the compare-and-swap retries per
/// reservation as `scans / reservations - 1` (a reservation that loses its
/// CAS decides again, with a new scan); and a switch back to the lowest-slot
/// tie-break, so one build measures both.
#[cfg(feature = "bench-counters")]
pub mod counters {
    use std::cell::Cell;

    thread_local! {
        static SCANS: Cell<u64> = const { Cell::new(0) };
        static LOWEST_SLOT: Cell<bool> = const { Cell::new(false) };
    }

    /// Selection scans the calling thread has run (every policy).
    pub fn scans() -> u64 {
        SCANS.with(Cell::get)
    }

    /// On the calling thread, makes the least-loaded scan start at slot 0,
    /// so its last tie-break is the lowest slot (the behaviour before the
    /// random start), or back to the random start.
    pub fn set_lowest_slot_ties(on: bool) {
        LOWEST_SLOT.with(|c| c.set(on));
    }

    #[inline]
    pub(crate) fn count_scan() {
        SCANS.with(|c| c.set(c.get() + 1));
    }

    #[inline]
    pub(crate) fn start(n: usize) -> usize {
        if LOWEST_SLOT.with(Cell::get) {
            0
        } else {
            crate::protocol::random::scan_start(n)
        }
    }
}

/// Without the `bench-counters` feature: nothing counted, always the
/// random start.
#[cfg(not(feature = "bench-counters"))]
mod counters {
    #[inline(always)]
    pub(crate) fn count_scan() {}

    #[inline(always)]
    pub(crate) fn start(n: usize) -> usize {
        crate::protocol::random::scan_start(n)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering as Cmp;

    /// One engine slot as a test describes it.
    #[derive(Clone, Debug)]
    struct Spec {
        free: bool,
        cap: u32,
        load: u32,
        external: u32,
        healthy: bool,
        draining: bool,
        priority: i32,
        stamp: u64,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            prop::bool::weighted(0.1),
            prop_oneof![Just(4u32), 1u32..6],
            0u32..7,
            prop_oneof![Just(0u32), 0u32..3],
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.1),
            prop_oneof![Just(0i32), -2i32..3],
            prop_oneof![Just(5u64), 0u64..4],
        )
            .prop_map(
                |(free, cap, load, external, healthy, draining, priority, stamp)| Spec {
                    free,
                    cap,
                    load,
                    external,
                    healthy,
                    draining,
                    priority,
                    stamp,
                },
            )
    }

    fn build(specs: &[Spec]) -> (Vec<EngineWordCell>, Vec<EngineMeta>) {
        let cells: Vec<_> = specs.iter().map(|_| EngineWordCell::new()).collect();
        let metas: Vec<_> = specs.iter().map(|_| EngineMeta::new()).collect();
        for ((s, c), m) in specs.iter().zip(&cells).zip(&metas) {
            let mut w = if s.free {
                EngineWord::free(3)
            } else {
                EngineWord::live(3, s.cap).with_external(s.external)
            };
            if !s.free {
                // Pending tickets up to the load, as far as they fit.
                for _ in 0..s.load {
                    if let Some(n) = w.with_capacity(MAX_CAP).admit() {
                        w = n.with_capacity(s.cap);
                    }
                }
                w = w.with_healthy(s.healthy).with_prioritized(s.priority != 0);
                if s.draining {
                    w = w.draining();
                }
            }
            c.word.store(w.0, Ordering::Relaxed);
            c.last_reserved_ns.store(s.stamp, Ordering::Relaxed);
            m.priority.store(s.priority, Ordering::Relaxed);
        }
        (cells, metas)
    }

    const MAX_CAP: u32 = crate::bits::engine_word::MAX_CAPACITY;

    /// The specification, written the obvious way: every engine with room
    /// that no other engine with room is preferred to (for fill first, with
    /// no stamp criterion, the lowest such slot is what it takes).
    fn reference(specs: &[Spec], cells: &[EngineWordCell], fill: bool) -> Vec<u32> {
        let words: Vec<_> = cells
            .iter()
            .map(|c| EngineWord(c.word.load(Ordering::Relaxed)))
            .collect();
        let ratio = |a: EngineWord, b: EngineWord| {
            (a.load() as u64 * b.capacity() as u64).cmp(&(b.load() as u64 * a.capacity() as u64))
        };
        let order = |i: usize, j: usize| -> Cmp {
            let (a, b) = (words[i], words[j]);
            let load_order = if fill { ratio(a, b) } else { ratio(b, a) };
            let mut o = a.healthy().cmp(&b.healthy()).then(load_order);
            o = o.then(specs[i].priority.cmp(&specs[j].priority));
            if !fill {
                o = o.then(specs[j].stamp.cmp(&specs[i].stamp));
            }
            o
        };
        let room: Vec<usize> = (0..words.len()).filter(|&i| words[i].has_room()).collect();
        room.iter()
            .copied()
            .filter(|&i| room.iter().all(|&j| order(j, i) != Cmp::Greater))
            .map(|i| i as u32)
            .collect()
    }

    /// The first of `best` at or after `start`, going round.
    fn first_from(best: &[u32], start: usize) -> Option<u32> {
        best.iter()
            .copied()
            .find(|&i| i as usize >= start)
            .or_else(|| best.first().copied())
    }

    proptest! {
        #[test]
        fn scans_match_the_specification(
            specs in proptest::collection::vec(spec(), 0..40),
            start in 0usize..40,
        ) {
            let (cells, metas) = build(&specs);
            let best = reference(&specs, &cells, false);
            // Least loaded: one of the equally best engines, and from a
            // given start exactly the first of them going round.
            let ll = least_loaded(&cells, &metas).map(|c| c.index);
            prop_assert_eq!(ll.is_some(), !best.is_empty());
            if let Some(i) = ll {
                prop_assert!(best.contains(&i), "{} not among {:?}", i, best);
            }
            let start = if specs.is_empty() { 0 } else { start % specs.len() };
            let from = least_loaded_from(&cells, &metas, start);
            prop_assert_eq!(from.map(|c| c.index), first_from(&best, start));
            if let Some(c) = from {
                prop_assert_eq!(c.word.0, cells[c.index as usize].word.load(Ordering::Relaxed));
            }
            // Fill first keeps the lowest slot among equals.
            prop_assert_eq!(fill_first(&cells, &metas).map(|c| c.index),
                            reference(&specs, &cells, true).first().copied());
            // Two choices picks some engine with room whenever there is one,
            // and returns the word it saw.
            let tc = two_choices(&cells, &metas, specs.len() as u64);
            prop_assert_eq!(tc.is_some(), !best.is_empty());
            if let Some(c) = tc {
                prop_assert!(c.word.has_room());
                prop_assert_eq!(c.word.0, cells[c.index as usize].word.load(Ordering::Relaxed));
            }
        }
    }

    /// Equal engines: threads start their scans at random slots, so their
    /// picks spread over all of them.
    #[test]
    fn ties_are_spread_over_every_equal_engine() {
        let specs: Vec<Spec> = (0..8)
            .map(|_| Spec {
                free: false,
                cap: 4,
                load: 1,
                external: 0,
                healthy: true,
                draining: false,
                priority: 0,
                stamp: 5,
            })
            .collect();
        let (cells, metas) = build(&specs);
        let mut seen = [0u32; 8];
        // One pick on each of 256 fresh threads (each draws its own start).
        std::thread::scope(|s| {
            let picks: Vec<_> = (0..256)
                .map(|_| s.spawn(|| least_loaded(&cells, &metas).unwrap().index))
                .collect();
            for p in picks {
                seen[p.join().unwrap() as usize] += 1;
            }
        });
        // 32 expected per engine; missing one has probability 8 * (7/8)^256.
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }
}
