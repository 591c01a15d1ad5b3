//! Generating the code: `Recoverable`, and `RowStore` for each backend recover is built with.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Field, Model};

/// One backend the derive writes code for.
struct Backend {
    /// Its Diesel backend type's name, as `check_for_backend(..)` names it.
    name: &'static str,
    /// The recover-core macro that keeps the code only when the backend's feature is on.
    gate: TokenStream,
    /// Diesel's connection and backend types.
    conn: TokenStream,
    backend: TokenStream,
    /// Whether a locking read of many rows takes a row lock (`FOR UPDATE`).
    lock: bool,
    /// Whether a locking read of many rows must not be a cached prepared statement (MySQL).
    uncached_locking_read: bool,
}

fn backends() -> [Backend; 3] {
    let diesel = quote!(::recover::__private::diesel);
    [
        Backend {
            name: "Sqlite",
            gate: quote!(::recover::__private::if_sqlite),
            conn: quote!(#diesel::sqlite::SqliteConnection),
            backend: quote!(#diesel::sqlite::Sqlite),
            lock: false,
            uncached_locking_read: false,
        },
        Backend {
            name: "Pg",
            gate: quote!(::recover::__private::if_postgres),
            conn: quote!(#diesel::pg::PgConnection),
            backend: quote!(#diesel::pg::Pg),
            lock: true,
            uncached_locking_read: false,
        },
        Backend {
            name: "Mysql",
            gate: quote!(::recover::__private::if_mysql),
            conn: quote!(#diesel::mysql::MysqlConnection),
            backend: quote!(#diesel::mysql::Mysql),
            lock: true,
            uncached_locking_read: true,
        },
    ]
}

pub fn expand(model: &Model<'_>) -> TokenStream {
    let recoverable = impl_recoverable(model);
    let wanted = |backend: &Backend| {
        model
            .backends
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == backend.name))
    };
    let backends = backends().into_iter().filter(wanted).map(|backend| {
        let gate = &backend.gate;
        let conn = &backend.conn;
        let row_store = impl_row_store(model, &backend);
        let ident = model.ident;
        quote! {
            #gate! {
                #row_store
                ::recover::__private::inventory::submit! {
                    ::recover::__private::Registration::<#conn>::of::<#ident>()
                }
            }
        }
    });
    quote! {
        #[doc(hidden)]
        const _: () = {
            #recoverable
            #(#backends)*
        };
    }
}

/// The indexes of the non-key fields; `image_only`: of those an image holds.
fn non_key_fields(model: &Model<'_>, image_only: bool) -> Vec<usize> {
    model
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| !(model.is_key(*i) || (image_only && f.is_skipped())))
        .map(|(i, _)| i)
        .collect()
}

fn column_path(model: &Model<'_>, field: &Field<'_>) -> TokenStream {
    let table = &model.table;
    let column = &field.column;
    quote!(#table::#column)
}

fn column_name(model: &Model<'_>, field: &Field<'_>) -> TokenStream {
    let column = column_path(model, field);
    quote!(<#column as ::recover::__private::diesel::Column>::NAME)
}

fn impl_recoverable(model: &Model<'_>) -> TokenStream {
    let ident = model.ident;
    let table = &model.table;
    let entity = &model.entity;
    let key_types = model.key_fields().map(|f| f.ty);
    let key_members = model.key_fields().map(|f| f.member);
    let (key_type, key_value) = if model.key.len() == 1 {
        (
            quote!(#(#key_types)*),
            quote!(#(::core::clone::Clone::clone(&self.#key_members))*),
        )
    } else {
        (
            quote!((#(#key_types,)*)),
            quote!((#(::core::clone::Clone::clone(&self.#key_members),)*)),
        )
    };
    let key_columns = model.key_fields().map(|f| column_name(model, f));
    let imaged: Vec<&Field<'_>> = model.fields.iter().filter(|f| !f.is_skipped()).collect();
    let columns = imaged.iter().map(|f| {
        let name = column_name(model, f);
        let old = &f.attrs.renamed_from;
        let key = model.key_fields().any(|k| k.member == f.member);
        quote! {
            ::recover::__private::ImageColumn { name: #name, renamed_from: &[#(#old),*], key: #key }
        }
    });
    let all_columns = model.fields.iter().map(|f| column_name(model, f));
    let key_fields = &model.key;
    let updated = non_key_fields(model, false);
    let restored = non_key_fields(model, true);
    let kinds = imaged.iter().map(|f| {
        let column = column_path(model, f);
        quote! {
            (&&::recover::__private::KindOf::<
                <#column as ::recover::__private::diesel::Expression>::SqlType,
            >::new())
                .kind()
        }
    });
    let writes = imaged.iter().map(|f| {
        let name = column_name(model, f);
        let member = f.member;
        quote_spanned!(f.ty.span()=> image.field(#name, &self.#member)?;)
    });
    let reads = model.fields.iter().map(|f| {
        let member = f.member;
        let ty = f.ty;
        let default = f.attrs.default.as_ref().map(|path| quote!(#path));
        if f.is_skipped() {
            let value = match default {
                Some(path) => quote_spanned!(path.span()=> {
                    let default: fn() -> #ty = #path;
                    default()
                }),
                None => quote_spanned!(ty.span()=>
                    <#ty as ::recover::__private::SkippedDefault>::skipped_default()
                ),
            };
            quote!(#member: #value)
        } else {
            let name = column_name(model, f);
            let old = &f.attrs.renamed_from;
            let default = match default {
                Some(path) => quote_spanned!(path.span()=> {
                    let default: fn() -> #ty = #path;
                    ::core::option::Option::Some(default)
                }),
                None => quote!(::core::option::Option::None),
            };
            quote!(#member: image.column::<#ty>(#name, &[#(#old),*], #default)?)
        }
    });
    quote! {
        #[automatically_derived]
        impl ::recover::__private::Recoverable for #ident {
            type Key = #key_type;
            type Table = #table::table;
            const ENTITY: &'static str = #entity;
            const COLUMNS: &'static [::recover::__private::ImageColumn] = &[#(#columns),*];
            const KEY_COLUMNS: &'static [&'static str] = &[#(#key_columns),*];
            const ROW: ::recover::__private::RowShape = ::recover::__private::RowShape {
                columns: &[#(#all_columns),*],
                key: &[#(#key_fields),*],
                updated: &[#(#updated),*],
                restored: &[#(#restored),*],
            };

            fn key(&self) -> Self::Key {
                #key_value
            }

            fn column_kinds() -> ::std::vec::Vec<::recover::__private::SqlKind> {
                #[allow(unused_imports)]
                use ::recover::__private::{ViaKnownKind as _, ViaOtherKind as _};
                ::std::vec![#(#kinds),*]
            }

            fn write_image(
                &self,
                image: &mut ::recover::__private::ImageWriter,
            ) -> ::core::result::Result<(), ::recover::__private::Error> {
                #(#writes)*
                ::core::result::Result::Ok(())
            }

            fn from_image(
                image: &::recover::__private::ImageReader<'_>,
            ) -> ::core::result::Result<Self, ::recover::__private::Error> {
                ::core::result::Result::Ok(#ident { #(#reads),* })
            }
        }
    }
}

fn impl_row_store(model: &Model<'_>, backend: &Backend) -> TokenStream {
    let conn = &backend.conn;
    let db = &backend.backend;
    let ident = model.ident;
    let table = &model.table;
    let diesel = quote!(::recover::__private::diesel);
    let result = quote!(#diesel::QueryResult);
    let sql_type = |f: &Field<'_>| {
        let column = column_path(model, f);
        quote!(<#column as #diesel::Expression>::SqlType)
    };

    // Each field bound and read as its column's SQL type; a type Diesel cannot map there is
    // reported at the field's type.
    let bind_fields = model.fields.iter().enumerate().map(|(i, f)| {
        let member = f.member;
        let sql_type = sql_type(f);
        quote_spanned!(f.ty.span()=> #i => out.push_bind_param::<#sql_type, _>(&row.#member),)
    });
    let single = model.key.len() == 1;
    let bind_key = model.key_fields().enumerate().map(|(position, f)| {
        let sql_type = sql_type(f);
        let part = if single {
            quote!(key)
        } else {
            let index = syn::Index::from(position);
            quote!(&key.#index)
        };
        quote_spanned!(f.ty.span()=> #position => out.push_bind_param::<#sql_type, _>(#part),)
    });
    let reads = model.fields.iter().map(|f| {
        let member = f.member;
        let ty = f.ty;
        let sql_type = sql_type(f);
        quote_spanned!(f.ty.span()=> #member: row.read::<#sql_type, #ty>()?)
    });

    // What the bulk calls take: typed Diesel statements, instantiated only where a bulk call is.
    let all_columns: Vec<_> = model.fields.iter().map(|f| column_path(model, f)).collect();
    let all_types: Vec<_> = model.fields.iter().map(|f| f.ty).collect();
    let bindings: Vec<_> = (0..model.fields.len())
        .map(|i| format_ident!("__field{}", i, span = Span::mixed_site()))
        .collect();
    let members: Vec<_> = model.fields.iter().map(|f| f.member).collect();
    let lock = backend.lock.then(|| quote!(.for_update()));
    let key_columns: Vec<TokenStream> = model.key_fields().map(|f| column_path(model, f)).collect();
    let select = quote!(.select((#(#all_columns,)*)).order((#(#key_columns,)*)));
    // On MySQL the locking read of many rows runs as a statement of its own, not cached: a
    // deadlock reported after the result set's header leaves a cached statement waiting, on
    // its next run, for rows that never come.
    let load_where_query = quote!(#table::table.filter(filter) #select #lock);
    let load_where_query = if backend.uncached_locking_read {
        quote!(::recover::__private::Uncached(#load_where_query))
    } else {
        load_where_query
    };
    let to_rows = quote! {
        ::core::iter::Iterator::collect(::core::iter::Iterator::map(
            ::core::iter::IntoIterator::into_iter(rows),
            |(#(#bindings,)*)| #ident { #(#members: #bindings),* },
        ))
    };
    let load_rows = if single {
        let column = &key_columns[0];
        quote! {
            // 1,000 keys a statement: under every backend's limit on bind parameters.
            for chunk in keys.chunks(1_000) {
                let rows = #table::table
                    .filter(#column.eq_any(chunk))
                    #select
                    .load::<(#(#all_types,)*)>(self)?;
                found.extend::<::std::vec::Vec<#ident>>(#to_rows);
            }
        }
    } else {
        let mut matches = model.key_fields().enumerate().map(|(i, f)| {
            let column = column_path(model, f);
            let index = syn::Index::from(i);
            quote!(#column.eq(&key.#index))
        });
        let first = matches.next();
        quote! {
            // 100 keys a statement: each is an OR term, and SQLite allows expressions 1,000
            // deep.
            for chunk in keys.chunks(100) {
                let mut query = #table::table #select .into_boxed();
                for key in chunk {
                    query = query.or_filter(#first #(.and(#matches))*);
                }
                let rows = query.load::<(#(#all_types,)*)>(self)?;
                found.extend::<::std::vec::Vec<#ident>>(#to_rows);
            }
        }
    };

    quote! {
        #[automatically_derived]
        impl ::recover::__private::RowStore<#ident> for #conn {
            fn walk_table(
                out: #diesel::query_builder::AstPass<'_, '_, #db>,
            ) -> #result<()> {
                #diesel::query_builder::QueryFragment::<#db>::walk_ast(&#table::table, out)
            }

            fn bind_field<'b>(
                row: &'b #ident,
                field: usize,
                out: &mut #diesel::query_builder::AstPass<'_, 'b, #db>,
            ) -> #result<()> {
                match field {
                    #(#bind_fields)*
                    _ => ::core::result::Result::Err(::recover::__private::no_such_column(field)),
                }
            }

            fn bind_key<'b>(
                key: &'b <#ident as ::recover::__private::Recoverable>::Key,
                position: usize,
                out: &mut #diesel::query_builder::AstPass<'_, 'b, #db>,
            ) -> #result<()> {
                match position {
                    #(#bind_key)*
                    _ => ::core::result::Result::Err(::recover::__private::no_such_column(position)),
                }
            }

            fn sql_texts() -> &'static ::recover::__private::SqlTexts {
                static TEXTS: ::recover::__private::SqlTexts = ::recover::__private::SqlTexts::new();
                &TEXTS
            }

            fn read_row(
                row: &mut ::recover::__private::RowReader<'_, #db>,
            ) -> #diesel::deserialize::Result<#ident> {
                ::core::result::Result::Ok(#ident { #(#reads),* })
            }

            fn load_row(
                &mut self,
                key: &<#ident as ::recover::__private::Recoverable>::Key,
            ) -> #result<::core::option::Option<#ident>> {
                ::recover::__private::load_row::<#ident, Self>(self, key)
            }

            fn load_where<F: ::recover::__private::BulkFilter<#ident>>(
                &mut self,
                filter: F,
            ) -> #result<::std::vec::Vec<#ident>> {
                use #diesel::prelude::*;
                let rows = #load_where_query.load::<(#(#all_types,)*)>(self)?;
                ::core::result::Result::Ok(#to_rows)
            }

            // Used by bulk calls only: instantiated where one is (see `inline`).
            #[inline]
            fn load_rows(
                &mut self,
                keys: &[<#ident as ::recover::__private::Recoverable>::Key],
            ) -> #result<::std::vec::Vec<#ident>> {
                use #diesel::prelude::*;
                let mut found = ::std::vec::Vec::with_capacity(keys.len());
                #load_rows
                ::core::result::Result::Ok(found)
            }

            fn update_where<
                F: ::recover::__private::BulkFilter<#ident>,
                V: ::recover::__private::BulkChanges<#ident>,
            >(
                &mut self,
                filter: F,
                changes: V,
            ) -> #result<usize> {
                use #diesel::prelude::*;
                ::recover::__private::UpdateWhere::new(#table::table, filter, changes).execute(self)
            }

            fn delete_where<F: ::recover::__private::BulkFilter<#ident>>(
                &mut self,
                filter: F,
            ) -> #result<usize> {
                use #diesel::prelude::*;
                #diesel::delete(#table::table.filter(filter)).execute(self)
            }
        }
    }
}
