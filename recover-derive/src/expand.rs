//! Generating the code: `Recoverable`, and `RowStore` for each backend recover is built with.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Field, Model};

/// The backends, with the connection type and whether the row read takes a row lock.
const BACKENDS: [(&str, &str, bool); 3] = [
    ("if_sqlite", "sqlite::SqliteConnection", false),
    ("if_postgres", "pg::PgConnection", true),
    ("if_mysql", "mysql::MysqlConnection", true),
];

pub fn expand(model: &Model<'_>) -> TokenStream {
    let recoverable = impl_recoverable(model);
    let backends = BACKENDS.iter().map(|(gate, conn, lock)| {
        let gate = format_ident!("{gate}");
        let conn: syn::Path = syn::parse_str(&format!("::recover::__private::diesel::{conn}"))
            .expect("a constant path");
        let row_store = impl_row_store(model, &conn, *lock);
        let ident = model.ident;
        quote! {
            ::recover::__private::#gate! {
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
    let imaged: Vec<&Field<'_>> = model.fields.iter().filter(|f| !f.is_skipped()).collect();
    let columns = imaged.iter().map(|f| {
        let name = column_name(model, f);
        let old = &f.attrs.renamed_from;
        quote!(::recover::__private::ImageColumn { name: #name, renamed_from: &[#(#old),*] })
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
            const ENTITY: &'static str = #entity;
            const COLUMNS: &'static [::recover::__private::ImageColumn] = &[#(#columns),*];

            fn key(&self) -> Self::Key {
                #key_value
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

fn impl_row_store(model: &Model<'_>, conn: &syn::Path, lock: bool) -> TokenStream {
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
    let by_row = key_filter(&|_, f| {
        let member = f.member;
        quote!(&row.#member)
    });

    let all_columns = model.fields.iter().map(|f| column_path(model, f));
    let all_types = model.fields.iter().map(|f| f.ty);
    let bindings: Vec<_> = (0..model.fields.len())
        .map(|i| format_ident!("__field{}", i, span = Span::mixed_site()))
        .collect();
    let members = model.fields.iter().map(|f| f.member);
    let lock = lock.then(|| quote!(.for_update()));

    let assign = |f: &Field<'_>| {
        let column = column_path(model, f);
        let member = f.member;
        quote!(#column.eq(&row.#member))
    };
    let inserts = model.fields.iter().map(assign);
    let set_columns = |fields: Vec<&Field<'_>>| {
        if fields.is_empty() {
            // Nothing but key columns: there is nothing to write, only a row to find.
            return quote! {
                <Self as ::recover::__private::RowStore<#ident>>::load_row(
                    self,
                    &::recover::__private::Recoverable::key(row),
                ).map(|row| usize::from(row.is_some()))
            };
        }
        let sets = fields.into_iter().map(assign);
        quote!(#diesel::update(#by_row).set((#(#sets,)*)).execute(self))
    };
    let non_key: Vec<&Field<'_>> = model
        .fields
        .iter()
        .enumerate()
        .filter(|(i, _)| !model.is_key(*i))
        .map(|(_, f)| f)
        .collect();
    let update = set_columns(non_key.clone());
    let restore = set_columns(non_key.into_iter().filter(|f| !f.is_skipped()).collect());

    quote! {
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
        }
    }
}
