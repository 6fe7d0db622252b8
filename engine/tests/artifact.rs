//! Artifacts: a release packed and unpacked keeps its files, modes and inner links;
//! a wrong checksum is refused before anything is written; hostile archives (parent
//! paths, absolute paths, links leading out, chains of links, hard links, devices, a
//! tar bomb, too many entries) are refused without writing outside the release.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ferry_engine::artifact::{pack, sha256_file, unpack, ArtifactError, Limits};
use tar::{EntryType, Header};

/// An archive with entries written as given, names and link targets unchecked, as an
/// attacker's tool would write them.
fn hostile(dir: &Path, entries: &[(&str, EntryType, &str, &[u8])]) -> (PathBuf, String) {
    let path = dir.join("hostile.tar.gz");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (name, kind, link, data) in entries {
        let mut header = Header::new_gnu();
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap().flush().unwrap();
    let sha = sha256_file(&path).unwrap();
    (path, sha)
}

fn refused(entries: &[(&str, EntryType, &str, &[u8])]) -> (ArtifactError, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (archive, sha) = hostile(dir.path(), entries);
    let dest = dir.path().join("site/release");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let error = unpack(&archive, &sha, &dest, &Limits::default()).expect_err("must be refused");
    (error, dir)
}

#[test]
fn a_release_survives_packing_and_unpacking() {
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("built");
    std::fs::create_dir_all(built.join("bin")).unwrap();
    std::fs::create_dir_all(built.join(".git/objects")).unwrap();
    std::fs::create_dir_all(built.join("empty")).unwrap();
    std::fs::write(built.join("index.html"), "<h1>2.0.0</h1>").unwrap();
    std::fs::write(built.join("bin/run.sh"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(built.join("bin/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("bin/run.sh", built.join("start")).unwrap();
    std::fs::write(built.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();

    let archive = dir.path().join("a.tar.gz");
    let sha = pack(&built, &archive).unwrap();
    assert_eq!(sha, sha256_file(&archive).unwrap());
    assert_eq!(sha.len(), 64);
    let dest = dir.path().join("release");
    let bytes = unpack(&archive, &sha, &dest, &Limits::default()).unwrap();
    assert_eq!(bytes, 14 + 19);
    assert_eq!(std::fs::read_to_string(dest.join("index.html")).unwrap(), "<h1>2.0.0</h1>");
    let mode = std::fs::metadata(dest.join("bin/run.sh")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(std::fs::read_link(dest.join("start")).unwrap(), Path::new("bin/run.sh"));
    assert!(dest.join("empty").is_dir());
    assert!(!dest.join(".git").exists(), "the repository's history is not part of the artifact");
}

#[test]
fn a_wrong_checksum_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("built")).unwrap();
    std::fs::write(dir.path().join("built/a"), "a").unwrap();
    let archive = dir.path().join("a.tar.gz");
    pack(&dir.path().join("built"), &archive).unwrap();
    let dest = dir.path().join("release");
    let wrong = "0".repeat(64);
    let error = unpack(&archive, &wrong, &dest, &Limits::default()).unwrap_err();
    assert!(matches!(error, ArtifactError::ChecksumMismatch { .. }), "{error}");
    assert!(!dest.exists());
}

#[test]
fn parent_and_absolute_paths_are_refused() {
    let (error, dir) = refused(&[("ok.txt", EntryType::Regular, "", b"ok"), ("../evil", EntryType::Regular, "", b"x")]);
    assert_eq!(error, ArtifactError::UnsafePath("../evil".into()));
    assert!(!dir.path().join("site/evil").exists());
    let target = format!("/tmp/ferry-absolute-{}", std::process::id());
    let (error, _dir) = refused(&[(&target, EntryType::Regular, "", b"x")]);
    assert_eq!(error, ArtifactError::UnsafePath(target.clone()));
    assert!(!Path::new(&target).exists());
}

#[test]
fn links_leading_out_and_hard_links_are_refused() {
    let (error, _dir) = refused(&[("up", EntryType::Symlink, "../../etc", b"")]);
    assert!(matches!(error, ArtifactError::UnsafeLink { .. }), "{error}");
    let (error, _dir) = refused(&[("etc", EntryType::Symlink, "/etc", b"")]);
    assert!(matches!(error, ArtifactError::UnsafeLink { .. }), "{error}");
    let (error, _dir) = refused(&[("passwd", EntryType::Link, "/etc/passwd", b"")]);
    assert!(matches!(error, ArtifactError::UnsafeLink { .. }), "{error}");
    // A link to a place inside, then a file written through its name, stays inside.
    let dir = tempfile::tempdir().unwrap();
    let entries: &[(&str, EntryType, &str, &[u8])] = &[
        ("data", EntryType::Directory, "", b""),
        ("alias", EntryType::Symlink, "data", b""),
        ("alias", EntryType::Regular, "", b"plain"),
    ];
    let (archive, sha) = hostile(dir.path(), entries);
    let dest = dir.path().join("release");
    unpack(&archive, &sha, &dest, &Limits::default()).unwrap();
    assert_eq!(std::fs::read_to_string(dest.join("alias")).unwrap(), "plain", "the link was replaced, not followed");
}

#[test]
fn a_chain_of_links_that_each_look_inside_cannot_lead_a_write_out() {
    // `a/b` -> `..` is the release itself, so `a/b/c` really stands at `c`; its target
    // `../..` looks inside from `a/b/` but leads two levels above the release from `c`.
    let chain: &[(&str, EntryType, &str, &[u8])] = &[
        ("a", EntryType::Directory, "", b""),
        ("a/b", EntryType::Symlink, "..", b""),
        ("a/b/c", EntryType::Symlink, "../..", b""),
        ("c/x", EntryType::Regular, "", b"escaped"),
    ];
    let (error, dir) = refused(chain);
    assert_eq!(error, ArtifactError::ThroughLink { path: "a/b/c".into(), link: "a/b".into() }, "{error}");
    assert!(!dir.path().join("x").exists() && !dir.path().join("site/x").exists());
    assert!(!dir.path().join("site/release/c").exists(), "nothing was written through the link");

    // A file written through a directory link is refused too, even one that stays inside.
    let (error, dir) = refused(&[
        ("data", EntryType::Directory, "", b""),
        ("alias", EntryType::Symlink, "data", b""),
        ("alias/file", EntryType::Regular, "", b"x"),
    ]);
    assert!(matches!(error, ArtifactError::ThroughLink { ref link, .. } if link == "alias"), "{error}");
    assert!(!dir.path().join("site/release/data/file").exists());
}

#[test]
fn devices_and_pipes_are_refused() {
    let (error, _dir) = refused(&[("null", EntryType::Char, "", b"")]);
    assert!(matches!(error, ArtifactError::Unsupported { ref kind, .. } if kind == "character device"), "{error}");
    let (error, _dir) = refused(&[("pipe", EntryType::Fifo, "", b"")]);
    assert!(matches!(error, ArtifactError::Unsupported { .. }), "{error}");
}

#[test]
fn a_tar_bomb_stops_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = vec![0u8; 64 << 20];
    let (archive, sha) = hostile(dir.path(), &[("zeros", EntryType::Regular, "", &zeros)]);
    assert!(std::fs::metadata(&archive).unwrap().len() < 1 << 20, "64 MiB compress to little");
    let dest = dir.path().join("release");
    let limits = Limits { max_bytes: 8 << 20, ..Limits::default() };
    assert_eq!(unpack(&archive, &sha, &dest, &limits).unwrap_err(), ArtifactError::TooLarge { limit: 8 << 20 });
    assert!(std::fs::metadata(dest.join("zeros")).unwrap().len() <= (8 << 20) + 1);

    let many: Vec<(String, EntryType, &str, &[u8])> =
        (0..50).map(|i| (format!("f{i}"), EntryType::Regular, "", &b""[..])).collect();
    let many: Vec<(&str, EntryType, &str, &[u8])> = many.iter().map(|(n, k, l, d)| (n.as_str(), *k, *l, *d)).collect();
    let (archive, sha) = hostile(dir.path(), &many);
    let limits = Limits { max_entries: 10, ..Limits::default() };
    let error = unpack(&archive, &sha, &dir.path().join("many"), &limits).unwrap_err();
    assert_eq!(error, ArtifactError::TooManyEntries { limit: 10 });
}
