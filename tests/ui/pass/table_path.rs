use recover::Recoverable;

mod schema {
    diesel::table! {
        accounts (id) {
            id -> Integer,
            owner -> Text,
        }
    }
}

#[derive(Recoverable)]
#[diesel(table_name = schema::accounts)]
pub struct Account {
    pub id: i32,
    pub owner: String,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<Account>();
}

fn main() {
    assert_eq!(<Account as Recoverable>::ENTITY, "accounts");
}
