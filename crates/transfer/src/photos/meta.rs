//! What Photos.sqlite knows about an asset beyond its files: title, caption, keywords,
//! people, favorite, place and burst (docs/photos.md §A3, §A4, §A7).
//!
//! Join tables and columns change with the Photos model version, so every name is found
//! at run time from `Z_PRIMARYKEY` and `pragma_table_info`; a table or column this
//! version lacks reads as "nothing known".

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension};

/// The metadata of one asset, as the XMP sidecar carries it. Held only for assets that
/// have any (most have none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub title: Option<String>,
    pub caption: Option<String>,
    pub keywords: Vec<String>,
    pub people: Vec<String>,
    pub favorite: bool,
    /// Latitude and longitude in degrees.
    pub location: Option<(f64, f64)>,
    pub burst: Option<Burst>,
}

impl Metadata {
    pub fn is_empty(&self) -> bool {
        *self == Metadata::default()
    }
}

/// A frame of a burst: the frames share `ZAVALANCHEUUID` (docs/photos.md §A3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    pub id: String,
    /// The frame picked to stand for the burst (`ZAVALANCHEPICKTYPE` 4, 8 or 16).
    pub picked: bool,
}

impl Burst {
    pub fn from_columns(id: Option<String>, pick_type: Option<i64>) -> Option<Burst> {
        let id = id.filter(|id| !id.is_empty())?;
        Some(Burst {
            id,
            picked: pick_type.is_some_and(|p| p & (4 | 8 | 16) != 0),
        })
    }
}

/// GPS as Photos stores it: -180 (or missing) means no location.
pub fn location(latitude: Option<f64>, longitude: Option<f64>) -> Option<(f64, f64)> {
    match (latitude, longitude) {
        (Some(lat), Some(lon))
            if lat.is_finite()
                && lon.is_finite()
                && (-90.0..=90.0).contains(&lat)
                && (-180.0..=180.0).contains(&lon)
                && !(lat == -180.0 || lon == -180.0)
                && !(lat == 0.0 && lon == 0.0) =>
        {
            Some((lat, lon))
        }
        _ => None,
    }
}

/// The schema as found: tables and each table's columns.
pub struct Schema<'c> {
    conn: &'c Connection,
    tables: HashSet<String>,
}

impl<'c> Schema<'c> {
    pub fn read(conn: &'c Connection) -> rusqlite::Result<Schema<'c>> {
        let tables = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(Schema { conn, tables })
    }

    pub fn conn(&self) -> &'c Connection {
        self.conn
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains(table)
    }

    pub fn columns(&self, table: &str) -> rusqlite::Result<HashSet<String>> {
        if !self.has_table(table) {
            return Ok(HashSet::new());
        }
        self.conn
            .prepare("SELECT name FROM pragma_table_info(?1)")?
            .query_map([table], |row| row.get(0))?
            .collect()
    }

    /// The Core Data entity number of `name` (`Z_PRIMARYKEY`), which join tables are named by.
    pub fn entity(&self, name: &str) -> rusqlite::Result<Option<i64>> {
        if !self.has_table("Z_PRIMARYKEY") {
            return Ok(None);
        }
        self.conn
            .query_row("SELECT Z_ENT FROM Z_PRIMARYKEY WHERE Z_NAME = ?1", [name], |r| r.get(0))
            .optional()
    }
}

/// Rows of `(asset key, text, kind)` in asset-key order, read beside the asset query
/// (also in key order) like a merge join: nothing is held per asset, however large the
/// library.
pub struct Merge<'s> {
    rows: Option<rusqlite::Rows<'s>>,
    next: Option<(i64, String, i64)>,
}

impl<'s> Merge<'s> {
    /// Over `statement`'s rows; none when this version has no such table.
    pub fn new(statement: Option<&'s mut rusqlite::Statement<'_>>) -> rusqlite::Result<Merge<'s>> {
        let mut merge = Merge {
            rows: statement.map(|s| s.query([])).transpose()?,
            next: None,
        };
        merge.advance()?;
        Ok(merge)
    }

    fn advance(&mut self) -> rusqlite::Result<()> {
        self.next = None;
        let Some(rows) = self.rows.as_mut() else {
            return Ok(());
        };
        while let Some(row) = rows.next()? {
            // A value of an unexpected type (a damaged database) is passed over.
            let asset = row.get::<_, Option<i64>>(0).unwrap_or(None);
            let text = row.get::<_, Option<String>>(1).unwrap_or(None);
            let kind = row.get::<_, Option<i64>>(2).unwrap_or(None).unwrap_or(0);
            if let (Some(asset), Some(text)) = (asset, text)
                && !text.trim().is_empty()
            {
                self.next = Some((asset, text.trim().to_string(), kind));
                return Ok(());
            }
        }
        Ok(())
    }

    /// The texts (with their kind) of asset `key`, in order without repeats; keys must be
    /// asked for in ascending order.
    pub fn take(&mut self, key: i64) -> rusqlite::Result<Vec<(String, i64)>> {
        let mut out: Vec<(String, i64)> = Vec::new();
        while let Some((asset, _, _)) = &self.next {
            if *asset > key {
                break;
            }
            if *asset == key
                && let Some((_, text, kind)) = self.next.take()
                && !out.iter().any(|(t, _)| *t == text)
            {
                out.push((text, kind));
            }
            self.advance()?;
        }
        Ok(out)
    }

    /// [`Self::take`] without the kinds.
    pub fn texts(&mut self, key: i64) -> rusqlite::Result<Vec<String>> {
        Ok(self.take(key)?.into_iter().map(|(text, _)| text).collect())
    }
}

