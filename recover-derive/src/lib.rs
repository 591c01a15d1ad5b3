//! `#[derive(Recoverable)]`: makes a Diesel model journaled and revertible by `recover`.
//!
//! Use it through the `recover` crate. The derive reads Diesel's own attributes, so a model
//! needs nothing new:
//!
//! - `#[diesel(table_name = accounts)]` — the table (default: the struct's name in snake_case
//!   plus `s`, as in Diesel);
//! - `#[diesel(primary_key(a, b))]` — the key fields, in key order (default: `id`); the key type
//!   is the field's type, or the tuple of the fields' types;
//! - `#[diesel(column_name = name)]` on a field — its column;
//! - `#[diesel(check_for_backend(diesel::pg::Pg))]` — the backends the model is for: the derive
//!   writes code for these only (default: every backend recover is built with), so a model
//!   with a PostgreSQL-only column type builds beside SQLite models.
//!
//! Its own field options, under `#[recover(..)]`:
//!
//! - `skip` — keep the column out of every image (secrets, large blobs). `update` still writes
//!   it; `restore` leaves it as it is; when an image becomes a row again (history, undelete)
//!   the field takes its `default`, or `Default::default()`. A key field cannot be skipped.
//! - `default = "path::to::fn"` — the value for images recorded before the column existed.
//! - `renamed_from = "old_name"` — read images recorded under the column's old name (may be
//!   given several times).
//!
//! ```text
//! #[derive(Queryable, Selectable, Insertable, Recoverable)]
//! #[diesel(table_name = users)]
//! struct User {
//!     id: i32,
//!     #[recover(renamed_from = "name")]
//!     display_name: String,
//!     #[recover(skip)]
//!     password_hash: String,
//!     #[recover(default = "default_plan")]
//!     plan: String,
//! }
//! ```

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod symbol;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `recover::Recoverable` and the row access recover needs on every enabled backend.
/// See the crate documentation for the attributes it reads.
#[proc_macro_derive(Recoverable, attributes(recover, diesel))]
pub fn derive_recoverable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn derive(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let cx = ctxt::Ctxt::default();
    let model = ast::Model::from_ast(&cx, input);
    if let Some(model) = &model {
        check::check(&cx, model);
    }
    cx.check()?;
    Ok(model.map(|m| expand::expand(&m)).unwrap_or_default())
}
