//! sea-orm entities: the database rows. Wire and domain types live elsewhere; these mirror
//! the tables made by `custody-migration` and nothing more.

pub mod ledgers {
    use sea_orm::entity::prelude::*;

    /// One ledger and its head: the row every append locks.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledgers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub registrant_name: String,
        pub registrant_address: String,
        pub registrant_dea: String,
        pub registrant_key: Vec<u8>,
        pub genesis_key: Vec<u8>,
        pub patient_secret: Vec<u8>,
        pub users_enrolled: i64,
        pub next_seq: i64,
        pub last_hash: Vec<u8>,
        pub last_timestamp: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod entries {
    use sea_orm::entity::prelude::*;

    /// One chained entry: its canonical bytes, and the fields that queries and auditors read
    /// without decoding (each checked against the bytes by verification).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub entry_id: Uuid,
        pub kind: i32,
        pub recorded_at: i64,
        pub prev_hash: Vec<u8>,
        pub entry_hash: Vec<u8>,
        /// Hashes of the Merkle subtrees this entry's leaf completes (levels 1 up).
        pub subtrees: Vec<u8>,
        pub body: Vec<u8>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod users {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub printed_name: String,
        pub role: String,
        pub active: bool,
        pub public_key: Vec<u8>,
        pub key_id: String,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod credentials {
    use sea_orm::entity::prelude::*;

    /// A user's private key, sealed under their password. Never leaves the server in clear.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_id: String,
        pub sealed_key: Vec<u8>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod products {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub ndc: String,
        pub name: String,
        /// The canonical bytes of the `product_defined` payload.
        pub definition: Vec<u8>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod locations {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "locations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub location_id: String,
        pub name: String,
        pub kind: String,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod containers {
    use sea_orm::entity::prelude::*;

    /// One container's materialized state; on hand is summed from these rows.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "containers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub container_id: String,
        pub receipt_seq: i64,
        pub idx: i32,
        pub ndc: String,
        pub lot: String,
        pub expiry: i32,
        pub location: String,
        pub status: String,
        pub beyond_use: Option<i32>,
        pub capacity: i64,
        pub remaining: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod discrepancies {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "discrepancies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub count_seq: i64,
        pub location: String,
        pub ndc: String,
        /// The adjustment that resolved it; none while it is open.
        pub resolved_seq: Option<i64>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod cosignatures {
    use sea_orm::entity::prelude::*;

    /// A witness's cosignature of a checkpoint, as the witness returned it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cosignatures")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub size: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub witness: String,
        pub root: Vec<u8>,
        pub line: String,
        pub received_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod checkpoints {
    use sea_orm::entity::prelude::*;

    /// A checkpoint the registrant issued: the signed note, as handed out.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "checkpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub size: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub issued_at: i64,
        pub root: Vec<u8>,
        pub note: String,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sessions {
    use sea_orm::entity::prelude::*;

    /// A signed-in session: only the SHA-256 of its token is kept.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: Vec<u8>,
        pub ledger_id: Uuid,
        pub user_id: String,
        pub created_at: i64,
        pub last_seen: i64,
        pub expires_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod password_changes {
    use sea_orm::entity::prelude::*;

    /// A person who must change their password before anything else (an admin set it).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_changes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub required_since: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pending_entries {
    use sea_orm::entity::prelude::*;

    /// An act signed by its author, waiting for a witness; not in the ledger yet.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pending_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub entry_id: Uuid,
        pub kind: i32,
        pub author: String,
        pub container: String,
        pub created_at: i64,
        /// The canonical bytes of the entry's body (what every signer signs).
        pub body: Vec<u8>,
        /// The signatures so far, as JSON.
        pub signatures: String,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod patients {
    use sea_orm::entity::prelude::*;

    /// The identifying record behind a patient commitment; erasable.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "patients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub patient_ref: String,
        pub mrn: String,
        pub name: String,
        pub address: String,
        pub birth_date: String,
        pub created_at: i64,
        /// The Spravato REMS enrollment: the REMS patient id and the date (YYYY-MM-DD).
        pub rems_patient_id: Option<String>,
        pub rems_enrolled_on: Option<String>,
        /// F, M or U (ASAP PAT19), for state PMP reports.
        pub sex: Option<String>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod bootstrap_tokens {
    use sea_orm::entity::prelude::*;

    /// The hash of a ledger's one-time bootstrap token.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bootstrap_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        pub token_hash: Vec<u8>,
        pub created_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod requests {
    use sea_orm::entity::prelude::*;

    /// A signed act's request id and what it recorded: a repeated request gets this back.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ledger_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_key: String,
        /// SHA-256 of what the request asked (never its passwords).
        pub fingerprint: Vec<u8>,
        /// The seqs of the entries it recorded, comma-separated.
        pub seqs: String,
        /// The entry id of the act it queued for a witness, if it queued one.
        pub pending: Option<Uuid>,
        pub created_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod attempts {
    use sea_orm::entity::prelude::*;

    /// Failed passwords counted against one key (an account, a client address).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "attempts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub failures: i64,
        pub window_start: i64,
        pub next_at: i64,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}
