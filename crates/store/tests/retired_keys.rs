//! A key someone rotated away from is never accepted again, for anyone (format version 4,
//! `key_retired`), on real databases: the enrollment that would bring it back is refused
//! by the dry run and by the append, and writes nothing.

mod common;

use common::*;
use custody_ledger::vectors::{SignWhenMade, seeded_key};
use custody_ledger::*;
use custody_store::StoreError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_away_key_enrolled_for_another_user_is_refused() {
    for db in TestDb::all().await {
        // The vector ledger up to entry 30: Nina rotated her key away ("nina" → "nina-2").
        let ledger = seed(&db.store, 31).await[0].ledger;
        let before = db.store.head(ledger).await.unwrap();
        let old = seeded_key("nina");
        let enroll = |name: &str, key: &ed25519_dalek::SigningKey| {
            Draft::new(
                ledger,
                new_id(),
                UserEnrolled {
                    user: name.parse().unwrap(),
                    printed_name: "Zed Newcomer, RN".parse().unwrap(),
                    role: Role::Nurse,
                    public_key: PublicKey::from(key),
                },
            )
            .signed_when_made(user("ada"), Meaning::Authored, &seeded_key("ada"))
            .signed_when_made(user(name), Meaning::KeyPossession, key)
        };
        let d = enroll("zed", &old);
        match db.store.dry_run(std::slice::from_ref(&d)).await {
            Err(StoreError::Rejected(v)) => assert_eq!(v.code(), "key_retired", "{v}"),
            other => panic!("{}: the dry run must refuse, got {other:?}", db.name),
        }
        match db.store.append(d).await {
            Err(StoreError::Rejected(v)) => assert_eq!(v.code(), "key_retired", "{v}"),
            other => panic!("{}: the append must refuse, got {other:?}", db.name),
        }
        let after = db.store.head(ledger).await.unwrap();
        assert_eq!(
            after.entries, before.entries,
            "{}: nothing written",
            db.name
        );
        // A new key for the same person is enrolled.
        db.store
            .append(enroll("zed", &seeded_key("zed")))
            .await
            .unwrap_or_else(|e| panic!("{}: a fresh key is enrolled: {e}", db.name));
        db.cleanup().await;
    }
}
