//! Owning the table's memory: allocation, initialisation and release.
//!
//! A [`Region`] is the one place that turns the raw block described in
//! [`crate::memory::layout`] into typed slices. An in-process table lives in
//! one heap allocation; a shared table in a file mapping
//! ([`crate::table::shared`]), with the very same bytes.

use crate::bits::sweep::{Hint, NO_DEADLINE};
use crate::config::{es_config, Config};
use crate::memory::layout::{
    bitmap_words, EngineMeta, EngineWordCell, Header, Layout, RegistryEntry, SweepState,
    TicketSlot, LAYOUT_VERSION, MAGIC, REGION_ALIGN, REGISTRY_LEN,
};
use crate::memory::pad::CacheLine;
use crate::sync::{AtomicU32, AtomicU64};
use std::alloc;
use std::ptr::NonNull;

pub(crate) struct Region {
    base: NonNull<u8>,
    layout: Layout,
    engines: u32,
    tickets: u32,
    backing: Backing,
}

/// Where the block lives, which decides how it is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    /// One heap allocation, owned by this handle.
    Heap,
    /// A `MAP_SHARED` file mapping of `len` bytes (see [`crate::table::shared`]).
    Mapped { len: usize },
}

// SAFETY: the region is only ever accessed through shared references to
// atomics (and immutable header fields written before the `Region` exists),
// so sending or sharing it between threads is sound.
unsafe impl Send for Region {}
// SAFETY: as above: every mutable field is an atomic.
unsafe impl Sync for Region {}

impl Region {
    /// A fresh, initialised table on the heap. `cfg` must be validated.
    pub(crate) fn new_heap(cfg: &Config, tag: u16) -> Option<Region> {
        let layout = Layout::for_sizes(cfg.max_engines, cfg.max_tickets);
        let mem = alloc::Layout::from_size_align(layout.total, REGION_ALIGN).ok()?;
        // SAFETY: `mem` has a nonzero size (the header alone is nonzero).
        let base = NonNull::new(unsafe { alloc::alloc_zeroed(mem) })?;
        // SAFETY: `base` points to `layout.total` writable bytes aligned to
        // REGION_ALIGN, exclusively ours, which is what `init` requires.
        unsafe { init(base.as_ptr(), cfg, tag, &layout) };
        Some(Region {
            base,
            layout,
            engines: cfg.max_engines,
            tickets: cfg.max_tickets,
            backing: Backing::Heap,
        })
    }

    /// Adopts a mapping that holds a validated (or freshly initialised)
    /// table for `cfg`.
    ///
    /// # Safety
    /// `base` must be a live mapping of `len >= layout.total` bytes that
    /// holds an initialised table for `cfg` (header fields and every slot,
    /// which `crate::table::shared` checks), and nothing else may unmap it.
    #[cfg(not(loom))]
    pub(crate) unsafe fn from_mapping(base: NonNull<u8>, len: usize, cfg: &Config) -> Region {
        Region {
            base,
            layout: Layout::for_sizes(cfg.max_engines, cfg.max_tickets),
            engines: cfg.max_engines,
            tickets: cfg.max_tickets,
            backing: Backing::Mapped { len },
        }
    }

    /// `true` for a table in a shared file mapping.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self.backing, Backing::Mapped { .. })
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: offset 0 holds a Header initialised by `init`; it lives as
        // long as `self`.
        unsafe { &*(self.base.as_ptr() as *const Header) }
    }
    pub(crate) fn engine_words(&self) -> &[EngineWordCell] {
        // SAFETY: `engines` initialised cells start at `engines_off`, inside
        // the allocation and suitably aligned (see Layout).
        unsafe { slice_at(self.base, self.layout.engines_off, self.engines as usize) }
    }
    pub(crate) fn engine_metas(&self) -> &[EngineMeta] {
        // SAFETY: as for `engine_words`, at `metas_off`.
        unsafe { slice_at(self.base, self.layout.metas_off, self.engines as usize) }
    }
    pub(crate) fn tickets(&self) -> &[TicketSlot] {
        // SAFETY: as for `engine_words`, at `tickets_off`.
        unsafe { slice_at(self.base, self.layout.tickets_off, self.tickets as usize) }
    }
    /// The free-slot bitmap: bit `i % 64` of word `i / 64` set when slot
    /// `i` may be free (see [`crate::protocol::freelist`]).
    pub(crate) fn free_bits(&self) -> &[AtomicU64] {
        // SAFETY: as for `engine_words`, at `bitmap_off`.
        unsafe {
            slice_at(
                self.base,
                self.layout.bitmap_off,
                bitmap_words(self.tickets),
            )
        }
    }
    pub(crate) fn registry(&self) -> &[RegistryEntry] {
        // SAFETY: as for `engine_words`, at `registry_off`.
        unsafe { slice_at(self.base, self.layout.registry_off, REGISTRY_LEN) }
    }
    /// Size of the block in bytes.
    pub(crate) fn size(&self) -> usize {
        self.layout.total
    }
}

