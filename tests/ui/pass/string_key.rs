use recover::Recoverable;

diesel::table! {
    countries (code) {
        code -> Text,
        name -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = countries, primary_key(code))]
pub struct Country {
    pub code: String,
    pub name: String,
}

fn _assert() {
    fn is<T: recover::Recoverable<Key = String>>() {}
    is::<Country>();
}

fn main() {
    let c = Country { code: "NZ".into(), name: "New Zealand".into() };
    assert_eq!(c.key(), "NZ");
}
