//! What a phone's iOS version (`ProductVersion`, readable without a session) decides about
//! talking to it (docs/protocol.md §2.6).

/// Below this major version a phone speaks only older TLS (TLS 1.0 to 1.2 with CBC and RSA
/// key exchange); libimobiledevice switches to its legacy settings at the same version.
pub const LEGACY_TLS_BELOW: u32 = 10;

/// Below this major version lockdownd wants `ValidatePair` before `StartSession`
/// (libimobiledevice and pymobiledevice3 both send it there).
pub const VALIDATE_PAIR_BELOW: u32 = 7;

/// The major version of a `ProductVersion` such as `"6.1.6"`; `None` if it is not one.
pub fn major(product_version: &str) -> Option<u32> {
    product_version.trim().split('.').next()?.parse().ok()
}

/// Whether a phone reporting `product_version` speaks only older TLS.
pub fn speaks_only_legacy_tls(product_version: &str) -> bool {
    major(product_version).is_some_and(|m| m < LEGACY_TLS_BELOW)
}

/// Whether a phone reporting `product_version` wants `ValidatePair` before a session.
pub fn needs_validate_pair(product_version: &str) -> bool {
    major(product_version).is_some_and(|m| m < VALIDATE_PAIR_BELOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_choose_as_the_reference_clients_do() {
        assert!(speaks_only_legacy_tls("6.1.6"));
        assert!(speaks_only_legacy_tls("9.3.5"));
        assert!(!speaks_only_legacy_tls("10.0"));
        assert!(!speaks_only_legacy_tls("17.5"));
        assert!(needs_validate_pair("6.1.6"));
        assert!(!needs_validate_pair("7.0"));
        assert!(!needs_validate_pair("8.4"));
        // Nothing readable: the modern path, no ValidatePair.
        for odd in ["", "x", "-1.0", "iOS 6"] {
            assert!(!speaks_only_legacy_tls(odd), "{odd:?}");
            assert!(!needs_validate_pair(odd), "{odd:?}");
        }
    }
}
