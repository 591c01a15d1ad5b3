//! The workload families, one file each; `main` runs them in the order of the table.

pub mod bulk;
pub mod capture;
pub mod history;
pub mod single;
pub mod table;
pub mod undo;
