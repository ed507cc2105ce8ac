//! lockdownd values of a simulated phone, in the domains real tools read (docs/protocol.md §2.8).

use std::time::{SystemTime, UNIX_EPOCH};

use plist::{Dictionary, Value};

use crate::config::PhoneConfig;

/// iOS build numbers for the versions tests use; others fall back to a plausible one.
fn build_version(ios: &str) -> &'static str {
    match ios {
        v if v.starts_with("13") => "17H35",
        v if v.starts_with("14") => "18H17",
        v if v.starts_with("15") => "19H370",
        v if v.starts_with("16") => "20H19",
        v if v.starts_with("17") => "21F79",
        v if v.starts_with("18") => "22B83",
        _ => "23A341",
    }
}

/// Hardware identifiers matching the product type, so tools that map them agree.
fn hardware(product_type: &str) -> (&'static str, &'static str, u64) {
    match product_type {
        "iPhone12,1" => ("N104AP", "MWLT2", 0x8030),
        "iPhone14,5" => ("D17AP", "MLPF3", 0x8110),
        "iPhone15,2" => ("D73AP", "MQ0G3", 0x8120),
        "iPhone16,1" => ("D83AP", "MTP03", 0x8130),
        "iPhone17,3" => ("D47AP", "MYE73", 0x8140),
        _ => ("D73AP", "MQ0G3", 0x8120),
    }
}

/// Keys lockdownd answers before a session: enough to identify and pair the phone.
const PUBLIC_KEYS: &[&str] = &[
    "BuildVersion",
    "DeviceClass",
    "DeviceColor",
    "DeviceName",
    "DevicePublicKey",
    "HardwareModel",
    "ProductName",
    "ProductType",
    "ProductVersion",
    "ProtocolVersion",
    "UniqueDeviceID",
    "WiFiAddress",
    "TimeIntervalSince1970",
    "PasswordProtected",
    "HostAttached",
    "TrustedHostAttached",
    "ActivationState",
    "CPUArchitecture",
];

pub struct Values {
    pub default_domain: Dictionary,
    pub disk_usage: Dictionary,
    pub battery: Dictionary,
    pub backup: Dictionary,
}

impl Values {
    pub fn new(config: &PhoneConfig, device_public_key_pem: &str, serial: u32) -> Values {
        let (hardware_model, model_number, chip_id) = hardware(&config.product_type);
        let mut d = Dictionary::new();
        let mut put = |k: &str, v: Value| {
            d.insert(k.into(), v);
        };
        put("ActivationState", "Activated".into());
        put("ActivationStateAcknowledged", true.into());
        put("BasebandVersion", "2.60.01".into());
        put(
            "BluetoothAddress",
            format!("a4:c3:f0:85:{:02x}:1e", serial & 0xff).into(),
        );
        put("BoardId", 12u64.into());
        put("BuildVersion", build_version(&config.ios_version).into());
        put("CPUArchitecture", "arm64e".into());
        put("ChipID", chip_id.into());
        put("DeviceClass", "iPhone".into());
        put("DeviceColor", "1".into());
        put("DeviceName", config.name.clone().into());
        put(
            "DevicePublicKey",
            Value::Data(device_public_key_pem.as_bytes().to_vec()),
        );
        put("FirmwareVersion", "iBoot-10151.122.1".into());
        put("HardwareModel", hardware_model.into());
        put("HardwarePlatform", format!("t{chip_id:x}").into());
        put("HostAttached", true.into());
        put("ModelNumber", model_number.into());
        // Backup tools copy these into Info.plist; pyiosbackup needs IMEI (docs/backup.md §2.3).
        put(
            "InternationalMobileEquipmentIdentity",
            format!("35{:013}", 4_000_000_000u64 + u64::from(serial)).into(),
        );
        put(
            "MobileEquipmentIdentifier",
            format!("35{:012}", 4_000_000_000u64 + u64::from(serial)).into(),
        );
        put(
            "IntegratedCircuitCardIdentity",
            format!("8944{:015}", u64::from(serial)).into(),
        );
        put("PhoneNumber", "+44 7700 900123".into());
        put("PasswordProtected", true.into());
        put("ProductName", "iPhone OS".into());
        put("ProductType", config.product_type.clone().into());
        put("ProductVersion", config.ios_version.clone().into());
        put("ProtocolVersion", "2".into());
        put("RegionInfo", "B/A".into());
        put("SerialNumber", format!("F2LX{serial:04}Q1GH").into());
        put("TimeZone", "Europe/London".into());
        put("TimeZoneOffsetFromUTC", Value::Real(0.0));
        put("TrustedHostAttached", true.into());
        put("UniqueChipID", (0x0012_3456_0000_0000u64 + u64::from(serial)).into());
        put("UniqueDeviceID", config.udid.clone().into());
        put("Uses24HourClock", true.into());
        put("WiFiAddress", format!("a4:c3:f0:85:{:02x}:1d", serial & 0xff).into());

        let mut disk = Dictionary::new();
        let system = 12_000_000_000u64.min(config.disk_capacity / 4);
        disk.insert("TotalDiskCapacity".into(), config.disk_capacity.into());
        disk.insert("TotalSystemCapacity".into(), system.into());
        disk.insert("TotalSystemAvailable".into(), 1_800_000_000u64.into());
        disk.insert("TotalDataCapacity".into(), (config.disk_capacity - system).into());
        disk.insert("TotalDataAvailable".into(), config.disk_available.into());
        disk.insert("AmountDataAvailable".into(), config.disk_available.into());
        disk.insert("AmountDataReserved".into(), 209_715_200u64.into());

        let mut battery = Dictionary::new();
        battery.insert(
            "BatteryCurrentCapacity".into(),
            u64::from(config.battery_percent).into(),
        );
        battery.insert("BatteryIsCharging".into(), config.charging.into());
        battery.insert("ExternalChargeCapable".into(), true.into());
        battery.insert("ExternalConnected".into(), config.charging.into());
        battery.insert("FullyCharged".into(), (config.battery_percent >= 100).into());
        battery.insert("GasGaugeCapability".into(), true.into());
        battery.insert("HasBattery".into(), true.into());

        let mut backup = Dictionary::new();
        backup.insert("WillEncrypt".into(), config.backup.password.is_some().into());
        config.icloud.add_backup_values(&mut backup);

        Values {
            default_domain: d,
            disk_usage: disk,
            battery,
            backup,
        }
    }

    /// A domain's dictionary, with the live clock where the phone has one.
    pub fn domain(&self, domain: Option<&str>, in_session: bool) -> Option<Dictionary> {
        let mut dict = match domain {
            None | Some("") => self.default_domain.clone(),
            Some("com.apple.disk_usage") => self.disk_usage.clone(),
            Some("com.apple.mobile.battery") => self.battery.clone(),
            Some("com.apple.mobile.backup") => self.backup.clone(),
            Some(_) => return None,
        };
        if domain.is_none() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            dict.insert("TimeIntervalSince1970".into(), Value::Real(now));
            if !in_session {
                dict.retain(|k, _| PUBLIC_KEYS.contains(&k.as_str()));
            }
        }
        Some(dict)
    }
}
