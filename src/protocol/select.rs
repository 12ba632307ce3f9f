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

/// Least loaded: healthy first, lowest load/capacity, higher priority,
/// least recently reserved, lowest slot.
pub(crate) fn least_loaded(cells: &[EngineWordCell], metas: &[EngineMeta]) -> Option<Candidate> {
    let (mut bi, mut bw) = first_with_room(cells)?;
    let mut bt = cells[bi].last_reserved_ns.load(Ordering::Relaxed);
    for (i, cell) in cells.iter().enumerate().skip(bi + 1) {
        let w = EngineWord(cell.word.load(Ordering::Relaxed));
        if (w.0 ^ bw.0) & CLASS_MASK == 0 && !bw.prioritized() {
            // The common case: same capacity and flags as the best (which
            // has room, so a load at most the best's has room too), and
            // both priorities 0. The loads decide, then the stamps, then
            // the lower slot (the best so far, which came first).
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
    Some(Candidate {
        index: bi as u32,
        word: bw,
    })
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
        _ => least_loaded(cells, metas),
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

    /// The specification, written the obvious way.
    fn reference(specs: &[Spec], cells: &[EngineWordCell], fill: bool) -> Option<u32> {
        let words: Vec<_> = cells
            .iter()
            .map(|c| EngineWord(c.word.load(Ordering::Relaxed)))
            .collect();
        let ratio = |a: EngineWord, b: EngineWord| {
            (a.load() as u64 * b.capacity() as u64).cmp(&(b.load() as u64 * a.capacity() as u64))
        };
        let better = |i: usize, j: usize| -> bool {
            let (a, b) = (words[i], words[j]);
            let load_order = if fill { ratio(a, b) } else { ratio(b, a) };
            let mut o = a.healthy().cmp(&b.healthy()).then(load_order);
            o = o.then(specs[i].priority.cmp(&specs[j].priority));
            if !fill {
                o = o.then(specs[j].stamp.cmp(&specs[i].stamp));
            }
            o == Cmp::Greater
        };
        let mut best: Option<usize> = None;
        for (i, w) in words.iter().enumerate() {
            if w.has_room() && best.is_none_or(|b| better(i, b)) {
                best = Some(i);
            }
        }
        best.map(|b| b as u32)
    }

    proptest! {
        #[test]
        fn scans_match_the_specification(specs in proptest::collection::vec(spec(), 0..40)) {
            let (cells, metas) = build(&specs);
            prop_assert_eq!(least_loaded(&cells, &metas).map(|c| c.index),
                            reference(&specs, &cells, false));
            prop_assert_eq!(fill_first(&cells, &metas).map(|c| c.index),
                            reference(&specs, &cells, true));
            // Two choices picks some engine with room whenever there is one,
            // and returns the word it saw.
            let tc = two_choices(&cells, &metas, specs.len() as u64);
            prop_assert_eq!(tc.is_some(), reference(&specs, &cells, false).is_some());
            if let Some(c) = tc {
                prop_assert!(c.word.has_room());
                prop_assert_eq!(c.word.0, cells[c.index as usize].word.load(Ordering::Relaxed));
            }
        }
    }
}
