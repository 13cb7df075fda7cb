//! Sign-in sessions and the reads the API needs about users and entries.

use custody_ledger::{Kind, LedgerId, Role, Seq, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, DynIden, Expr, IntoIden, OnConflict, Query, SelectStatement};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};

use crate::Store;
use crate::entities::{entries, password_changes, sessions, users};
use crate::error::StoreError;
use crate::rows;

/// How stale a session's last-use mark may get before it is rewritten.
const TOUCH_EVERY_MICROS: i64 = 60_000_000;

/// A user as the materialized table holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub user: UserId,
    pub printed_name: String,
    pub role: Role,
    pub active: bool,
    pub key_id: String,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub ledger: LedgerId,
    pub user: UserId,
    pub expires_at: i64,
}

/// A live session with what every request needs to know of its person, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub session: Session,
    /// The user as the materialized table holds them; none if the table has no such row.
    pub user: Option<UserInfo>,
    /// An admin set this person's password: they must change it before anything else.
    pub password_change_required: bool,
}

/// The row [`session_query`] reads.
#[derive(Debug, FromQueryResult)]
struct SessionRow {
    ledger_id: sea_orm::prelude::Uuid,
    user_id: String,
    last_seen: i64,
    expires_at: i64,
    printed_name: Option<String>,
    role: Option<String>,
    active: Option<bool>,
    key_id: Option<String>,
    required_since: Option<i64>,
}

/// The session `token_hash` names, joined with its user and any password change required of
/// them.
fn session_query(token_hash: &[u8; 32]) -> SelectStatement {
    use sea_orm::sea_query::ExprTrait;
    let same_person = |t: DynIden| {
        Expr::col((t.clone(), Alias::new("ledger_id")))
            .equals((sessions::Entity, sessions::Column::LedgerId))
            .and(
                Expr::col((t, Alias::new("user_id")))
                    .equals((sessions::Entity, sessions::Column::UserId)),
            )
    };
    Query::select()
        .columns([
            (sessions::Entity, sessions::Column::LedgerId),
            (sessions::Entity, sessions::Column::UserId),
            (sessions::Entity, sessions::Column::LastSeen),
            (sessions::Entity, sessions::Column::ExpiresAt),
        ])
        .columns([
            (users::Entity, users::Column::PrintedName),
            (users::Entity, users::Column::Role),
            (users::Entity, users::Column::Active),
            (users::Entity, users::Column::KeyId),
        ])
        .column((
            password_changes::Entity,
            password_changes::Column::RequiredSince,
        ))
        .from(sessions::Entity)
        .left_join(users::Entity, same_person(users::Entity.into_iden()))
        .left_join(
            password_changes::Entity,
            same_person(password_changes::Entity.into_iden()),
        )
        .and_where(
            Expr::col((sessions::Entity, sessions::Column::TokenHash)).eq(token_hash.to_vec()),
        )
        .to_owned()
}

/// One stored entry, as listed.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub seq: u64,
    pub hash: custody_ledger::EntryHash,
    pub bytes: Vec<u8>,
}

/// A user as the store keeps them.
pub(crate) fn user_from_row(m: users::Model) -> Result<UserInfo, StoreError> {
    Ok(UserInfo {
        user: m.user_id.parse().map_err(StoreError::corrupt)?,
        printed_name: m.printed_name,
        role: m.role.parse().map_err(StoreError::corrupt)?,
        active: m.active,
        key_id: m.key_id,
    })
}

impl Store {
    pub async fn user(
        &self,
        ledger: LedgerId,
        user: &UserId,
    ) -> Result<Option<UserInfo>, StoreError> {
        users::Entity::find_by_id((ledger.as_uuid(), user.to_string()))
            .one(self.connection())
            .await?
            .map(user_from_row)
            .transpose()
    }

