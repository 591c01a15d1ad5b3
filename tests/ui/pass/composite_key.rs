use recover::Recoverable;

diesel::table! {
    memberships (user_id, group_name) {
        user_id -> Integer,
        group_name -> Text,
        role -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = memberships, primary_key(user_id, group_name))]
pub struct Membership {
    pub user_id: i32,
    pub group_name: String,
    pub role: String,
}

fn _assert() {
    fn is<T: recover::Recoverable<Key = (i32, String)>>() {}
    is::<Membership>();
}

fn main() {
    let m = Membership { user_id: 1, group_name: "admins".into(), role: "owner".into() };
    assert_eq!(m.key(), (1, "admins".to_owned()));
}
