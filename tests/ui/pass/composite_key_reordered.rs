use recover::Recoverable;

diesel::table! {
    memberships (group_name, user_id) {
        user_id -> Integer,
        group_name -> Text,
        role -> Text,
    }
}

// The key order is primary_key's, not the field order.
#[derive(Recoverable)]
#[diesel(table_name = memberships)]
#[diesel(primary_key(group_name, user_id))]
pub struct Membership {
    pub user_id: i32,
    pub role: String,
    pub group_name: String,
}

fn _assert() {
    fn is<T: recover::Recoverable<Key = (String, i32)>>() {}
    is::<Membership>();
}

fn main() {
    let m = Membership { user_id: 1, role: "owner".into(), group_name: "admins".into() };
    assert_eq!(m.key(), ("admins".to_owned(), 1));
}
