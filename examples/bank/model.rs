//! The bank's one model.

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    accounts (id) {
        id -> Integer,
        owner -> Text,
        balance -> BigInt,
        status -> Text,
        note -> Nullable<Text>,
    }
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    AsChangeset,
    Recoverable,
)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: i32,
    pub owner: String,
    pub balance: i64,
    pub status: String,
    pub note: Option<String>,
}
