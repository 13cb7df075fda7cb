//! Every role question of the clinic, in one place. Pages and routes ask here; nothing else
//! holds a role list. Who may author or witness each kind of entry is the ledger's own table
//! (`custody_ledger::state`), so the question asked before a password and the rule checked
//! at append cannot disagree.

use custody_ledger::state::{WITNESS_ROLES, author_roles};
use custody_ledger::{Kind, Role};

/// What someone may want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Record (author) an entry of this kind.
    Author(Kind),
    /// Witness an entry (a waste, an adjustment, a destruction).
    Witness,
    /// Read the ledger: entries, on hand, containers, the queue.
    Read,
    /// Run a full verification, see checkpoints and the verification page.
    Verify,
    /// Download signed reports.
    Reports,
    /// Read diversion analytics (`GET …/analytics`, the analytics page, the `diversion`
    /// report): each person's signals against peers. Pharmacists, auditors and admins —
    /// never a nurse, whose colleagues' figures they are.
    Analytics,
    /// Make the patient-identifying dispensing record (names and addresses of the patients
    /// dispensed to, 21 CFR 1304.22(c)) for an inspector, stating why.
    IdentifyPatients,
    /// Work with stock at the bedside or in the pharmacy (the stock pages): whoever may
    /// author an `administered` entry.
    Clinical,
    /// Receive, count, resolve, dispense, transfer, lose, destroy (the pharmacy pages):
    /// whoever may author a `receipt`.
    Pharmacy,
    /// Enroll users, change roles, deactivate, reset passwords.
    ManageUsers,
    /// Define products and locations.
    Catalog,
    /// Add or change patient records.
    KeepPatients,
    /// Read patient records (names behind commitments).
    ReadPatients,
    /// Erase patient records.
    ErasePatients,
    /// Write and record state PMP files; keep the registrant's NPI and NCPDP number,
    /// prescribers' NPIs and dispenses' prescriptions.
    Pmp,
    /// Mirror the ledger through its tlog tiles and entry bundles (unless the server makes
    /// them public).
    Tiles,
}

/// Whether `role` may do `what`.
pub fn allows(role: Role, what: Permission) -> bool {
    use Permission::*;
    use Role::*;
    match what {
        Author(kind) => author_roles(kind).contains(&role),
        Witness => WITNESS_ROLES.contains(&role),
        Read => matches!(role, Admin | Pharmacist | Nurse | Auditor),
        Verify | Reports | Analytics => matches!(role, Admin | Pharmacist | Auditor),
        // Names and addresses leave the register only with those who answer for the
        // register's use: not an auditor (who reads the de-identified log), not a nurse.
        IdentifyPatients => matches!(role, Admin | Pharmacist),
        // The stock pages are for those who may record a dose; the pharmacy pages for those
        // who may receive stock: the ledger's table says who.
        Clinical => author_roles(Kind::Administered).contains(&role),
        Pharmacy => author_roles(Kind::Receipt).contains(&role),
        ManageUsers | Catalog | ErasePatients => role == Admin,
        KeepPatients => matches!(role, Admin | Pharmacist | Nurse),
        ReadPatients => matches!(role, Admin | Pharmacist | Nurse | Auditor),
        Tiles => matches!(role, Admin | Auditor),
        Pmp => matches!(role, Admin | Pharmacist),
    }
}

/// The sentence a refusal says: "a nurse may not do this".
pub fn refusal(role: Role) -> String {
    let article = if matches!(role, Role::Admin | Role::Auditor) {
        "an"
    } else {
        "a"
    };
    format!("{article} {role} may not do this")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page gates follow the ledger's table: whoever may record a dose sees the stock
    /// pages, whoever may receive stock the pharmacy pages; no one else.
    #[test]
    fn page_gates_follow_the_ledgers_table() {
        for &role in Role::ALL {
            assert_eq!(
                allows(role, Permission::Clinical),
                allows(role, Permission::Author(Kind::Administered)),
                "{role}"
            );
            assert_eq!(
                allows(role, Permission::Pharmacy),
                allows(role, Permission::Author(Kind::Receipt)),
                "{role}"
            );
        }
        assert!(allows(Role::Nurse, Permission::Clinical));
        assert!(!allows(Role::Nurse, Permission::Pharmacy));
        assert!(allows(Role::Pharmacist, Permission::Pharmacy));
        assert!(!allows(Role::Auditor, Permission::Clinical));
        assert!(!allows(Role::Admin, Permission::Clinical));
        for &role in Role::ALL {
            assert_eq!(
                allows(role, Permission::IdentifyPatients),
                matches!(role, Role::Admin | Role::Pharmacist),
                "{role}"
            );
        }
    }

    /// Diversion analytics are for pharmacists, auditors and admins; a nurse never sees
    /// colleagues' figures.
    #[test]
    fn analytics_are_for_pharmacists_auditors_and_admins() {
        for (role, may) in [
            (Role::Admin, true),
            (Role::Pharmacist, true),
            (Role::Auditor, true),
            (Role::Nurse, false),
        ] {
            assert_eq!(allows(role, Permission::Analytics), may, "{role}");
        }
    }
}
