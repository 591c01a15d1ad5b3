use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        email_address -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    #[recover(renamed_from = "mail")]
    #[recover(renamed_from = "email")]
    pub email_address: String,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<User>();
}

fn main() {
    assert_eq!(User::COLUMNS[1].renamed_from, ["mail", "email"]);
}
