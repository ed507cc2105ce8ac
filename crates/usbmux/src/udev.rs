//! The udev rule that lets a logged-in user open an iPhone over USB without root, for the
//! embedded USB transport on Linux. Shown in the permission error and in the README.

/// Where the rule goes. 39 sorts before systemd's 73-seat-late.rules, which turns the
/// `uaccess` tag into an ACL for the user at the seat, and before usbmuxd's own
/// 39-usbmuxd.rules, whose OWNER then still applies if usbmuxd is installed later.
pub const RULE_PATH: &str = "/etc/udev/rules.d/39-lifeboat.rules";

/// The rule file the Debian package installs: iPhones, iPads and iPods in normal mode
/// (Apple's vendor id, products 0x1290-0x12af, the range usbmuxd's rule matches); `uaccess`
/// gives the user at the seat read-write access.
const RULE_FILE: &str = include_str!("../../../packaging/udev/39-lifeboat.rules");

/// The rule, one line.
pub fn rule() -> &'static str {
    RULE_FILE.trim_end()
}

/// The rule for a user who is not logged in at the machine (a nightly run, a login over
/// SSH): `uaccess` gives nothing to them, membership of the `plugdev` group does.
pub fn plugdev_rule() -> String {
    rule().replace(r#"TAG+="uaccess""#, r#"GROUP="plugdev""#)
}

/// The commands to install `rule` and apply it without a reboot.
pub fn instructions(rule: &str) -> String {
    format!("  echo '{rule}' | sudo tee {RULE_PATH}\n  sudo udevadm control --reload && sudo udevadm trigger")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_shows_the_same_rule() {
        let readme = include_str!("../../../README.md");
        assert!(readme.contains("packaging/udev/39-lifeboat.rules"));
        assert!(!super::rule().contains('\n'), "one rule, one line");
        assert!(super::rule().contains(r#"ATTR{idVendor}=="05ac""#));
        assert!(readme.contains("sudo udevadm control --reload && sudo udevadm trigger"));
        assert!(readme.contains(r#"use `GROUP="plugdev"` in place of"#));
    }

    #[test]
    fn the_plugdev_variant_gives_the_group_what_uaccess_gives_the_seat() {
        let plugdev = super::plugdev_rule();
        assert!(plugdev.contains(r#"GROUP="plugdev""#), "{plugdev}");
        assert!(!plugdev.contains("uaccess"), "{plugdev}");
        assert!(plugdev.contains(r#"MODE="0660""#), "{plugdev}");
    }
}
