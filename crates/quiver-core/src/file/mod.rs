//! The bottom layer: how the engine puts bytes in files and reads them back.
//! Every store, checkpoint and index goes through it; it depends on nothing
//! else in the crate.
//!
//! | file | owns |
//! |---|---|
//! | `atomic.rs` | whole-file replacement (write `*.new`, fsync, rename, fsync the directory), `.bak` repair, the paired rewrite of a data file and its index with open-time repair, durable directory creation |
//! | `framed.rs` | the framed-log codec: reading frames up to a torn tail, finding valid frames after a damaged one, and the append side (append, reserve, sync, reset) |
//! | `bytes.rs` | the bounds-checked little-endian reader and [`corrupt`], the one error for bad bytes on disk |
//! | `sys.rs` | platform calls: hole punching, block reservation, positional reads |
//! | `fault.rs` | named crash points for the crash tests (`fault-injection` feature) |
//!
//! # Invariants
//!
//! - A file replaced through `atomic.rs` is, at every instant of a crash,
//!   either the old content or the new, never a mix; with `sync` the new
//!   content is durable when the call returns.
//! - A framed log is only ever appended to at a frame boundary: an append
//!   that fails is cut off before the next one is written.
//! - No decoder indexes a byte slice directly: reads go through
//!   [`ByteReader`], which fails with `InvalidData` naming the file and
//!   offset instead of panicking.
pub(crate) mod atomic;
mod bytes;
pub mod fault;
pub(crate) mod framed;
pub(crate) mod sys;

pub(crate) use bytes::{ByteReader, corrupt, crc_checked};
