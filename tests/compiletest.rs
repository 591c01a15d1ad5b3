//! The derive's compile errors and supported shapes. The expected messages are those of the full
//! build (`--all-features`: the derive expands for every backend), so the cases run there only.
#![cfg(all(feature = "sqlite", feature = "postgres", feature = "mysql"))]

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
