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
    /// Whether reading the row takes a row lock (`FOR UPDATE`).
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

/// The UPDATE statements the derive writes itself rather than through Diesel's
/// `UpdateStatement`, which is never cached and so is prepared again on every call: these have
/// a static query id, and are prepared once per connection.
struct RowUpdate {
    /// Every non-key column (`update`).
    all: TokenStream,
    /// The non-key image columns (`restore`).
    image: TokenStream,
}

pub fn expand(model: &Model<'_>) -> TokenStream {
    let recoverable = impl_recoverable(model);
    let updates = RowUpdate {
        all: quote!(__RecoverUpdateRow),
        image: quote!(__RecoverRestoreRow),
    };
    let update_types = declare_updates(model, &updates);
    let wanted = |backend: &Backend| {
        model
            .backends
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == backend.name))
    };
    let backends = backends().into_iter().filter(wanted).map(|backend| {
        let gate = &backend.gate;
        let conn = &backend.conn;
        let row_store = impl_row_store(model, &backend, &updates);
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
            #update_types
            #(#backends)*
        };
    }
}

fn non_key_fields<'m>(model: &'m Model<'_>, image_only: bool) -> Vec<&'m Field<'m>> {
    model
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| !(model.is_key(*i) || (image_only && f.is_skipped())))
        .map(|(_, f)| f)
        .collect()
}

/// Whether the image holds every column (no `#[recover(skip)]`): then restoring a row writes
/// what updating it does, with the same statement.
fn restores_all(model: &Model<'_>) -> bool {
    model.fields.iter().all(|f| !f.is_skipped())
}

/// The UPDATE statement types (one where restoring writes what updating does), with their
/// static query ids.
fn declare_updates(model: &Model<'_>, updates: &RowUpdate) -> TokenStream {
    let ident = model.ident;
    let diesel = quote!(::recover::__private::diesel);
    let image = (!restores_all(model)).then_some(&updates.image);
    std::iter::once(&updates.all)
        .chain(image)
        .map(|name| {
            quote! {
                struct #name<'a>(&'a #ident);

                impl #diesel::query_builder::QueryId for #name<'_> {
                    type QueryId = #name<'static>;
                    const HAS_STATIC_QUERY_ID: bool = true;
                }

                impl<Conn> #diesel::RunQueryDsl<Conn> for #name<'_> {}
            }
        })
        .collect()
}

