//! Scratch PostgreSQL databases for `custody bench --postgres` and the tests: a new database
//! with a unique name on the server the operator names, dropped when the benchmark (or the
//! test) ends, so that a measurement never writes into a database people work in and test
//! runs do not pile databases up. (SQL stays in this crate.)

use sea_orm::{ConnectionTrait, Database};

use crate::error::StoreError;

/// A database made for one benchmark run, on the server of `admin`.
#[derive(Debug)]
pub struct ScratchDatabase {
    /// The URL it was made through (and is dropped through: a database cannot drop itself).
    admin: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates `custody_bench_<uuid v7>` on the PostgreSQL server `admin_url` connects to (any
    /// database of it the user may connect to); the user needs the CREATEDB privilege.
    pub async fn create(admin_url: &str) -> Result<Self, StoreError> {
        Self::create_for(admin_url, "bench").await
    }

    /// Creates `custody_<purpose>_<uuid v7>`, as [`ScratchDatabase::create`] does; `purpose`
    /// (`test`, `e2e`) is lower-case letters and digits, so the name needs no quoting.
    pub async fn create_for(admin_url: &str, purpose: &'static str) -> Result<Self, StoreError> {
        debug_assert!(
            purpose
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        // A name of our own making: lower-case letters, hex and underscores, nothing to quote.
        let name = format!("custody_{purpose}_{}", uuid::Uuid::now_v7().simple());
        let conn = Database::connect(admin_url).await?;
        let made = conn
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await;
        // Closed whatever happened: an open admin connection would hold up the final DROP.
        conn.close().await?;
        made?;
        Ok(Self {
            url: with_database(admin_url, &name),
            admin: admin_url.to_owned(),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scratch database's URL: the admin URL with its database replaced.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database. `WITH (FORCE)` (PostgreSQL 13 and later) ends sessions still
    /// connected to it — a server process that did not stop cleanly must not keep it alive.
    pub async fn drop_database(self) -> Result<(), StoreError> {
        let conn = Database::connect(&self.admin).await?;
        let dropped = conn
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
        conn.close().await?;
        dropped?;
        Ok(())
    }
}

/// A scratch database dropped when this goes — a test's, whether it passes, fails or
/// panics — instead of when someone remembers to.
#[derive(Debug)]
pub struct DroppedWhenGone(Option<ScratchDatabase>);

impl ScratchDatabase {
    /// This database, dropped (`WITH (FORCE)`) when the guard returned goes.
    pub fn dropped_when_gone(self) -> DroppedWhenGone {
        DroppedWhenGone(Some(self))
    }
}

impl DroppedWhenGone {
    pub fn url(&self) -> &str {
        self.0.as_ref().map_or("", ScratchDatabase::url)
    }

    pub fn name(&self) -> &str {
        self.0.as_ref().map_or("", ScratchDatabase::name)
    }
}

impl Drop for DroppedWhenGone {
    fn drop(&mut self) {
        let Some(db) = self.0.take() else { return };
        // A thread of its own: this may run on an async runtime, which cannot block on
        // another future. Nothing here may panic (it runs on a test's failure too); a
        // database that cannot be dropped (the server gone) is left as it is.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(db.drop_database());
            }
        })
        .join();
    }
}

/// `postgres://user@host:port/db?options` with its database replaced by `name` (added when
/// the URL names none); the options are kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[host_start..].find('/') {
        Some(i) => &base[..host_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced_and_its_options_kept() {
        assert_eq!(
            with_database("postgres://root@127.0.0.1:5432/test", "s"),
            "postgres://root@127.0.0.1:5432/s"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "s"),
            "postgres://u:p@h/s?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "s"),
            "postgres://u@h:5432/s"
        );
        assert_eq!(
            with_database("postgresql://u@h?sslmode=require", "s"),
            "postgresql://u@h/s?sslmode=require"
        );
    }
}
