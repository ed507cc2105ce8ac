//! The host-written `Info.plist` (docs/backup.md §1.9 step 6, §2.3), from lockdown's values
//! and the user's apps. pyiosbackup needs `IMEI` present (§2.3), so absent values are empty
//! strings.

use plist::{Dictionary, Value};

/// Builds Info.plist for `udid` from lockdown's default domain `values`, the apps from
/// installation_proxy, and the time of the backup.
pub fn build(udid: &str, values: &Dictionary, apps: &[Dictionary], now: std::time::SystemTime) -> Value {
    let text = |key: &str| Value::String(values.get(key).and_then(Value::as_string).unwrap_or("").to_string());
    let mut d = Dictionary::new();
    d.insert("Build Version".into(), text("BuildVersion"));
    d.insert("Device Name".into(), text("DeviceName"));
    d.insert("Display Name".into(), text("DeviceName"));
    d.insert("GUID".into(), Value::String(udid.replace('-', "").to_uppercase()));
    d.insert("ICCID".into(), text("IntegratedCircuitCardIdentity"));
    d.insert("IMEI".into(), text("InternationalMobileEquipmentIdentity"));
    d.insert("MEID".into(), text("MobileEquipmentIdentifier"));
    d.insert("Phone Number".into(), text("PhoneNumber"));
    d.insert("Product Type".into(), text("ProductType"));
    d.insert("Product Version".into(), text("ProductVersion"));
    d.insert("Serial Number".into(), text("SerialNumber"));
    d.insert("Target Identifier".into(), Value::String(udid.to_string()));
    d.insert("Target Type".into(), "Device".into());
    d.insert("Unique Identifier".into(), Value::String(udid.to_uppercase()));
    d.insert("Last Backup Date".into(), Value::Date(whole_seconds(now).into()));
    let ids: Vec<Value> = apps
        .iter()
        .filter_map(|a| a.get("CFBundleIdentifier").and_then(Value::as_string))
        .map(Value::from)
        .collect();
    d.insert("Installed Applications".into(), Value::Array(ids));
    let mut applications = Dictionary::new();
    for app in apps {
        let Some(id) = app.get("CFBundleIdentifier").and_then(Value::as_string) else {
            continue;
        };
        let mut entry = Dictionary::new();
        if let Some(sinf) = app.get("ApplicationSINF") {
            entry.insert("ApplicationSINF".into(), sinf.clone());
        }
        if let Some(meta) = app.get("iTunesMetadata") {
            entry.insert("iTunesMetadata".into(), meta.clone());
        }
        applications.insert(id.to_string(), Value::Dictionary(entry));
    }
    d.insert("Applications".into(), Value::Dictionary(applications));
    d.insert("iTunes Files".into(), Value::Dictionary(Dictionary::new()));
    d.insert("iTunes Settings".into(), Value::Dictionary(Dictionary::new()));
    d.insert("iTunes Version".into(), "12.13.0.9".into());
    Value::Dictionary(d)
}

/// XML plist readers (Python's plistlib) take dates in whole seconds only.
fn whole_seconds(time: std::time::SystemTime) -> std::time::SystemTime {
    let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_keys_readers_index() {
        let mut values = Dictionary::new();
        values.insert("DeviceName".into(), "Ada's iPhone".into());
        values.insert("ProductVersion".into(), "18.2".into());
        let mut app = Dictionary::new();
        app.insert("CFBundleIdentifier".into(), "com.example.app".into());
        let info = build("UDID-1", &values, &[app], std::time::SystemTime::UNIX_EPOCH);
        let d = info.as_dictionary().unwrap();
        for key in [
            "IMEI",
            "Target Identifier",
            "Product Version",
            "Device Name",
            "Installed Applications",
        ] {
            assert!(d.contains_key(key), "{key}");
        }
        assert_eq!(d["Target Identifier"].as_string(), Some("UDID-1"));
        assert_eq!(d["Installed Applications"].as_array().unwrap().len(), 1);
    }
}
