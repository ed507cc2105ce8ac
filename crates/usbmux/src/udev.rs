//! The udev rule that lets a logged-in user open an iPhone over USB without root, for the
//! embedded USB transport on Linux. Shown in the permission error and in the README.

/// Where the rule goes. 39 sorts before systemd's 73-seat-late.rules, which turns the
/// `uaccess` tag into an ACL for the user at the seat, and before usbmuxd's own
/// 39-usbmuxd.rules, whose OWNER then still applies if usbmuxd is installed later.
pub const RULE_PATH: &str = "/etc/udev/rules.d/39-lifeboat.rules";

/// iPhones, iPads and iPods in normal mode: Apple's vendor id, products 0x1290-0x12af (the
/// range usbmuxd's rule matches). `uaccess` gives the user at the seat read-write access.
pub const RULE: &str = r#"SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="05ac", ATTR{idProduct}=="12[9a][0-9a-f]", MODE="0660", TAG+="uaccess""#;

/// The commands to install the rule and apply it without a reboot.
pub fn instructions() -> String {
    format!("  echo '{RULE}' | sudo tee {RULE_PATH}\n  sudo udevadm control --reload && sudo udevadm trigger")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_shows_the_same_rule() {
        let readme = include_str!("../../../README.md");
        assert!(readme.contains(super::RULE), "README.md must show udev::RULE as is");
        assert!(readme.contains(super::RULE_PATH));
        assert!(readme.contains("sudo udevadm control --reload && sudo udevadm trigger"));
    }
}
