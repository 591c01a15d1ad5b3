//! Fuzzes the decoding of journal images (issue 5, item 4): any text, as read from a
//! hand-edited or corrupted `recover_journal.before_image` / `after_image`, decodes into a row or
//! a typed error through `recover::__private::decode_untrusted` — never a panic.
//!
//! Two models cover the field types Diesel maps (integers of every width, bool, f64, text,
//! nullable text, bytes, a timestamp), a composite key, and the `#[recover(..)]` options that
//! change decoding (`skip` with a default, `default`, `renamed_from`). What decodes must also be
//! stable: the row written back as an image (with serde, keyed by column name) decodes to the
//! same row.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run decode_image` from the repository root, or `bash
//! .ci/fuzz` (bounded time, on the seed corpus in `fuzz/corpus/decode_image`).
#![no_main]

use diesel::prelude::*;
use libfuzzer_sys::fuzz_target;
use recover::__private::decode_untrusted;
use recover::Recoverable;
use serde::Serialize;
use std::sync::OnceLock;

diesel::table! {
    samples (id) {
        id -> Integer,
        small -> SmallInt,
        big -> BigInt,
        flag -> Bool,
        ratio -> Double,
        title -> Text,
        note -> Nullable<Text>,
        payload -> Binary,
        created_at -> Timestamp,
        label -> Text,
        plan -> Text,
        secret -> Text,
    }
}

diesel::table! {
    pairs (org, user_id) {
        org -> Text,
        user_id -> BigInt,
        since -> Nullable<Timestamp>,
        weight -> Nullable<Double>,
        active -> Nullable<Bool>,
    }
}

/// Every scalar type, a nullable one, bytes and a timestamp, and each decoding option.
#[derive(Debug, Clone, PartialEq, Queryable, Recoverable, Serialize)]
#[diesel(table_name = samples)]
pub struct Sample {
    pub id: i32,
    pub small: i16,
    pub big: i64,
    pub flag: bool,
    pub ratio: f64,
    pub title: String,
    pub note: Option<String>,
    pub payload: Vec<u8>,
    pub created_at: chrono::NaiveDateTime,
    /// Read from images recorded under its old names too.
    #[recover(renamed_from = "name", renamed_from = "caption")]
    pub label: String,
    /// Images from before the column existed get the default.
    #[recover(default = "free_plan")]
    pub plan: String,
    /// Never in an image: decoding fills in the default.
    #[recover(skip, default = "redacted")]
    #[serde(skip)]
    pub secret: String,
}

pub fn free_plan() -> String {
    "free".into()
}

pub fn redacted() -> String {
    "<redacted>".into()
}

/// A composite key (declared in the table's order reversed) and nullable non-text columns.
#[derive(Debug, Clone, PartialEq, Queryable, Recoverable, Serialize)]
#[diesel(table_name = pairs, primary_key(user_id, org))]
pub struct Pair {
    pub org: String,
    pub user_id: i64,
    pub since: Option<chrono::NaiveDateTime>,
    pub weight: Option<f64>,
    pub active: Option<bool>,
}

/// `RECOVER_FUZZ_DEBUG=1` prints each decoding's outcome (to triage a corpus by hand).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("RECOVER_FUZZ_DEBUG").is_some())
}

/// Decodes `text` as a `T`; what decodes must decode again, to the same row, from the image
/// serde writes for it.
fn decode<T>(text: &str)
where
    T: Recoverable + Serialize + PartialEq + std::fmt::Debug,
{
    let decoded = decode_untrusted::<T>(text);
    if debug() {
        eprintln!("{}: {decoded:?}", T::ENTITY);
    }
    let Ok(row) = decoded else {
        return;
    };
    let image = serde_json::to_string(&row).expect("a decoded row serializes");
    match decode_untrusted::<T>(&image) {
        Ok(again) => assert_eq!(again, row, "unstable decoding of {text:?} via {image:?}"),
        Err(e) => panic!("{text:?} decoded to {row:?}, whose image {image:?} does not: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    decode::<Sample>(&text);
    decode::<Pair>(&text);
});
