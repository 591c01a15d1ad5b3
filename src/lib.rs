pub use recover_core::*;
pub use recover_derive::Recoverable;
