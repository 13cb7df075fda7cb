//! Password rules: at least 12 characters, not the user name, not a common password.

use crate::error::ClinicError;

/// Passwords seen most often in breaches, and the words a clinic would reach for first.
const COMMON: &str = include_str!("common-passwords.txt");

/// Why a new password is refused (`weak_password`).
pub fn check(username: &str, password: &str) -> Result<(), ClinicError> {
    let weak = |why: &str| ClinicError::WeakPassword(why.to_string());
    if password.chars().count() < 12 {
        return Err(weak("it must be at least 12 characters long"));
    }
    if password.chars().count() > 256 {
        return Err(weak("it must be at most 256 characters long"));
    }
    let lower = password.to_lowercase();
    let user = username.to_lowercase();
    if lower == user || (user.len() >= 4 && lower.contains(&user)) {
        return Err(weak("it must not contain your user name"));
    }
    let stripped: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    if COMMON
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|c| lower == c || stripped == c)
    {
        return Err(weak("it is on the list of common passwords"));
    }
    let distinct: std::collections::BTreeSet<char> = lower.chars().collect();
    if distinct.len() < 4 {
        return Err(weak("it repeats too few different characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn rules() {
        assert!(check("nurse.kim", "amber vials at dawn 7").is_ok());
        assert!(check("nurse.kim", "Correct Horse Battery Staple").is_err());
        assert!(check("nurse.kim", "short").is_err());
        assert!(check("nurse.kim", "nurse.kim-2026!").is_err());
        assert!(check("nurse.kim", "password1234").is_err());
        assert!(check("nurse.kim", "Password1234").is_err());
        assert!(check("nurse.kim", "aaaaaaaaaaaaaaaa").is_err());
        assert!(check("nurse.kim", "123456789012").is_err());
    }
}