/// The keyword query, by asset key: `ZKEYWORD.ZTITLE` through `Z_<attributes>KEYWORDS`,
/// whose columns are `Z_<attributes>ASSETATTRIBUTES` and `Z_<keyword>KEYWORDS`
/// (docs/photos.md §A7); `None` when this version has no keywords.
pub fn keywords_sql(schema: &Schema) -> rusqlite::Result<Option<String>> {
    let (Some(attributes), Some(keyword)) = (schema.entity("AdditionalAssetAttributes")?, schema.entity("Keyword")?)
    else {
        return Ok(None);
    };
    let join = format!("Z_{attributes}KEYWORDS");
    let (from, to) = (format!("Z_{attributes}ASSETATTRIBUTES"), format!("Z_{keyword}KEYWORDS"));
    let join_columns = schema.columns(&join)?;
    if !join_columns.contains(&from)
        || !join_columns.contains(&to)
        || !schema.columns("ZKEYWORD")?.contains("ZTITLE")
        || !schema.columns("ZADDITIONALASSETATTRIBUTES")?.contains("ZASSET")
    {
        return Ok(None);
    }
    Ok(Some(format!(
        "SELECT aa.ZASSET, k.ZTITLE, 0 FROM {join} j
         JOIN ZADDITIONALASSETATTRIBUTES aa ON aa.Z_PK = j.{from}
         JOIN ZKEYWORD k ON k.Z_PK = j.{to} ORDER BY aa.ZASSET, k.ZTITLE"
    )))
}

/// The people query, by asset key: `ZDETECTEDFACE` to `ZPERSON`, whose foreign keys are
/// `ZASSETFORFACE`/`ZPERSONFORFACE` from iOS 17 and `ZASSET`/`ZPERSON` before
/// (docs/photos.md §A7); `None` when this version has no such tables.
pub fn people_sql(schema: &Schema) -> rusqlite::Result<Option<String>> {
    let faces = schema.columns("ZDETECTEDFACE")?;
    let person_columns = schema.columns("ZPERSON")?;
    let pick = |candidates: [&'static str; 2]| candidates.into_iter().find(|c| faces.contains(*c));
    let (Some(asset), Some(person)) = (pick(["ZASSETFORFACE", "ZASSET"]), pick(["ZPERSONFORFACE", "ZPERSON"])) else {
        return Ok(None);
    };
    let name = match (
        person_columns.contains("ZFULLNAME"),
        person_columns.contains("ZDISPLAYNAME"),
    ) {
        (true, true) => "COALESCE(NULLIF(p.ZFULLNAME, ''), p.ZDISPLAYNAME)",
        (true, false) => "p.ZFULLNAME",
        (false, true) => "p.ZDISPLAYNAME",
        (false, false) => return Ok(None),
    };
    Ok(Some(format!(
        "SELECT f.{asset}, {name}, 0 FROM ZDETECTEDFACE f JOIN ZPERSON p ON p.Z_PK = f.{person}
         ORDER BY f.{asset}, {name}"
    )))
}

/// Asset-table columns read for metadata, each with the constant used when this version
/// lacks it.
pub const ASSET_COLUMNS: [(&str, &str); 5] = [
    ("ZFAVORITE", "0"),
    ("ZLATITUDE", "NULL"),
    ("ZLONGITUDE", "NULL"),
    ("ZAVALANCHEUUID", "NULL"),
    ("ZAVALANCHEPICKTYPE", "NULL"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_location_is_none() {
        assert_eq!(location(Some(-180.0), Some(-180.0)), None);
        assert_eq!(location(None, Some(1.0)), None);
        assert_eq!(location(Some(f64::NAN), Some(1.0)), None);
        assert_eq!(location(Some(91.0), Some(1.0)), None);
        assert_eq!(location(Some(48.8584), Some(2.2945)), Some((48.8584, 2.2945)));
    }

    #[test]
    fn picked_frames_carry_a_pick_bit() {
        assert_eq!(Burst::from_columns(None, Some(4)), None);
        assert!(!Burst::from_columns(Some("B".into()), Some(2)).unwrap().picked);
        for picked in [4, 8, 16, 20] {
            assert!(Burst::from_columns(Some("B".into()), Some(picked)).unwrap().picked);
        }
    }
}
