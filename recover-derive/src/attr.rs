//! Parsing `#[diesel(..)]` (the options recover shares with Diesel) and `#[recover(..)]`.

use proc_macro2::{Span, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitStr, Token};

use crate::ctxt::Ctxt;
use crate::symbol::*;

/// Struct-level options.
#[derive(Default)]
pub struct ContainerAttrs {
    /// `#[diesel(table_name = path)]`.
    pub table_name: Option<syn::Path>,
    /// `#[diesel(primary_key(a, b))]`: field names, in key order.
    pub primary_key: Option<Vec<Ident>>,
    /// `#[diesel(check_for_backend(diesel::pg::Pg, ..))]`: the backends the model is for, by
    /// the last segment of each path (`Sqlite`, `Pg`, `Mysql`).
    pub backends: Option<Vec<Ident>>,
}

/// Field-level options.
#[derive(Default)]
pub struct FieldAttrs {
    /// `#[diesel(column_name = name)]`.
    pub column_name: Option<Ident>,
    /// `#[recover(skip)]`: the span of `skip`.
    pub skip: Option<Span>,
    /// `#[recover(default = "path")]`.
    pub default: Option<syn::ExprPath>,
    /// `#[recover(renamed_from = "old")]`, possibly several.
    pub renamed_from: Vec<LitStr>,
}

const RECOVER_OPTIONS: &str =
    "expected `skip`, `default = \"path::to::fn\"` or `renamed_from = \"old_column\"`";

impl ContainerAttrs {
    pub fn parse(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = ContainerAttrs::default();
        for attr in attrs {
            if attr.path().is_ident(RECOVER) {
                cx.error_spanned_by(
                    attr,
                    "#[recover(..)] goes on fields, not on the struct: \
                     #[recover(skip)], #[recover(default = \"path\")] or #[recover(renamed_from = \"old\")]",
                );
            } else if attr.path().is_ident(DIESEL) {
                let result = attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident(TABLE_NAME) {
                        out.table_name = Some(meta.value()?.parse()?);
                    } else if meta.path.is_ident(PRIMARY_KEY) {
                        let content;
                        syn::parenthesized!(content in meta.input);
                        let names = Punctuated::<syn::Path, Token![,]>::parse_terminated(&content)?;
                        let mut key = Vec::new();
                        for name in names {
                            match name.get_ident() {
                                Some(ident) => key.push(ident.clone()),
                                None => cx.error_spanned_by(
                                    &name,
                                    "primary_key(..) lists the struct's key fields by name, like primary_key(org_id, user_id)",
                                ),
                            }
                        }
                        if key.is_empty() {
                            cx.error_spanned_by(
                                &meta.path,
                                "primary_key() names no field: list the key fields, like primary_key(id)",
                            );
                        }
                        out.primary_key = Some(key);
                    } else if meta.path.is_ident(CHECK_FOR_BACKEND) {
                        let content;
                        syn::parenthesized!(content in meta.input);
                        let paths = Punctuated::<syn::Path, Token![,]>::parse_terminated(&content)?;
                        let mut backends = out.backends.take().unwrap_or_default();
                        for path in paths {
                            match path.segments.last().map(|s| &s.ident) {
                                Some(b) if ["Sqlite", "Pg", "Mysql"].iter().any(|k| b == k) => {
                                    backends.push(b.clone())
                                }
                                _ => cx.error_spanned_by(
                                    &path,
                                    "recover supports the backends diesel::sqlite::Sqlite, diesel::pg::Pg and diesel::mysql::Mysql",
                                ),
                            }
                        }
                        out.backends = Some(backends);
                    } else {
                        skip_diesel_option(&meta)?;
                    }
                    Ok(())
                });
                if let Err(e) = result {
                    cx.syn_error(e);
                }
            }
        }
        out
    }
}

impl FieldAttrs {
    pub fn parse(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = FieldAttrs::default();
        for attr in attrs {
            let result = if attr.path().is_ident(DIESEL) {
                attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident(EMBED) {
                        Err(meta.error(
                            "#[derive(Recoverable)] does not support #[diesel(embed)]: \
                             list the embedded struct's columns as fields of the model",
                        ))
                    } else if meta.path.is_ident(COLUMN_NAME) {
                        let value = meta.value()?;
                        out.column_name = Some(if value.peek(LitStr) {
                            let lit: LitStr = value.parse()?;
                            lit.parse()?
                        } else {
                            value.parse()?
                        });
                        Ok(())
                    } else {
                        skip_diesel_option(&meta)
                    }
                })
            } else if attr.path().is_ident(RECOVER) {
                attr.parse_nested_meta(|meta| out.parse_recover_option(cx, meta))
            } else {
                Ok(())
            };
            if let Err(e) = result {
                cx.syn_error(e);
            }
        }
        out
    }

    fn parse_recover_option(&mut self, cx: &Ctxt, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path.is_ident(SKIP) {
            if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
                return Err(meta.error("`skip` takes no value: write #[recover(skip)]"));
            }
            if self.skip.is_some() {
                cx.error_spanned_by(&meta.path, "duplicate #[recover(skip)]");
            }
            self.skip = Some(
                meta.path
                    .get_ident()
                    .map_or_else(Span::call_site, Ident::span),
            );
        } else if meta.path.is_ident(DEFAULT) {
            let lit = string_value(&meta, DEFAULT, "path::to::fn")?;
            let path = lit.parse::<syn::ExprPath>().map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "`default` takes the path of a function returning the field's type, \
                         like #[recover(default = \"my_default\")]; {:?} is not a path",
                        lit.value()
                    ),
                )
            })?;
            if self.default.is_some() {
                cx.error_spanned_by(&meta.path, "duplicate #[recover(default = ..)]");
            }
            self.default = Some(path);
        } else if meta.path.is_ident(RENAMED_FROM) {
            let lit = string_value(&meta, RENAMED_FROM, "old_column")?;
            if lit.value().trim().is_empty() {
                return Err(syn::Error::new(
                    lit.span(),
                    "`renamed_from` takes the column's old SQL name, and it is empty",
                ));
            }
            self.renamed_from.push(lit);
        } else {
            let name = meta
                .path
                .get_ident()
                .map_or_else(|| "?".to_owned(), Ident::to_string);
            return Err(meta.error(format!(
                "unknown recover option `{name}`: {RECOVER_OPTIONS}"
            )));
        }
        Ok(())
    }
}

/// `name = "..."`, with a message that shows the expected form.
fn string_value(meta: &ParseNestedMeta<'_>, name: &str, example: &str) -> syn::Result<LitStr> {
    let form = format!("write #[recover({name} = \"{example}\")]");
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format!("`{name}` needs a value: {form}")));
    }
    let value = meta.value()?;
    value
        .parse::<LitStr>()
        .map_err(|e| syn::Error::new(e.span(), format!("`{name}` takes a string: {form}")))
}

/// Passes over a Diesel option recover does not need (`check_for_backend(..)`,
/// `treat_none_as_null = true`, `serialize_as = T`, ...): a parenthesised list, or `=` and
/// everything up to the next top-level comma.
fn skip_diesel_option(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::token::Paren) {
        let _group: TokenTree = meta.input.parse()?;
    } else if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
            let _token: TokenTree = meta.input.parse()?;
        }
    }
    Ok(())
}
