//! Containers: what is held (or everything ever received), one container, and its history.

use custody_ledger::ContainerId;
use custody_store::ContainerInfo;
use custody_store::sessions::StoredEntry;

use crate::Clinic;
use crate::acts::unknown_container;
use crate::error::ClinicResult;
use crate::policy::Permission;
use crate::session::Session;

impl Clinic {
    /// The containers held (sealed or open), or with `held_only` false every one ever
    /// received (emptied, gone too).
    pub async fn containers(
        &self,
        s: &Session,
        held_only: bool,
    ) -> ClinicResult<Vec<ContainerInfo>> {
        s.require(s.ledger, Permission::Read)?;
        Ok(self.store.containers(s.ledger, held_only).await?)
    }

    /// One container as it stands.
    pub async fn container(&self, s: &Session, id: &ContainerId) -> ClinicResult<ContainerInfo> {
        s.require(s.ledger, Permission::Read)?;
        self.store
            .container(s.ledger, id)
            .await?
            .ok_or_else(|| unknown_container(id))
    }

    /// A container's whole history: its receipt, then every entry naming it, oldest first.
    pub async fn container_history(
        &self,
        s: &Session,
        id: &ContainerId,
    ) -> ClinicResult<(ContainerInfo, Vec<StoredEntry>)> {
        let c = self.container(s, id).await?;
        let entries = self.store.container_history(s.ledger, id).await?;
        Ok((c, entries))
    }
}
