//! Rules across fields and attributes, checked before anything is expanded.

use crate::ast::Model;
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, model: &Model<'_>) {
    for (index, field) in model.fields.iter().enumerate() {
        if let (Some(skip), true) = (field.attrs.skip, model.is_key(index)) {
            cx.syn_error(syn::Error::new(
                skip,
                format!(
                    "the key field `{}` cannot be skipped: the journal finds an entity by its key",
                    field.member
                ),
            ));
        }
        if field.is_skipped() {
            if let Some(old) = field.attrs.renamed_from.first() {
                cx.error_spanned_by(
                    old,
                    "a skipped field is never in an image, so `renamed_from` has nothing to read; \
                     remove one of the two",
                );
            }
        }
        for (i, old) in field.attrs.renamed_from.iter().enumerate() {
            if old.value() == field.column.to_string().trim_start_matches("r#") {
                cx.error_spanned_by(
                    old,
                    "`renamed_from` names the column's current name: list only its old names, or remove it",
                );
            }
            if field.attrs.renamed_from[..i]
                .iter()
                .any(|o| o.value() == old.value())
            {
                cx.error_spanned_by(old, "this old name is listed twice");
            }
        }
    }
}
