//! Selection policies: which engine a reservation tries first.
//!
//! Selection only *proposes* an engine and the word it saw; admission is the
//! compare-and-swap in [`crate::reserve`], which fails if the word changed,
//! after which the reserver decides again. So these scans read with
//! `Relaxed` loads and may see a slightly old picture without ever causing
//! an overcommit.

use crate::layout::{EngineMeta, EngineWordCell};
use crate::sync::Ordering;
use crate::word::EngineWord;
use std::cmp::Ordering as Cmp;

/// An engine with room, as seen by a scan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub index: u32,
    pub word: EngineWord,
}

/// `a.load / a.capacity` against `b.load / b.capacity`, exactly.
#[inline]
fn ratio_cmp(a: EngineWord, b: EngineWord) -> Cmp {
    (a.load() as u64 * b.capacity() as u64).cmp(&(b.load() as u64 * a.capacity() as u64))
}

/// Least loaded: healthy first, lowest load/capacity, higher priority,
/// least recently reserved, lowest slot.
pub(crate) fn least_loaded(words: &[EngineWordCell], metas: &[EngineMeta]) -> Option<Candidate> {
    let mut best: Option<Candidate> = None;
    for (index, cell) in words.iter().enumerate() {
        let w = EngineWord(cell.word.load(Ordering::Relaxed));
        if !w.has_room() {
            continue;
        }
        let better = match best {
            None => true,
            Some(b) => match (w.healthy().cmp(&b.word.healthy())).then(ratio_cmp(b.word, w)) {
                Cmp::Greater => true,
                Cmp::Less => false,
                Cmp::Equal => {
                    let (m, bm) = (&metas[index], &metas[b.index as usize]);
                    let p = m.priority.load(Ordering::Relaxed);
                    let bp = bm.priority.load(Ordering::Relaxed);
                    let t = m.last_reserved_ns.load(Ordering::Relaxed);
                    let bt = bm.last_reserved_ns.load(Ordering::Relaxed);
                    // Equal keys keep the earlier (lower) slot.
                    p.cmp(&bp).then(bt.cmp(&t)) == Cmp::Greater
                }
            },
        };
        if better {
            best = Some(Candidate {
                index: index as u32,
                word: w,
            });
        }
    }
    best
}

/// Fill first: healthy first, highest load/capacity with room, higher
/// priority, lowest slot.
pub(crate) fn fill_first(words: &[EngineWordCell], metas: &[EngineMeta]) -> Option<Candidate> {
    let mut best: Option<Candidate> = None;
    for (index, cell) in words.iter().enumerate() {
        let w = EngineWord(cell.word.load(Ordering::Relaxed));
        if !w.has_room() {
            continue;
        }
        let better = match best {
            None => true,
            Some(b) => match (w.healthy().cmp(&b.word.healthy())).then(ratio_cmp(w, b.word)) {
                Cmp::Greater => true,
                Cmp::Less => false,
                Cmp::Equal => {
                    let p = metas[index].priority.load(Ordering::Relaxed);
                    p > metas[b.index as usize].priority.load(Ordering::Relaxed)
                }
            },
        };
        if better {
            best = Some(Candidate {
                index: index as u32,
                word: w,
            });
        }
    }
    best
}

/// Power of two choices: up to eight random probes collect two engines with
/// room and the less loaded (healthy first) wins. Constant time while
/// engines with room are common; when the probes find none, a full
/// least-loaded scan answers, so it never fails while any engine has room.
pub(crate) fn two_choices(
    words: &[EngineWordCell],
    metas: &[EngineMeta],
    seed: u64,
) -> Option<Candidate> {
    let n = words.len() as u64;
    if n == 0 {
        return None;
    }
    let mut found: [Option<Candidate>; 2] = [None, None];
    let mut state = seed;
    for _ in 0..8 {
        state = splitmix64(state);
        // Multiply-shift maps 32 random bits onto 0..n without a division.
        let index = (((state >> 32) * n) >> 32) as u32;
        let w = EngineWord(words[index as usize].word.load(Ordering::Relaxed));
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
        [Some(a), Some(b)] => {
            let order = a
                .word
                .healthy()
                .cmp(&b.word.healthy())
                .then(ratio_cmp(b.word, a.word));
            Some(if order == Cmp::Less { b } else { a })
        }
        [Some(a), None] => Some(a),
        _ => least_loaded(words, metas),
    }
}

/// SplitMix64: a tiny, good 64-bit mixer for sampling and tags.
#[inline]
pub(crate) const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A per-thread random stream for [`two_choices`] (no syscall, no lock).
#[cfg(not(loom))]
pub(crate) fn next_seed() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(splitmix64(
            crate::clock::monotonic_ns() ^ (&STATE as *const _ as u64)));
    }
    STATE.with(|s| {
        let v = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(v);
        v
    })
}

/// Deterministic under the model checker.
#[cfg(loom)]
pub(crate) fn next_seed() -> u64 {
    7
}
