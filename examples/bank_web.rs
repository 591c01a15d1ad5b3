//! The history page of `recover::web`, serving the bank example's model: run
//! `cargo run --example bank` (it writes `bank.db` in the system's temp folder), then
//! `cargo run --features web --example bank_web` and open the URL it prints.
//!
//! A real application nests `recover::web::router` under a path of its own, behind its login;
//! this demo listens on the loopback interface only and records every change as made by
//! "demo" (or by the `X-User` header's user, standing in for a login).

#[path = "bank/model.rs"]
#[allow(dead_code)]
mod model;

use axum::Router;
use diesel::{Connection, SqliteConnection};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("bank.db");
    if !path.exists() {
        return Err(format!(
            "no {}: run `cargo run --example bank` first",
            path.display()
        )
        .into());
    }
    let url = path.to_string_lossy().into_owned();
    let history =
        recover::web::Config::new(move || SqliteConnection::establish(&url)).actor(|parts| {
            let user = parts.headers.get("x-user").and_then(|v| v.to_str().ok());
            Some(user.unwrap_or("demo").to_owned())
        });
    let app = Router::new().nest("/admin/history", recover::web::router(history));

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        println!(
            "history page of {}: http://{}/admin/history",
            path.display(),
            listener.local_addr()?
        );
        axum::serve(listener, app).await
    })?;
    Ok(())
}
