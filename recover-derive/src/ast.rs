//! The typed model of the struct the derive is applied to.

use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{ContainerAttrs, FieldAttrs};
use crate::ctxt::Ctxt;

/// A `#[derive(Recoverable)]` struct.
pub struct Model<'a> {
    pub ident: &'a Ident,
    /// The Diesel table module (`#[diesel(table_name = ..)]`, or the snake_case plural).
    pub table: syn::Path,
    /// The table's SQL name, stored as the journal's `entity`.
    pub entity: String,
    pub fields: Vec<Field<'a>>,
    /// Indices into `fields`, in key order.
    pub key: Vec<usize>,
    /// The backends to write code for (`check_for_backend`'s `Sqlite`, `Pg`, `Mysql`), or
    /// `None`: every backend recover is built with.
    pub backends: Option<Vec<String>>,
}

/// One field of the struct.
pub struct Field<'a> {
    pub member: &'a Ident,
    pub ty: &'a Type,
    /// The column in the Diesel table (`#[diesel(column_name = ..)]`, or the field's name).
    pub column: Ident,
    pub attrs: FieldAttrs,
}

impl Field<'_> {
    pub fn is_skipped(&self) -> bool {
        self.attrs.skip.is_some()
    }
}

impl<'a> Model<'a> {
    /// Reads the struct; structural misuse is reported to `cx` and gives `None`.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Model<'a>> {
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Some(named),
                Fields::Unnamed(_) | Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "#[derive(Recoverable)] needs a struct with named fields, one per column \
                         (like Diesel's Queryable models); tuple and unit structs are not supported",
                    );
                    None
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "#[derive(Recoverable)] works on structs with named fields, one per column; \
                     an enum is not a table row",
                );
                None
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "#[derive(Recoverable)] works on structs with named fields, one per column; \
                     a union is not a table row",
                );
                None
            }
        };
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "#[derive(Recoverable)] does not support generic or borrowing models: \
                 use a struct of owned field types (String rather than &str or Cow)",
            );
        }
        let container = ContainerAttrs::parse(cx, &input.attrs);
        let fields: Vec<Field<'a>> = named?
            .named
            .iter()
            .filter_map(|field| {
                let member = field.ident.as_ref()?;
                let attrs = FieldAttrs::parse(cx, &field.attrs);
                Some(Field {
                    member,
                    ty: &field.ty,
                    column: attrs.column_name.clone().unwrap_or_else(|| member.clone()),
                    attrs,
                })
            })
            .collect();
        let table = container.table_name.unwrap_or_else(|| {
            Ident::new(&infer_table_name(&input.ident), input.ident.span()).into()
        });
        let entity = table
            .segments
            .last()
            .map(|s| s.ident.to_string().trim_start_matches("r#").to_owned())
            .unwrap_or_default();
        let key = resolve_key(cx, input, &fields, container.primary_key)?;
        let backends = container
            .backends
            .map(|b| b.iter().map(Ident::to_string).collect());
        Some(Model {
            ident: &input.ident,
            table,
            entity,
            fields,
            key,
            backends,
        })
    }

    pub fn key_fields(&self) -> impl Iterator<Item = &Field<'a>> {
        self.key.iter().map(|&i| &self.fields[i])
    }

    pub fn is_key(&self, index: usize) -> bool {
        self.key.contains(&index)
    }
}

/// Finds the key fields: `primary_key(..)`, or Diesel's default `id`.
fn resolve_key(
    cx: &Ctxt,
    input: &DeriveInput,
    fields: &[Field<'_>],
    primary_key: Option<Vec<Ident>>,
) -> Option<Vec<usize>> {
    let position = |name: &Ident| fields.iter().position(|f| f.member == name);
    let Some(names) = primary_key else {
        return match fields.iter().position(|f| f.member == "id") {
            Some(index) => Some(vec![index]),
            None => {
                cx.error_spanned_by(
                    &input.ident,
                    format!(
                        "`{}` has no field `id`: name its key fields with \
                         #[diesel(primary_key(field, ..))]",
                        input.ident
                    ),
                );
                None
            }
        };
    };
    if names.is_empty() {
        return None; // reported while parsing the attribute
    }
    let mut key = Vec::new();
    for name in &names {
        match position(name) {
            Some(index) if key.contains(&index) => {
                cx.error_spanned_by(name, format!("`{name}` appears twice in primary_key(..)"));
            }
            Some(index) => key.push(index),
            None => cx.error_spanned_by(
                name,
                format!(
                    "primary_key names `{name}`, which is not a field of `{}`; \
                     list the struct's key fields",
                    input.ident
                ),
            ),
        }
    }
    (key.len() == names.len()).then_some(key)
}

/// Diesel's default table name: the struct's name in snake_case, plus `s`.
fn infer_table_name(ident: &Ident) -> String {
    let name = ident.to_string();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out.push('s');
    out
}
