//! The workload families, one file each; `main` runs them in the order of the table.

pub mod bulk;
pub mod capture;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub mod concurrency;
pub mod history;
#[cfg(feature = "postgres")]
pub mod rebuild;
pub mod single;
pub mod table;
pub mod undo;
