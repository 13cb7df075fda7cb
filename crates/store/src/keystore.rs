//! Private keys at rest: sealed under a key derived from the holder's password (Argon2id),
//! encrypted with XChaCha20-Poly1305, the key id as associated data. The server never keeps
//! a key in clear; whoever signs must type the password that opens it.
//!
//! Sealed format (version 1): `b"custody-sealed-key\x01"`, Argon2 memory KiB (u32 BE),
//! iterations (u32 BE), parallelism (u32 BE), salt (16), nonce (24), ciphertext (32 + 16 tag).

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use custody_ledger::{KeyId, PublicKey};
use ed25519_dalek::SigningKey;
use thiserror::Error;
use zeroize::Zeroizing;

const MAGIC: &[u8] = b"custody-sealed-key\x01";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("wrong password")]
    WrongPassword,
    #[error("the sealed key is malformed: {0}")]
    Malformed(&'static str),
    #[error("the system's random number generator failed")]
    Random,
}

/// Argon2id cost. The default follows OWASP's minimum for Argon2id (19 MiB, 2 passes).
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Cost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Fills a buffer from the operating system's CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| KeyError::Random)?;
    Ok(b)
}

/// A new Ed25519 key from the operating system's CSPRNG.
pub fn generate() -> Result<SigningKey, KeyError> {
    let seed = Zeroizing::new(random::<32>()?);
    Ok(SigningKey::from_bytes(&seed))
}

fn derive(password: &str, salt: &[u8], cost: Cost) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, Some(32))
        .map_err(|_| KeyError::Malformed("Argon2 parameters out of range"))?;
    let mut memory = working_memory::take(params.block_count())?;
    let mut out = Zeroizing::new([0u8; 32]);
    let hashed = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, out.as_mut(), &mut *memory);
    working_memory::give_back(memory);
    hashed.map_err(|_| KeyError::Malformed("Argon2 refused the input"))?;
    Ok(out)
}

mod working_memory;