/// # Safety
/// `base + off` must start `n` initialised, aligned `T`s that outlive `'a`.
unsafe fn slice_at<'a, T>(base: NonNull<u8>, off: usize, n: usize) -> &'a [T] {
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(base.as_ptr().add(off) as *const T, n) }
}

/// Writes a fresh table into `base`.
///
/// # Safety
/// `base` must point to `layout.total` writable bytes, aligned to
/// `REGION_ALIGN`, that nobody else accesses during the call.
pub(crate) unsafe fn init(base: *mut u8, cfg: &Config, tag: u16, layout: &Layout) {
    let header = Header {
        magic: MAGIC,
        version: LAYOUT_VERSION,
        ready: AtomicU32::new(0),
        total_size: layout.total as u64,
        config: es_config::from(cfg),
        tag: tag as u32,
        engines_off: layout.engines_off as u64,
        metas_off: layout.metas_off as u64,
        tickets_off: layout.tickets_off as u64,
        pid_ns: crate::memory::holder::namespace("pid"),
        time_ns: crate::memory::holder::namespace("time"),
        registry_off: layout.registry_off as u64,
        bitmap_off: layout.bitmap_off as u64,
        control: CacheLine(AtomicU64::new(0)),
        next_expiry: CacheLine(AtomicU64::new(Hint::new(NO_DEADLINE, 0).0)),
        sweep: CacheLine(SweepState {
            lease: AtomicU64::new(0),
            deadline_ms: AtomicU64::new(0),
            full_sweeps: AtomicU64::new(0),
        }),
        engine_hwm: CacheLine(AtomicU32::new(0)),
    };
    // SAFETY: (all writes below) each target lies inside the block at an
    // offset computed by `layout` for exactly these types and counts, is
    // aligned (REGION_ALIGN-aligned region starts, natural element stride),
    // and is exclusively ours per the function's contract.
    unsafe {
        std::ptr::write(base as *mut Header, header);
        let registry = base.add(layout.registry_off) as *mut RegistryEntry;
        for i in 0..REGISTRY_LEN {
            std::ptr::write(registry.add(i), RegistryEntry::new());
        }
        let words = base.add(layout.engines_off) as *mut EngineWordCell;
        let metas = base.add(layout.metas_off) as *mut EngineMeta;
        for i in 0..cfg.max_engines as usize {
            std::ptr::write(words.add(i), EngineWordCell::new());
            std::ptr::write(metas.add(i), EngineMeta::new());
        }
        let tickets = base.add(layout.tickets_off) as *mut TicketSlot;
        let n = cfg.max_tickets as usize;
        for i in 0..n {
            // Every slot starts free (word 0: free, generation 0).
            std::ptr::write(tickets.add(i), TicketSlot::new());
        }
        // ... and announced in the bitmap (no bit past the last slot).
        let bits = base.add(layout.bitmap_off) as *mut AtomicU64;
        for w in 0..bitmap_words(cfg.max_tickets) {
            let left = n - w * 64;
            let v = if left >= 64 {
                u64::MAX
            } else {
                (1u64 << left) - 1
            };
            std::ptr::write(bits.add(w), AtomicU64::new(v));
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        if let Backing::Mapped { len } = self.backing {
            // SAFETY: we own this mapping (created by `crate::table::shared`) and no
            // reference into it outlives `self`. The file is never deleted.
            unsafe { libc::munmap(self.base.as_ptr().cast(), len) };
            return;
        }
        // SAFETY: we own the block; no reference into it outlives `self`.
        // Dropping in place matters only under loom (whose atomics register
        // themselves); std atomics have no drop glue.
        unsafe {
            let base = self.base.as_ptr();
            std::ptr::drop_in_place(base as *mut Header);
            let registry = base.add(self.layout.registry_off) as *mut RegistryEntry;
            for i in 0..REGISTRY_LEN {
                std::ptr::drop_in_place(registry.add(i));
            }
            let bits = base.add(self.layout.bitmap_off) as *mut AtomicU64;
            for w in 0..bitmap_words(self.tickets) {
                std::ptr::drop_in_place(bits.add(w));
            }
            let words = base.add(self.layout.engines_off) as *mut EngineWordCell;
            let metas = base.add(self.layout.metas_off) as *mut EngineMeta;
            for i in 0..self.engines as usize {
                std::ptr::drop_in_place(words.add(i));
                std::ptr::drop_in_place(metas.add(i));
            }
            let tickets = base.add(self.layout.tickets_off) as *mut TicketSlot;
            for i in 0..self.tickets as usize {
                std::ptr::drop_in_place(tickets.add(i));
            }
            let mem = alloc::Layout::from_size_align_unchecked(self.layout.total, REGION_ALIGN);
            alloc::dealloc(base, mem);
        }
    }
}
