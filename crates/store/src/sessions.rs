//! Sign-in sessions and the reads the API needs about users and entries.

use custody_ledger::{Kind, LedgerId, Role, Seq, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

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

    /// The session of `token_hash` if it is neither past its absolute expiry nor idle longer
    /// than `idle_micros`; marks it used now. The mark is written at most once a minute, so
    /// reads do not each take the database's write lock.
    /// The live session `token_hash` names, as of `now`; `known_last` is its last use as this
    /// process saw it (later than the stored mark, which is rewritten at most every minute,
    /// or every quarter of the idle time when that is shorter). Idle time runs from the later
    /// of the two. An ended session is removed.
    pub async fn touch_session(
        &self,
        token_hash: [u8; 32],
        now: i64,
        idle_micros: i64,
        known_last: Option<i64>,
    ) -> Result<Option<Session>, StoreError> {
        let Some(m) = sessions::Entity::find_by_id(token_hash.to_vec())
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
        Ok(Some(Session {
            ledger: LedgerId::from_uuid(m.ledger_id),
            user: m.user_id.parse().map_err(StoreError::corrupt)?,
            expires_at: m.expires_at,
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
        let mut q = entries::Entity::find()
            .filter(entries::Column::LedgerId.eq(ledger.as_uuid()))
            .order_by_asc(entries::Column::Seq)
            .limit(limit);
        if let Some(a) = after {
            q = q.filter(entries::Column::Seq.gt(rows::to_i64(a.get())));
        }
        if let Some(k) = kind {
            q = q.filter(entries::Column::Kind.eq(i32::from(k.code())));
        }
        q.all(self.connection())
            .await?
            .into_iter()
            .map(|m| {
                Ok(StoredEntry {
                    seq: rows::seq(m.seq)?.get(),
                    hash: rows::hash(&m.entry_hash, "entry hash")?,
                    bytes: m.body,
                })
            })
            .collect()
    }
}
