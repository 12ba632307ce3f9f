//! The table's memory: one position-independent `#[repr(C)]` block, its
//! layout (a fixed padding type, const-asserted sizes and offsets), where it
//! comes from (the heap or a shared file) and who holds its tickets.

pub(crate) mod holder;
pub(crate) mod layout;
pub(crate) mod pad;
pub(crate) mod region;
pub(crate) mod registry;
