use diesel::prelude::*;
use recover::{Journal, Recoverable};

diesel::table! {
    events (id) {
        id -> Integer,
        payload -> Jsonb,
    }
}

/// A PostgreSQL-only model (jsonb) in a build with every backend: `check_for_backend` keeps the
/// derive to the backends the model is for.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Recoverable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct Event {
    pub id: i32,
    pub payload: serde_json::Value,
}

#[allow(dead_code)]
fn record(conn: &mut PgConnection, event: &Event) -> Result<(), recover::Error> {
    recover::capture::<Event>(conn)?;
    Journal::new().insert(conn, event)?;
    Ok(())
}

fn main() {}
