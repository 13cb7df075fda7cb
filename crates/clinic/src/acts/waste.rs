//! Waste: what is left in a vial, destroyed before a second person. The witness either signs
//! in the same act, or the waste — already signed by its author — waits in the
//! awaiting-witness queue until a different active user with a witnessing role signs it.
//! Until then it is not in the chain.

use custody_ledger::*;

use super::{Ceremony, Origin, Outcome, Planned, fingerprint};
use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// The waste reason of a Spravato device used partly (one spray, then stopped) or opened and
/// not given, and of patient-labelled product not used within 14 days: the REMS sends it to
/// the Spravato disposal program or a reverse distributor, so it leaves stock by a witnessed
/// waste and never goes back on hand (docs/rems.md).
pub const PARTIAL_DEVICE_REASON: &str = "partial Spravato device: to the Spravato disposal program or a reverse distributor, never back on hand";

/// Days after which patient-labelled Spravato product that was not used must leave stock.
pub const PATIENT_LABELLED_DAYS: i64 = 14;

/// Wasting part (`amount`) or all of an open container.
#[derive(Debug, Clone)]
pub struct WasteRest {
    pub container: ContainerId,
    /// Absent: everything the container holds.
    pub amount: Option<Micrograms>,
    pub reason: Text,
    /// The witness signing now; none sends the waste to the queue.
    pub witness: Option<UserId>,
}

/// Witnessing a queued waste.
#[derive(Debug, Clone)]
pub struct WitnessQueued {
    pub pending: EntryId,
}

impl Clinic {
    /// The waste entry `cmd` will be.
    pub async fn waste_payload(&self, s: &Session, cmd: &WasteRest) -> ClinicResult<Waste> {
        let amount = match cmd.amount {
            Some(mg) => self.amount_of(s, &cmd.container, mg, "amount_mg").await?,
            None => self.everything_in(s, &cmd.container).await?,
        };
        Ok(Waste {
            container: cmd.container,
            amount,
            reason: cmd.reason.clone(),
        })
    }

    /// Wastes from a container: recorded with its witness, or queued for one.
    pub async fn waste(
        &self,
        s: &Session,
        cmd: WasteRest,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        let payload = self.waste_payload(s, &cmd).await?;
        if let Some(w) = &cmd.witness {
            let planned = Planned::new(payload).witnessed_by([w.clone()]);
            return self.record(s, &cmd, vec![planned], ceremony, origin).await;
        }
        // Queued: everything but the witness is checked now, against the state as it is.
        let fp = fingerprint(s, &cmd);
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok(o);
        }
        let planned = Planned::new(payload);
        s.require(s.ledger, Permission::Author(Kind::Waste))?;
        let drafts = self.unsigned(s, std::slice::from_ref(&planned)).await?;
        // Every rule but the witness signature it still awaits (the container open, the
        // amount there, the author), against the state as it is, before the password.
        self.store.dry_run_awaiting_witness(&drafts).await?;
        let Ceremony::Sign { password, .. } = ceremony else {
            return Ok(Outcome::WouldRecord(drafts));
        };
        let key = self
            .open_key(s.ledger, &s.user, &password, &origin.client)
            .await?;
        let d = Draft::new(s.ledger, super::entry_id(), planned.payload).signed(
            Principal::User(s.user.clone()),
            Meaning::Authored,
            &key,
            super::signing_time(),
        );
        let request = Self::request_record(s, origin, fp);
        match self
            .store
            .queue_entry(&d, &s.user, &cmd.container.to_string(), request.as_ref())
            .await
        {
            Ok(pending) => Ok(Outcome::Queued {
                pending: Box::new(pending),
                repeated: false,
            }),
            Err(e) => self.repeated_or(s, origin, &fp, e.into()).await,
        }
    }

    /// Witnesses a queued waste: the signed-in person signs it and it is recorded.
    pub async fn witness(
        &self,
        s: &Session,
        cmd: WitnessQueued,
        ceremony: Ceremony,
        origin: &Origin,
    ) -> ClinicResult<Outcome> {
        s.require(s.ledger, Permission::Witness)?;
        let fp = fingerprint(s, &cmd);
        if let Some(o) = self.prior(s, origin, &fp).await? {
            return Ok(o);
        }
        let gone = || ClinicError::not_found("no waste with that id is waiting for a witness");
        let p = self
            .store
            .pending_entry(s.ledger, cmd.pending)
            .await?
            .ok_or_else(gone)?;
        let key_id = self.key_id_of(s, &s.user).await?;
        if p.draft.version != custody_ledger::FormatVersion::CURRENT {
            return Err(ClinicError::conflict(
                "signed_before_upgrade",
                "this waste was signed by its author before the ledger's current format version (4), whose signatures sign that version: the author records it again, and this one is left unwitnessed",
            ));
        }
        let trial = p.draft.clone().to_be_signed_by(
            Principal::User(s.user.clone()),
            Meaning::Witnessed,
            key_id,
            super::signing_time(),
        );
        self.store.dry_run(std::slice::from_ref(&trial)).await?;
        let Ceremony::Sign { password, .. } = ceremony else {
            return Ok(Outcome::WouldRecord(vec![trial]));
        };
        let key = self
            .open_key(s.ledger, &s.user, &password, &origin.client)
            .await?;
        let d = p.draft.signed(
            Principal::User(s.user.clone()),
            Meaning::Witnessed,
            &key,
            super::signing_time(),
        );
        let request = Self::request_record(s, origin, fp);
        let entries = match self.store.append_all(vec![d], request.as_ref()).await {
            Ok(e) => e,
            Err(e) => return self.repeated_or(s, origin, &fp, e.into()).await,
        };
        self.store.dequeue_entry(s.ledger, cmd.pending).await?;
        Ok(Outcome::Recorded {
            entries,
            repeated: false,
        })
    }
}
