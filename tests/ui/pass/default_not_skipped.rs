use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        plan -> Text,
        credits -> BigInt,
    }
}

fn default_plan() -> String {
    "free".to_owned()
}

#[derive(Recoverable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    #[recover(default = "default_plan")]
    pub plan: String,
    #[recover(default = "i64::default", renamed_from = "balance")]
    pub credits: i64,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<User>();
}

fn main() {}
