//! What every handler shares: the clinic, HTTP settings, metrics.

use std::net::IpAddr;
use std::sync::Arc;

use custody_clinic::Clinic;

/// Settings of the HTTP service (the clinic's own are `custody_clinic::Settings`).
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Mark the session cookie `Secure` (set when served behind TLS).
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy CIDR`).
    pub trusted_proxies: Vec<Cidr>,
    /// Serve the tlog tiles and bundles to anyone, not only to auditors and admins.
    pub public_tiles: bool,
}

/// An address range: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address or an address/bits range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { addr, bits })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
            let (whole, rest) = (usize::from(bits / 8), bits % 8);
            a[..whole] == b[..whole]
                && (rest == 0 || (a[whole] ^ b[whole]) & (0xffu8 << (8 - rest)) == 0)
        }
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => prefix(&n.octets(), &i.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(i)) => prefix(&n.octets(), &i.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V4(i)) => {
                prefix(&n.octets(), &i.to_ipv6_mapped().octets(), self.bits)
            }
            (IpAddr::V4(_), IpAddr::V6(i)) => i
                .to_ipv4_mapped()
                .is_some_and(|i| self.contains(IpAddr::V4(i))),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub clinic: Clinic,
    pub config: Arc<ApiConfig>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    pub fn new(clinic: Clinic, config: ApiConfig) -> Self {
        AppState {
            clinic,
            config: Arc::new(config),
            metrics: Arc::default(),
        }
    }
}

/// The metrics endpoint and middleware take just the metrics.
impl axum::extract::FromRef<AppState> for Arc<crate::metrics::Metrics> {
    fn from_ref(s: &AppState) -> Self {
        s.metrics.clone()
    }
}

/// Handlers reach the clinic's store and settings through the state.
impl std::ops::Deref for AppState {
    type Target = Clinic;
    fn deref(&self) -> &Clinic {
        &self.clinic
    }
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    #[test]
    fn ranges() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: Cidr = "::1/128".parse().unwrap();
        assert!(v6.contains("::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }
}
