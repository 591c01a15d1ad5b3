//! PostgreSQL: a fresh schema per measurement.

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{install_and_seed, ACCOUNTS_DDL};

/// The benchmark's schema, dropped when this is dropped.
pub struct Schema {
    url: String,
    name: String,
}

impl Schema {
    pub fn new(url: &str) -> Self {
        Schema {
            url: url.to_owned(),
            name: format!("bench_{}", std::process::id()),
        }
    }

    /// A new connection to a fresh schema with the accounts table (1,000 rows) and the
    /// journal tables.
    pub fn fresh(&self) -> PgConnection {
        let mut conn = self.empty();
        install_and_seed!(&mut conn);
        conn.batch_execute("VACUUM ANALYZE accounts")
            .expect("vacuum");
        conn
    }

    /// A new connection to a fresh schema with an empty accounts table and no journal (what
    /// `recover::rebuild` fills).
    pub fn empty(&self) -> PgConnection {
        let mut conn = PgConnection::establish(&self.url)
            .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", self.url));
        let s = &self.name;
        conn.batch_execute(&format!(
            "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {s} CASCADE; \
             CREATE SCHEMA {s}; SET search_path TO {s}; {ACCOUNTS_DDL}"
        ))
        .expect("empty schema");
        conn
    }

    /// Another connection to the schema [`Schema::fresh`] made (for concurrent writers).
    pub fn connect(&self) -> PgConnection {
        let mut conn = PgConnection::establish(&self.url)
            .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", self.url));
        conn.batch_execute(&format!("SET search_path TO {}", self.name))
            .expect("search_path");
        conn
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> String {
        let mut conn = PgConnection::establish(&self.url)
            .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", self.url));
        diesel::select(diesel::dsl::sql::<Text>(
            "current_setting('server_version')",
        ))
        .get_result(&mut conn)
        .expect("server_version")
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.url) {
            let _ = conn.batch_execute(&format!(
                "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {} CASCADE",
                self.name
            ));
        }
    }
}
