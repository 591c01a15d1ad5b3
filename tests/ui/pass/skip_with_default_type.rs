use recover::Recoverable;

diesel::table! {
    documents (id) {
        id -> Integer,
        title -> Text,
        body -> Binary,
        thumbnail -> Nullable<Binary>,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = documents)]
pub struct Document {
    pub id: i32,
    pub title: String,
    #[recover(skip)]
    pub body: Vec<u8>,
    #[recover(skip)]
    pub thumbnail: Option<Vec<u8>>,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<Document>();
}

fn main() {
    let names: Vec<&str> = Document::COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, ["id", "title"]);
}
