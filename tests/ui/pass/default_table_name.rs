use recover::Recoverable;

diesel::table! {
    user_profiles (id) {
        id -> Integer,
        bio -> Text,
    }
}

// No table_name: Diesel's default, `user_profiles`.
#[derive(Recoverable)]
pub struct UserProfile {
    pub id: i32,
    pub bio: String,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<UserProfile>();
}

fn main() {
    assert_eq!(<UserProfile as Recoverable>::ENTITY, "user_profiles");
}
