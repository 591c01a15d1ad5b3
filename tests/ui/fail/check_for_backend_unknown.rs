use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    notes (id) {
        id -> Integer,
        body -> Text,
    }
}

/// `check_for_backend` names a backend recover does not journal.
#[derive(Debug, Clone, PartialEq, Queryable, Recoverable)]
#[diesel(table_name = notes, check_for_backend(my_driver::Oracle))]
pub struct Note {
    pub id: i32,
    pub body: String,
}

fn main() {}
