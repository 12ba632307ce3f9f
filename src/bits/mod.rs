//! Bit-level primitives: the packed words every protocol reads and writes
//! with one atomic instruction, and the handles callers hold.
//!
//! Each field is declared relative to the one before it ([`field::Field::after`]),
//! and each word's fields are checked at compile time to be disjoint and to
//! fill the word exactly.

pub(crate) mod desc;
pub(crate) mod engine_word;
pub(crate) mod field;
pub(crate) mod handle;
pub(crate) mod sweep;
pub(crate) mod ticket_word;
