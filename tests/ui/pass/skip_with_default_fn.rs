use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        password_hash -> Text,
    }
}

mod defaults {
    pub fn locked() -> String {
        "!locked".to_owned()
    }
}

#[derive(Recoverable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    pub name: String,
    #[recover(skip, default = "defaults::locked")]
    pub password_hash: String,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<User>();
}

fn main() {
    let names: Vec<&str> = User::COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, ["id", "name"]);
}
