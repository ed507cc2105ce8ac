//! `make-library` writes what a phone holds: real media and a Photos.sqlite that the
//! plain `sqlite3` tool opens and that names its tables and columns as iOS does.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use fake_iphone::library::{AssetKind, LibrarySpec, make_library};

fn sqlite3(db: &Path, sql: &str) -> String {
    let Some(program) = peer("sqlite3") else {
        return String::new();
    };
    let out = run(
        Command::new(program).arg("-readonly").arg(db).arg(sql),
        Duration::from_secs(30),
    );
    assert_success(&out, sql);
    text(&out.stdout)
}

#[test]
fn photos_sqlite_matches_each_ios_schema() {
    if peer("sqlite3").is_none() {
        return;
    }
    let cases = [
        (
            "13.7",
            "ZGENERICASSET",
            "Z_26ASSETS",
            "Z_34ASSETS",
            "ZCREATORBUNDLEID",
            "ZMASTERFINGERPRINT",
        ),
        (
            "15.8",
            "ZASSET",
            "Z_27ASSETS",
            "Z_3ASSETS",
            "ZIMPORTEDBYBUNDLEIDENTIFIER",
            "ZMASTERFINGERPRINT",
        ),
        (
            "17.5",
            "ZASSET",
            "Z_28ASSETS",
            "Z_3ASSETS",
            "ZIMPORTEDBYBUNDLEIDENTIFIER",
            "ZMASTERFINGERPRINT",
        ),
        (
            "18.1",
            "ZASSET",
            "Z_30ASSETS",
            "Z_3ASSETS",
            "ZIMPORTEDBYBUNDLEIDENTIFIER",
            "ZORIGINALSTABLEHASH",
        ),
    ];
    for (ios, asset_table, join_table, join_column, importer, fingerprint) in cases {
        let out = tempfile::tempdir().unwrap();
        let spec = LibrarySpec {
            cloud_only: 2,
            trashed: 1,
            hidden: 1,
            albums: 2,
            ..presets::small(ios)
        };
        let assets = make_library(out.path(), &spec).unwrap();
        assert_eq!(assets.len(), 24);
        let db = out.path().join("PhotoData/Photos.sqlite");
        assert!(
            out.path().join("PhotoData/Photos.sqlite-wal").metadata().unwrap().len() > 0,
            "newest rows live in the WAL"
        );
        // Copy the three files together, as a careful reader of a live database does.
        let copy = tempfile::tempdir().unwrap();
        for suffix in ["", "-wal", "-shm"] {
            std::fs::copy(
                format!("{}{suffix}", db.display()),
                copy.path().join(format!("Photos.sqlite{suffix}")),
            )
            .unwrap();
        }
        let db = copy.path().join("Photos.sqlite");

        let tables = sqlite3(&db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name");
        for table in [
            asset_table,
            join_table,
            "ZADDITIONALASSETATTRIBUTES",
            "ZINTERNALRESOURCE",
            "ZGENERICALBUM",
            "Z_PRIMARYKEY",
        ] {
            assert!(
                tables.lines().any(|t| t == table),
                "iOS {ios}: no table {table} in {tables}"
            );
        }
        let columns = sqlite3(&db, &format!("SELECT name FROM pragma_table_info('{asset_table}')"));
        for column in [
            "ZUUID",
            "ZDIRECTORY",
            "ZFILENAME",
            "ZDATECREATED",
            "ZKIND",
            "ZKINDSUBTYPE",
            "ZTRASHEDSTATE",
            "ZHIDDEN",
            "ZSAVEDASSETTYPE",
            "ZADDITIONALATTRIBUTES",
        ] {
            assert!(
                columns.lines().any(|c| c == column),
                "iOS {ios}: {asset_table} lacks {column}"
            );
        }
        let attrs = sqlite3(&db, "SELECT name FROM pragma_table_info('ZADDITIONALASSETATTRIBUTES')");
        for column in ["ZORIGINALFILENAME", "ZORIGINALFILESIZE", importer, fingerprint] {
            assert!(
                attrs.lines().any(|c| c == column),
                "iOS {ios}: attributes lack {column}"
            );
        }
        let join = sqlite3(&db, &format!("SELECT name FROM pragma_table_info('{join_table}')"));
        assert!(
            join.lines().any(|c| c == join_column),
            "iOS {ios}: {join_table} lacks {join_column}: {join}"
        );
        // Every asset is there, the WAL's included; the counts by kind match what was made.
        assert_eq!(
            sqlite3(&db, &format!("SELECT count(*) FROM {asset_table}")).trim(),
            "24"
        );
        assert_eq!(
            sqlite3(
                &db,
                &format!("SELECT count(*) FROM {asset_table} WHERE ZTRASHEDSTATE = 1")
            )
            .trim(),
            "1"
        );
        assert_eq!(
            sqlite3(&db, &format!("SELECT count(*) FROM {asset_table} WHERE ZKIND = 1")).trim(),
            "2"
        );
        assert_eq!(
            sqlite3(
                &db,
                &format!("SELECT count(*) FROM {asset_table} WHERE ZKINDSUBTYPE = 2")
            )
            .trim(),
            "2"
        );
        assert_eq!(
            sqlite3(&db, "SELECT count(*) FROM ZINTERNALRESOURCE WHERE ZDATASTORESUBTYPE = 1 AND ZLOCALAVAILABILITY = -1 AND ZFINGERPRINT IS NOT NULL").trim(),
            "2",
            "iLEAPP's optimized-storage query finds the cloud-only assets"
        );
        // Files on disk: everything but the cloud-only originals.
        for asset in &assets {
            let present = out.path().join(&asset.original).exists();
            assert_eq!(present, asset.kind != AssetKind::CloudOnly, "{asset:?}");
            for file in &asset.files {
                assert!(out.path().join(file).is_file(), "{file}");
            }
        }
    }
}