/// `UPDATE table SET c1 = ?, .. WHERE k1 = ? AND ..` for one backend.
fn walk_update(
    model: &Model<'_>,
    backend: &TokenStream,
    name: &TokenStream,
    fields: &[&Field<'_>],
) -> TokenStream {
    let diesel = quote!(::recover::__private::diesel);
    let table = &model.table;
    let bind = |f: &Field<'_>| {
        let column = column_path(model, f);
        let member = f.member;
        quote_spanned! {f.ty.span()=>
            out.push_identifier(<#column as #diesel::Column>::NAME)?;
            out.push_sql(" = ");
            out.push_bind_param::<<#column as #diesel::Expression>::SqlType, _>(&self.0.#member)?;
        }
    };
    let sets = fields.iter().enumerate().map(|(i, f)| {
        let comma = (i > 0).then(|| quote!(out.push_sql(", ");));
        let bind = bind(f);
        quote!(#comma #bind)
    });
    let wheres = model.key_fields().enumerate().map(|(i, f)| {
        let and = (i > 0).then(|| quote!(out.push_sql(" AND ");));
        let bind = bind(f);
        quote!(#and #bind)
    });
    quote! {
        impl #diesel::query_builder::QueryFragment<#backend> for #name<'_> {
            fn walk_ast<'b>(
                &'b self,
                mut out: #diesel::query_builder::AstPass<'_, 'b, #backend>,
            ) -> #diesel::QueryResult<()> {
                out.push_sql("UPDATE ");
                #diesel::query_builder::QueryFragment::<#backend>::walk_ast(&#table::table, out.reborrow())?;
                out.push_sql(" SET ");
                #(#sets)*
                out.push_sql(" WHERE ");
                #(#wheres)*
                ::core::result::Result::Ok(())
            }
        }
    }
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

fn impl_row_store(model: &Model<'_>, backend: &Backend, updates: &RowUpdate) -> TokenStream {
    let conn = &backend.conn;
    let ident = model.ident;
    let table = &model.table;
    let diesel = quote!(::recover::__private::diesel);
    let result = quote!(#diesel::QueryResult);

    // `WHERE` on every key column, with the key's value taken from `access(index, field)`.
    let key_filter = |access: &dyn Fn(usize, &Field<'_>) -> TokenStream| {
        let filters = model.key_fields().enumerate().map(|(i, f)| {
            let column = column_path(model, f);
            let value = access(i, f);
            quote!(.filter(#column.eq(#value)))
        });
        quote!(#table::table #(#filters)*)
    };
    let single = model.key.len() == 1;
    let by_key = key_filter(&|i, _| {
        if single {
            quote!(key)
        } else {
            let index = syn::Index::from(i);
            quote!(&key.#index)
        }
    });

    let all_columns: Vec<_> = model.fields.iter().map(|f| column_path(model, f)).collect();
    let all_types: Vec<_> = model.fields.iter().map(|f| f.ty).collect();
    let bindings: Vec<_> = (0..model.fields.len())
        .map(|i| format_ident!("__field{}", i, span = Span::mixed_site()))
        .collect();
    let members: Vec<_> = model.fields.iter().map(|f| f.member).collect();
    let lock = backend.lock.then(|| quote!(.for_update()));

    let assign = |f: &Field<'_>| {
        let column = column_path(model, f);
        let member = f.member;
        quote!(#column.eq(&row.#member))
    };
    let inserts = model.fields.iter().map(assign);
    let set_columns = |name: &TokenStream, fields: Vec<&Field<'_>>| {
        if fields.is_empty() {
            // Nothing but key columns: there is nothing to write, only a row to find.
            let find = quote! {
                <Self as ::recover::__private::RowStore<#ident>>::load_row(
                    self,
                    &::recover::__private::Recoverable::key(row),
                ).map(|row| usize::from(row.is_some()))
            };
            return (TokenStream::new(), find);
        }
        let walk = walk_update(model, &backend.backend, name, &fields);
        (walk, quote!(#name(row).execute(self)))
    };
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
    let (walk_all, update) = set_columns(&updates.all, non_key_fields(model, false));
    let (walk_image, restore) = if restores_all(model) {
        // One statement fewer for the compiler to build: the same UPDATE.
        let update =
            quote!(<Self as ::recover::__private::RowStore<#ident>>::update_row(self, row));
        (TokenStream::new(), update)
    } else {
        set_columns(&updates.image, non_key_fields(model, true))
    };

    quote! {
        #walk_all
        #walk_image

        #[automatically_derived]
        impl ::recover::__private::RowStore<#ident> for #conn {
            fn load_row(
                &mut self,
                key: &<#ident as ::recover::__private::Recoverable>::Key,
            ) -> #result<::core::option::Option<#ident>> {
                use #diesel::prelude::*;
                let row = #by_key
                    .select((#(#all_columns,)*))
                    #lock
                    .get_result::<(#(#all_types,)*)>(self)
                    .optional()?;
                ::core::result::Result::Ok(row.map(|(#(#bindings,)*)| #ident { #(#members: #bindings),* }))
            }

            fn insert_row(&mut self, row: &#ident) -> #result<usize> {
                use #diesel::prelude::*;
                #diesel::insert_into(#table::table).values((#(#inserts,)*)).execute(self)
            }

            fn update_row(&mut self, row: &#ident) -> #result<usize> {
                use #diesel::prelude::*;
                #update
            }

            fn restore_row(&mut self, row: &#ident) -> #result<usize> {
                use #diesel::prelude::*;
                #restore
            }

            fn delete_row(
                &mut self,
                key: &<#ident as ::recover::__private::Recoverable>::Key,
            ) -> #result<usize> {
                use #diesel::prelude::*;
                #diesel::delete(#by_key).execute(self)
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
