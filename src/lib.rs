#![doc = include_str!("../README.md")]

pub use recover_core::*;

#[cfg(feature = "cli")]
pub mod cli;

#[cfg(feature = "web")]
pub mod web;

/// Makes a Diesel model journaled and revertible; see the crate documentation for the
/// attributes it reads.
pub use recover_derive::Recoverable;
