use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    accounts (id) {
        id -> Integer,
        owner -> Text,
        note -> Nullable<Text>,
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset, Identifiable, Recoverable)]
#[diesel(table_name = accounts)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
#[diesel(primary_key(id), treat_none_as_default_value = false)]
pub struct Account {
    pub id: i32,
    #[diesel(column_name = owner)]
    pub owner_name: String,
    #[diesel(treat_none_as_null = true)]
    pub note: Option<String>,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<Account>();
}

fn main() {}
