#![doc = include_str!("../README.md")]

pub use recover_core::*;

#[cfg(feature = "cli")]
pub mod cli;

/// Makes a Diesel model journaled and revertible; see the crate documentation for the
/// attributes it reads.
pub use recover_derive::Recoverable;
