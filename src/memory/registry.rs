//! The registry of a shared table: which processes (table handles) may be
//! in the middle of a step on it.
//!
//! A step between two published states of a ticket slot (see
//! `crate::table::intent`) names its *operator* in the slot's word, in the
//! 32 bits a published ticket uses for its deadline. A full holder identity
//! (pid and start time, `crate::memory::holder`) does not fit there, so each
//! handle registers once, when it opens the table, taking an entry with one
//! compare-and-swap of the entry's holder word (so the entry names its
//! process from the first instant), and steps carry a *reference*: the
//! entry's index and the generation the registration gave it. A reference
//! whose entry has another generation, or no holder, or a holder that no
//! longer exists, belongs to an operator that is gone for good.
//!
//! | bits   | field |
//! |--------|-------|
//! | 0..10  | entry index (`REGISTRY_LEN` entries) |
//! | 10..31 | generation of the registration (never 0, so no reference is 0) |
//!
//! Reference 0 is "this process's private table": never gone.

use crate::memory::holder::LivenessCache;
use crate::memory::layout::{RegistryEntry, REGISTRY_LEN};
use crate::sync::Ordering;

const INDEX_BITS: u32 = 10;
const GEN_MAX: u32 = (1 << 21) - 1;
/// Bits a reference uses (the sweep lease stores 31).
pub(crate) const REF_BITS: u32 = INDEX_BITS + 21;

const _: () = {
    assert!(REGISTRY_LEN <= 1 << INDEX_BITS);
    assert!(REF_BITS <= crate::bits::sweep::HOLDER_BITS);
};

const fn make_ref(index: usize, gen: u32) -> u32 {
    index as u32 | (gen << INDEX_BITS)
}

const fn split_ref(r: u32) -> (usize, u32) {
    ((r & ((1 << INDEX_BITS) - 1)) as usize, r >> INDEX_BITS)
}

/// Registers holder `me`; its reference, or `None` when every entry is
/// taken.
pub(crate) fn register(entries: &[RegistryEntry], me: u64) -> Option<u32> {
    for (index, e) in entries.iter().enumerate() {
        // Acquire/AcqRel pair with the Release of `unregister` and of
        // `free_dead`: the entry's previous life is over before we take it.
        if e.holder.load(Ordering::Acquire) != 0
            || e.holder
                .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        // Only the holder of the entry changes its generation, so no retry.
        let mut gen = (e.gen.load(Ordering::Relaxed).wrapping_add(1)) & GEN_MAX;
        if gen == 0 {
            gen = 1;
        }
        // Release: a reference with the new generation is written into a
        // ticket word only after this; a sweeper that still reads the old
        // generation with our holder takes old references for alive (and
        // looks again at its next pass), never the other way round.
        e.gen.store(gen, Ordering::Release);
        return Some(make_ref(index, gen));
    }
    None
}

/// Ends registration `r` of holder `me` (a handle being dropped: none of its
/// steps is in flight any more).
pub(crate) fn unregister(entries: &[RegistryEntry], r: u32, me: u64) {
    let (index, _) = split_ref(r);
    if let Some(e) = entries.get(index) {
        // Release pairs with the Acquire in `register`. Failure means the
        // entry was freed as dead meanwhile (it cannot be: we are alive),
        // or is corrupt: nothing to do either way.
        let _ = e
            .holder
            .compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// `true` when the operator with reference `r` is certainly gone: its
/// registration ended or its process no longer exists.
pub(crate) fn is_gone(entries: &[RegistryEntry], r: u32, alive: &mut LivenessCache) -> bool {
    if r == 0 {
        return false;
    }
    let (index, gen) = split_ref(r);
    let Some(e) = entries.get(index) else {
        return true; // Not a reference any registration gave out.
    };
    // Acquire pairs with the Release store in `register`.
    if e.gen.load(Ordering::Acquire) != gen {
        return true;
    }
    let holder = e.holder.load(Ordering::Acquire);
    holder == 0 || !alive.is_alive(holder)
}

/// Up to `N` entries whose process no longer exists: `(index, holder)`.
pub(crate) fn dead_entries<const N: usize>(
    entries: &[RegistryEntry],
    alive: &mut LivenessCache,
) -> ([(usize, u64); N], usize) {
    let mut out = [(0, 0); N];
    let mut n = 0;
    for (index, e) in entries.iter().enumerate() {
        // Relaxed: a hint; `free_dead` decides with a compare-and-swap.
        let h = e.holder.load(Ordering::Relaxed);
        if h != 0 && !alive.is_alive(h) && n < N {
            out[n] = (index, h);
            n += 1;
        }
    }
    (out, n)
}

/// Frees the entries of dead holders once a full pass has recovered every
/// step they left (nothing refers to them any more: a dead process starts
/// no new step).
pub(crate) fn free_dead(entries: &[RegistryEntry], dead: &[(usize, u64)]) {
    for &(index, h) in dead {
        if let Some(e) = entries.get(index) {
            // Release pairs with the Acquire in `register`. Failure: another
            // pass freed it first (and maybe someone registered since).
            let _ = e
                .holder
                .compare_exchange(h, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::memory::holder;

    #[test]
    fn register_and_liveness() {
        let entries: Vec<_> = (0..3).map(|_| RegistryEntry::new()).collect();
        let me = holder::current();
        let mut alive = LivenessCache::new();
        let a = register(&entries, me).unwrap();
        let b = register(&entries, me).unwrap();
        assert_ne!(a, b);
        assert!(a != 0 && b != 0 && a < 1 << REF_BITS);
        assert!(!is_gone(&entries, a, &mut alive));
        assert!(!is_gone(&entries, 0, &mut alive));
        unregister(&entries, a, me);
        assert!(is_gone(&entries, a, &mut LivenessCache::new()));
        // Re-registered: the old reference stays gone.
        let c = register(&entries, me).unwrap();
        assert_ne!(a, c);
        assert!(is_gone(&entries, a, &mut LivenessCache::new()));
        assert!(!is_gone(&entries, c, &mut LivenessCache::new()));
        // A dead holder's entry is found and freed.
        let dead = me ^ (1 << 40);
        let d = register(&entries, dead).unwrap();
        assert!(register(&entries, me).is_none());
        let mut alive = LivenessCache::new();
        assert!(is_gone(&entries, d, &mut alive));
        let (found, n) = dead_entries::<4>(&entries, &mut alive);
        assert_eq!(&found[..n], &[(2, dead)]);
        free_dead(&entries, &found[..n]);
        assert!(register(&entries, me).is_some());
    }
}