    /// Records a session; `token_hash` is SHA-256 of the token handed to the client.
    pub async fn create_session(
        &self,
        token_hash: [u8; 32],
        ledger: LedgerId,
        user: &UserId,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sessions::Entity::insert(sessions::ActiveModel {
            token_hash: Set(token_hash.to_vec()),
            ledger_id: Set(ledger.as_uuid()),
            user_id: Set(user.to_string()),
            created_at: Set(now),
            last_seen: Set(now),
            expires_at: Set(expires_at),
        })
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// The live session `token_hash` names, as of `now`, with its user and whether they must
    /// change their password: one statement (a join) on every request. `known_last` is its
    /// last use as this process saw it (later than the stored mark, which is rewritten at most
    /// every minute, or every quarter of the idle time when that is shorter, so that reads do
    /// not each take the database's write lock). Idle time runs from the later of the two. An
    /// ended session is removed.
    pub async fn touch_session(
        &self,
        token_hash: [u8; 32],
        now: i64,
        idle_micros: i64,
        known_last: Option<i64>,
    ) -> Result<Option<LiveSession>, StoreError> {
        let Some(m) =
            SessionRow::find_by_statement(self.backend().build(&session_query(&token_hash)))
                .one(self.connection())
                .await?
        else {
            return Ok(None);
        };
        let last = known_last.map_or(m.last_seen, |k| k.max(m.last_seen));
        if now >= m.expires_at || now - last > idle_micros {
            sessions::Entity::delete_by_id(token_hash.to_vec())
                .exec(self.connection())
                .await?;
            return Ok(None);
        }
        if now - m.last_seen > TOUCH_EVERY_MICROS.min(idle_micros / 4) {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::LastSeen, now.into())
                .filter(sessions::Column::TokenHash.eq(token_hash.to_vec()))
                .exec(self.connection())
                .await?;
        }
        let user = match (m.printed_name, m.role, m.active, m.key_id) {
            (Some(printed_name), Some(role), Some(active), Some(key_id)) => Some(UserInfo {
                user: m.user_id.parse().map_err(StoreError::corrupt)?,
                printed_name,
                role: role.parse().map_err(StoreError::corrupt)?,
                active,
                key_id,
            }),
            _ => None,
        };
        Ok(Some(LiveSession {
            session: Session {
                ledger: LedgerId::from_uuid(m.ledger_id),
                user: m.user_id.parse().map_err(StoreError::corrupt)?,
                expires_at: m.expires_at,
            },
            user,
            password_change_required: m.required_since.is_some(),
        }))
    }

    pub async fn delete_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        sessions::Entity::delete_by_id(token_hash.to_vec())
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Ends every session of `user` (deactivated, or their password was reset).
    pub async fn delete_sessions_of(
        &self,
        ledger: LedgerId,
        user: &UserId,
    ) -> Result<(), StoreError> {
        sessions::Entity::delete_many()
            .filter(sessions::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(sessions::Column::UserId.eq(user.to_string()))
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Records that `user` must change their password before anything else (an admin set
    /// it); kept until [`Store::clear_password_change`].
    pub async fn require_password_change(
        &self,
        ledger: LedgerId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        password_changes::Entity::insert(password_changes::ActiveModel {
            ledger_id: Set(ledger.as_uuid()),
            user_id: Set(user.to_string()),
            required_since: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                password_changes::Column::LedgerId,
                password_changes::Column::UserId,
            ])
            .update_column(password_changes::Column::RequiredSince)
            .to_owned(),
        )
        .exec_without_returning(self.connection())
        .await?;
        Ok(())
    }

    /// Whether `user` must change their password before anything else.
    pub async fn password_change_required(
        &self,
        ledger: LedgerId,
        user: &UserId,
    ) -> Result<bool, StoreError> {
        Ok(
            password_changes::Entity::find_by_id((ledger.as_uuid(), user.to_string()))
                .one(self.connection())
                .await?
                .is_some(),
        )
    }

    /// `user` changed their password: nothing more is demanded of them.
    pub async fn clear_password_change(
        &self,
        ledger: LedgerId,
        user: &UserId,
    ) -> Result<(), StoreError> {
        password_changes::Entity::delete_many()
            .filter(password_changes::Column::LedgerId.eq(ledger.as_uuid()))
            .filter(password_changes::Column::UserId.eq(user.to_string()))
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Entries after `after` (exclusive), oldest first, optionally of one kind.
    pub async fn entries_page(
        &self,
        ledger: LedgerId,
        after: Option<Seq>,
        limit: u64,
        kind: Option<Kind>,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        // Only the three columns a page gives: the others (ids, the previous hash, the Merkle
        // subtrees) would be read and copied for every row for nothing.
        let mut q = entries::Entity::find()
            .select_only()
            .columns([
                entries::Column::Seq,
                entries::Column::EntryHash,
                entries::Column::Body,
            ])
            .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_asc(entries::Column::Seq)
            .limit(limit);
        if let Some(a) = after {
            q = q.filter(entries::Column::Seq.gt(rows::to_i64(a.get())));
        }
        if let Some(k) = kind {
            q = q.filter(entries::Column::Kind.eq(i32::from(k.code())));
        }
        q.into_tuple::<(i64, Vec<u8>, Vec<u8>)>()
            .all(self.connection())
            .await?
            .into_iter()
            .map(|(seq, hash, bytes)| {
                Ok(StoredEntry {
                    seq: rows::seq(seq)?.get(),
                    hash: rows::hash(&hash, "entry hash")?,
                    bytes,
                })
            })
            .collect()
    }
}
