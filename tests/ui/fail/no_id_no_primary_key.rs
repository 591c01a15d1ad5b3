#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    countries (code) {
        code -> Text,
        name -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = countries)]
struct Country {
    code: String,
    name: String,
}

fn main() {}
