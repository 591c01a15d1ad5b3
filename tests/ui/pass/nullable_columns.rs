use recover::Recoverable;

diesel::table! {
    contacts (id) {
        id -> BigInt,
        name -> Text,
        phone -> Nullable<Text>,
        age -> Nullable<Integer>,
        score -> Nullable<Double>,
        active -> Nullable<Bool>,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = contacts)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub phone: Option<String>,
    pub age: Option<i32>,
    #[recover(skip)]
    pub score: Option<f64>,
    pub active: Option<bool>,
}

fn _assert() {
    fn is<T: recover::Recoverable<Key = i64>>() {}
    is::<Contact>();
}

fn main() {}
