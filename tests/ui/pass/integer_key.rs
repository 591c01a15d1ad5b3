use recover::Recoverable;

diesel::table! {
    accounts (id) {
        id -> Integer,
        owner -> Text,
        balance -> BigInt,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: i32,
    pub owner: String,
    pub balance: i64,
}

fn _assert() {
    fn is<T: recover::Recoverable<Key = i32>>() {}
    is::<Account>();
}

fn main() {
    let a = Account { id: 7, owner: "ann".into(), balance: 1 };
    assert_eq!(a.key(), 7);
    assert_eq!(<Account as Recoverable>::ENTITY, "accounts");
    let names: Vec<&str> = Account::COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, ["id", "owner", "balance"]);
}
