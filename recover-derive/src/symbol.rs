//! Every attribute name the derive reads, in one place.

pub const DIESEL: &str = "diesel";
pub const RECOVER: &str = "recover";

pub const TABLE_NAME: &str = "table_name";
pub const PRIMARY_KEY: &str = "primary_key";
pub const COLUMN_NAME: &str = "column_name";
pub const EMBED: &str = "embed";
pub const CHECK_FOR_BACKEND: &str = "check_for_backend";

pub const SKIP: &str = "skip";
pub const DEFAULT: &str = "default";
pub const RENAMED_FROM: &str = "renamed_from";
