use recover::Recoverable;

diesel::table! {
    items (id) {
        id -> Integer,
        r#type -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = items)]
pub struct Item {
    pub id: i32,
    #[recover(renamed_from = "kind")]
    pub r#type: String,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<Item>();
}

fn main() {
    assert_eq!(Item::COLUMNS[1].name, "type");
}
