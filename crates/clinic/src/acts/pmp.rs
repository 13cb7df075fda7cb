//! State PMP reporting: the file of a state's program for a period (built by
//! `custody_report::pmp`), recorded by a `pmp_reported` entry the registrant key signs; the
//! registers it needs beside the chain (the registrant's NPI and NCPDP number, prescribers'
//! NPIs, each take-home dispense's prescription); and each state's next deadline.

use custody_ledger::{Canonical, Day, DeaNumber, Kind, Payload, Seq};
use custody_report::pmp::{self, Deadline, PmpError, PmpFile};
use custody_store::{Prescription, RegistrantIds};

use crate::Clinic;
use crate::error::{ClinicError, ClinicResult};
use crate::policy::Permission;
use crate::session::Session;

/// A file issued: the file, and the entry that records it (once the ledger has the kind).
#[derive(Debug, Clone)]
pub struct PmpIssued {
    pub file: PmpFile,
    pub recorded_as: Option<u64>,
}

/// Whether `npi` is a National Provider Identifier: 10 digits, the last a Luhn check digit
/// over the prefix 80840 and the first nine.
pub fn npi_valid(npi: &str) -> bool {
    if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = format!("80840{npi}")
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn npi(field: &str, v: &str) -> ClinicResult<String> {
    let v = v.trim();
    if npi_valid(v) {
        Ok(v.to_string())
    } else {
        Err(ClinicError::invalid(
            field,
            format!("{v:?} is not an NPI: 10 digits whose last is the check digit"),
        ))
    }
}

fn pmp_error(e: PmpError) -> ClinicError {
    match e {
        PmpError::Missing { field, message } => ClinicError::Invalid { field, message },
        PmpError::Invalid(m) => ClinicError::invalid("period", m),
        PmpError::Store(e) => e.into(),
        e => ClinicError::internal(e),
    }
}

impl Clinic {
    /// Writes the file of `state`'s program for `from..=to` and records it (`pmp_reported`).
    /// Refused, naming the field, when data the profile requires is missing.
    pub async fn pmp_file(
        &self,
        s: &Session,
        state: &str,
        from: Day,
        to: Day,
    ) -> ClinicResult<PmpIssued> {
        s.require(s.ledger, Permission::Pmp)?;
        let profile = self
            .settings
            .pmp_profiles
            .get(state)
            .map_err(ClinicError::not_found)?;
        let key = self.registrant(s.ledger, "signs PMP files")?;
        let file = pmp::build(
            &self.store,
            s.ledger,
            profile,
            from,
            to,
            &self.settings.time_zone,
        )
        .await
        .map_err(pmp_error)?;
        let recorded_as = pmp::record(&self.store, s.ledger, &file, &key)
            .await
            .map_err(pmp_error)?;
        tracing::info!(ledger = %s.ledger, state = %file.state, %from, %to, records = file.records,
            control = %file.control_number, by = %s.user, "PMP file issued");
        Ok(PmpIssued { file, recorded_as })
    }

    /// Sets the registrant's NPI and NCPDP number.
    pub async fn save_registrant_ids(
        &self,
        s: &Session,
        npi_: Option<&str>,
        ncpdp: Option<&str>,
    ) -> ClinicResult<RegistrantIds> {
        s.require(s.ledger, Permission::Pmp)?;
        fn given(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        let ids = RegistrantIds {
            npi: given(npi_).map(|v| npi("npi", v)).transpose()?,
            ncpdp: given(ncpdp)
                .map(|v| {
                    if v.len() == 7 && v.bytes().all(|b| b.is_ascii_digit()) {
                        Ok(v.to_string())
                    } else {
                        Err(ClinicError::invalid(
                            "ncpdp",
                            format!("{v:?} is not an NCPDP provider id: 7 digits"),
                        ))
                    }
                })
                .transpose()?,
        };
        self.store.save_registrant_ids(s.ledger, &ids).await?;
        Ok(ids)
    }

    pub async fn registrant_ids(&self, s: &Session) -> ClinicResult<RegistrantIds> {
        s.require(s.ledger, Permission::Read)?;
        Ok(self.store.registrant_ids(s.ledger).await?)
    }

    /// Sets the NPI of the prescriber entries name by DEA number `dea`.
    pub async fn save_prescriber_npi(
        &self,
        s: &Session,
        dea: &DeaNumber,
        npi_: &str,
    ) -> ClinicResult<String> {
        s.require(s.ledger, Permission::Pmp)?;
        let v = npi("npi", npi_)?;
        self.store.save_prescriber_npi(s.ledger, dea, &v).await?;
        Ok(v)
    }

    /// Keeps the prescription a take-home dispense (entry `seq`) filled.
    pub async fn save_prescription(
        &self,
        s: &Session,
        seq: Seq,
        rx_number: &str,
        written_on: Day,
        refills_authorized: u32,
        days_supply: u32,
    ) -> ClinicResult<Prescription> {
        s.require(s.ledger, Permission::Pmp)?;
        let rx = rx_number.trim();
        if rx.is_empty()
            || rx.len() > 25
            || !rx.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ClinicError::invalid(
                "rx_number",
                "give the prescription number: 1 to 25 letters, digits or dashes",
            ));
        }
        if days_supply == 0 || days_supply > 365 {
            return Err(ClinicError::invalid(
                "days_supply",
                "give the days' supply: 1 to 365",
            ));
        }
        if refills_authorized > 99 {
            return Err(ClinicError::invalid("refills_authorized", "give 0 to 99"));
        }
        let bytes = self
            .store
            .entry_bytes(s.ledger, seq)
            .await?
            .ok_or_else(|| ClinicError::not_found(format!("no entry {seq} in this ledger")))?;
        let entry =
            custody_ledger::Entry::from_canonical_bytes(&bytes).map_err(ClinicError::internal)?;
        let filled = self.settings.time_zone.day_of(entry.timestamp);
        if !matches!(entry.body.payload, Payload::Dispensed(_)) {
            return Err(ClinicError::invalid(
                "seq",
                format!(
                    "entry {seq} is a {}, not a take-home dispense ({})",
                    entry.body.kind(),
                    Kind::Dispensed
                ),
            ));
        }
        if written_on > filled {
            return Err(ClinicError::invalid(
                "written_on",
                format!("a prescription is written on or before the day it is filled ({filled})"),
            ));
        }
        let p = Prescription {
            seq,
            rx_number: rx.to_string(),
            written_on,
            refills_authorized,
            days_supply,
            updated_at: custody_store::clock::now(),
        };
        self.store.save_prescription(s.ledger, &p).await?;
        Ok(p)
    }

    /// The next deadline of each state the clinic reports to (`--pmp-state`) or has issued
    /// a file for.
    pub async fn pmp_deadlines(&self, s: &Session) -> ClinicResult<Vec<Deadline>> {
        s.require(s.ledger, Permission::Read)?;
        let mut states = self.settings.pmp_states.clone();
        for st in pmp::issued_states(&self.store, s.ledger)
            .await
            .map_err(pmp_error)?
        {
            if !states.contains(&st) {
                states.push(st);
            }
        }
        pmp::deadlines(
            &self.store,
            s.ledger,
            &self.settings.pmp_profiles,
            &self.settings.time_zone,
            &states,
        )
        .await
        .map_err(pmp_error)
    }
}
