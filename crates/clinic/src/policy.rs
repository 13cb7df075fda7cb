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
    /// Work with stock at the bedside or in the pharmacy (the stock pages).
    Clinical,
    /// Receive, count, resolve, dispense, transfer, lose, destroy: the pharmacy pages.
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
        Verify | Reports => matches!(role, Admin | Pharmacist | Auditor),
        Clinical => matches!(role, Pharmacist | Nurse),
        Pharmacy => role == Pharmacist,
        ManageUsers | Catalog | ErasePatients => role == Admin,
        KeepPatients => matches!(role, Admin | Pharmacist | Nurse),
        ReadPatients => matches!(role, Admin | Pharmacist | Nurse | Auditor),
        Tiles => matches!(role, Admin | Auditor),
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