/// Seals `key` under `password`.
pub fn seal(key: &SigningKey, password: &str, cost: Cost) -> Result<Vec<u8>, KeyError> {
    let salt = random::<16>()?;
    let nonce = random::<24>()?;
    let kek = derive(password, &salt, cost)?;
    let key_id = PublicKey::from(key).key_id();
    let cipher = XChaCha20Poly1305::new_from_slice(kek.as_ref())
        .map_err(|_| KeyError::Malformed("key length"))?;
    let secret = Zeroizing::new(key.to_bytes());
    let ct = cipher
        .encrypt(
            &XNonce::try_from(&nonce[..]).map_err(|_| KeyError::Malformed("nonce length"))?,
            Payload {
                msg: secret.as_ref(),
                aad: key_id.as_bytes(),
            },
        )
        .map_err(|_| KeyError::Malformed("encryption failed"))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 12 + 16 + 24 + ct.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&cost.memory_kib.to_be_bytes());
    out.extend_from_slice(&cost.iterations.to_be_bytes());
    out.extend_from_slice(&cost.parallelism.to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed key with `password`; `expected` is the key id it must hold.
pub fn unseal(sealed: &[u8], password: &str, expected: &KeyId) -> Result<SigningKey, KeyError> {
    let rest = sealed
        .strip_prefix(MAGIC)
        .ok_or(KeyError::Malformed("not a custody sealed key"))?;
    if rest.len() != 12 + 16 + 24 + 48 {
        return Err(KeyError::Malformed("wrong length"));
    }
    let u = |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
    let cost = Cost {
        memory_kib: u(0),
        iterations: u(4),
        parallelism: u(8),
    };
    // Refuse costs a hostile file could use to exhaust memory.
    if cost.memory_kib > 1024 * 1024 || cost.iterations > 64 || cost.parallelism > 16 {
        return Err(KeyError::Malformed("Argon2 cost out of range"));
    }
    let salt = &rest[12..28];
    let nonce = &rest[28..52];
    let ct = &rest[52..];
    let kek = derive(password, salt, cost)?;
    let cipher = XChaCha20Poly1305::new_from_slice(kek.as_ref())
        .map_err(|_| KeyError::Malformed("key length"))?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::try_from(nonce).map_err(|_| KeyError::Malformed("nonce length"))?,
                Payload {
                    msg: ct,
                    aad: expected.as_bytes(),
                },
            )
            .map_err(|_| KeyError::WrongPassword)?,
    );
    let seed: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::Malformed("wrong key length"))?;
    let key = SigningKey::from_bytes(&seed);
    if PublicKey::from(&key).key_id() != *expected {
        return Err(KeyError::Malformed(
            "the sealed key is not the expected key",
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Cost = Cost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// Taken by every test that derives: what each finds kept is what it gave back.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn alone() -> std::sync::MutexGuard<'static, ()> {
        ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Argon2's working memory is kept between derivations: each still gives what a
    /// derivation in fresh memory gives, and what is kept holds nothing of the last one.
    #[test]
    fn kept_argon2_memory_is_wiped_and_derives_what_fresh_memory_does() {
        let _alone = alone();
        // A cost of its own: no other test takes this memory meanwhile.
        const OWN: Cost = Cost {
            memory_kib: 72,
            ..CHEAP
        };
        let salt = [7u8; 16];
        let fresh = |password: &str| {
            let params =
                Params::new(OWN.memory_kib, OWN.iterations, OWN.parallelism, Some(32)).unwrap();
            let mut out = [0u8; 32];
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password_into(password.as_bytes(), &salt, &mut out)
                .unwrap();
            out
        };
        for password in ["first password", "second password", "first password"] {
            assert_eq!(*derive(password, &salt, OWN).unwrap(), fresh(password));
            let kept = working_memory::KEPT.lock().unwrap();
            let blocks = usize::try_from(OWN.memory_kib).unwrap();
            let ours: Vec<_> = kept.iter().filter(|m| m.len() == blocks).collect();
            assert!(
                !ours.is_empty(),
                "the memory is kept for the next derivation"
            );
            for m in ours {
                assert!(m.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
            }
        }
    }

    /// The working memory starts on a huge page's boundary and asks the kernel for huge
    /// pages: its mapping carries the `hg` flag (`MADV_HUGEPAGE`) in /proc/self/smaps.
    #[test]
    #[cfg(target_os = "linux")]
    fn argon2_memory_asks_for_huge_pages() {
        let _alone = alone();
        // A cost of its own: no other test takes this memory meanwhile.
        const OWN: Cost = Cost {
            memory_kib: 88,
            ..CHEAP
        };
        derive("password", &[9u8; 16], OWN).unwrap();
        let kept = working_memory::KEPT.lock().unwrap();
        let memory = kept.iter().find(|m| m.len() == 88).expect("kept");
        let at = memory.as_ptr() as usize;
        assert_eq!(at % (2 << 20), 0, "on a huge page's boundary");
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        // Each mapping: a line "start-end perms …", then its fields, "VmFlags: …" among them.
        let mut inside = false;
        let flags = smaps.lines().find_map(|line| {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((start, end)) = range.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                inside = (start..end).contains(&at);
                return None;
            }
            line.strip_prefix("VmFlags:").filter(|_| inside)
        });
        let flags = flags.expect("the memory's mapping is listed");
        assert!(flags.split_whitespace().any(|f| f == "hg"), "{flags}");
    }

    /// Of the kept working memories, a derivation takes the one given back last: its wipe
    /// has just written it, so more of it is still in the processor's caches than of any
    /// other.
    #[test]
    fn the_memory_given_back_last_is_taken_first() {
        let _alone = alone();
        // A size of its own: no other test takes this memory.
        const OWN: usize = 77;
        let (a, b) = (
            working_memory::take(OWN).unwrap(),
            working_memory::take(OWN).unwrap(),
        );
        let last = b.as_ptr();
        working_memory::give_back(a);
        working_memory::give_back(b);
        let again = working_memory::take(OWN).unwrap();
        assert_eq!(again.as_ptr(), last);
        working_memory::give_back(again);
    }

    #[test]
    fn seal_then_unseal_with_the_right_password_only() {
        let _alone = alone();
        let k = generate().unwrap();
        let id = PublicKey::from(&k).key_id();
        let sealed = seal(&k, "correct horse battery", CHEAP).unwrap();
        assert_eq!(
            unseal(&sealed, "correct horse battery", &id)
                .unwrap()
                .to_bytes(),
            k.to_bytes()
        );
        assert_eq!(
            unseal(&sealed, "wrong password!!", &id).unwrap_err(),
            KeyError::WrongPassword
        );
        let other = PublicKey::from(&generate().unwrap()).key_id();
        assert_eq!(
            unseal(&sealed, "correct horse battery", &other).unwrap_err(),
            KeyError::WrongPassword
        );
        assert!(
            !sealed.windows(32).any(|w| w == k.to_bytes()),
            "key in clear"
        );
        let mut bad = sealed.clone();
        bad.truncate(20);
        assert!(matches!(
            unseal(&bad, "x", &id),
            Err(KeyError::Malformed(_))
        ));
    }
}
