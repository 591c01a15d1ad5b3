use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        display_name -> Text,
        email_address -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    #[recover(renamed_from = "name")]
    pub display_name: String,
    #[recover(renamed_from = "mail", renamed_from = "email")]
    pub email_address: String,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<User>();
}

fn main() {
    let cols = User::COLUMNS;
    assert_eq!(cols[1].renamed_from, ["name"]);
    assert_eq!(cols[2].renamed_from, ["mail", "email"]);
}
