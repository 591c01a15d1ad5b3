use recover::Recoverable;

diesel::table! {
    tags (id) {
        id -> Integer,
    }
}

diesel::table! {
    post_tags (post_id, tag_id) {
        post_id -> Integer,
        tag_id -> Integer,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i32,
}

#[derive(Recoverable)]
#[diesel(table_name = post_tags, primary_key(post_id, tag_id))]
pub struct PostTag {
    pub post_id: i32,
    pub tag_id: i32,
}

fn _assert() {
    fn is<T: recover::Recoverable>() {}
    is::<Tag>();
    is::<PostTag>();
}

fn main() {}
