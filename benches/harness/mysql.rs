//! MySQL or MariaDB: a fresh database per measurement.

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{install_and_seed, ACCOUNTS_DDL};

/// The benchmark's database, dropped when this is dropped.
pub struct Database {
    url: String,
    name: String,
}

impl Database {
    pub fn new(url: &str) -> Self {
        Database {
            url: url.to_owned(),
            name: format!("recover_bench_{}", std::process::id()),
        }
    }

    fn connect(&self) -> MysqlConnection {
        MysqlConnection::establish(&self.url)
            .unwrap_or_else(|e| panic!("MySQL at {}: {e}", self.url))
    }

    /// A new connection to a fresh database with the accounts table (1,000 rows) and the
    /// journal tables.
    pub fn fresh(&self) -> MysqlConnection {
        let mut conn = self.connect();
        let d = &self.name;
        conn.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {d}; CREATE DATABASE {d}; USE {d}; {ACCOUNTS_DDL}"
        ))
        .expect("fresh database");
        install_and_seed!(&mut conn);
        conn
    }

    /// Another connection to the database [`Database::fresh`] made (for concurrent writers).
    pub fn connect_to(&self) -> MysqlConnection {
        let mut conn = self.connect();
        conn.batch_execute(&format!("USE {}", self.name))
            .expect("USE database");
        conn
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> String {
        diesel::select(diesel::dsl::sql::<Text>("VERSION()"))
            .get_result(&mut self.connect())
            .expect("VERSION()")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut conn) = MysqlConnection::establish(&self.url) {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}
