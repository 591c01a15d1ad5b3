use recover::Recoverable;

diesel::table! {
    users (user_id) {
        user_id -> Integer,
        full_name -> Text,
        #[sql_name = "e-mail"]
        email -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = users, primary_key(id))]
pub struct User {
    #[diesel(column_name = user_id)]
    pub id: i32,
    #[diesel(column_name = "full_name")]
    pub name: String,
    pub email: String,
}

fn _assert() {
    fn is<T: recover::Recoverable<Key = i32>>() {}
    is::<User>();
}

fn main() {
    // Images are keyed by the SQL name, which follows #[sql_name].
    let names: Vec<&str> = User::COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, ["user_id", "full_name", "e-mail"]);
}
