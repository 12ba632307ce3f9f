//! The protocols the table is built from, each independent of
//! [`Table`](crate::Table): the ticket free list, the selection policies, the clock
//! and cheap per-thread randomness.

pub(crate) mod clock;
pub(crate) mod freelist;
pub(crate) mod random;
pub(crate) mod select;
