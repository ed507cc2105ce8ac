//! What a verify finds, in one vocabulary for every kind of folder it checks (a photo
//! export, a device backup), marked as `rclone check --combined` marks it: `*` differs,
//! `-` missing here, `+` extra.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// The bytes differ from what was recorded: bit rot or tampering.
    Corrupt,
    Missing,
    SizeChanged {
        recorded: u64,
        now: u64,
    },
    /// The hash matches, but the file is not a whole JPEG/PNG/HEIC/MOV.
    Damaged(String),
    /// Present but not in the manifest.
    Extra,
    /// A temporary file an interrupted run left.
    Temporary,
    Unreadable(String),
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Corrupt => "corrupt",
            Status::Missing => "missing",
            Status::SizeChanged { .. } => "size-changed",
            Status::Damaged(_) => "damaged",
            Status::Extra => "extra",
            Status::Temporary => "temporary",
            Status::Unreadable(_) => "unreadable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    /// Relative to the folder.
    pub path: String,
    pub status: Status,
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub recorded: u64,
    pub checked: u64,
    pub ok: u64,
    pub bytes_read: u64,
    /// Everything that is not OK.
    pub findings: Vec<Finding>,
}

impl Status {
    /// The `rclone check --combined` mark.
    pub fn mark(&self) -> char {
        match self {
            Status::Ok => '=',
            Status::Missing => '-',
            Status::Extra | Status::Temporary => '+',
            _ => '*',
        }
    }

    /// The finding in words.
    pub fn describe(&self) -> String {
        match self {
            Status::Ok => "ok".into(),
            Status::Corrupt => "corrupt: its SHA-256 differs from the one recorded when it was copied".into(),
            Status::Missing => "missing".into(),
            Status::SizeChanged { recorded, now } => format!("size changed from {recorded} to {now} bytes"),
            Status::Damaged(reason) => format!("damaged: {reason}"),
            Status::Extra => "extra: not in the manifest".into(),
            Status::Temporary => "temporary file left by an interrupted run".into(),
            Status::Unreadable(reason) => format!("unreadable: {reason}"),
        }
    }
}

impl VerifyReport {
    /// How many findings carry `label`.
    pub fn count(&self, label: &str) -> usize {
        self.findings.iter().filter(|f| f.status.label() == label).count()
    }
}
