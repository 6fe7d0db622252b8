//! Build script of `ferry` and `ferry-agent` (agent/Cargo.toml points here): records the
//! git commit the binary is built from, for `--version` and `/healthz`. A build outside
//! a git checkout (a source tarball) takes it from `FERRY_GIT_COMMIT`, else says `unknown`.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=FERRY_GIT_COMMIT");
    let commit = std::env::var("FERRY_GIT_COMMIT")
        .ok()
        .filter(|commit| !commit.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FERRY_GIT_COMMIT={commit}");
    // Built again when HEAD moves: HEAD names the branch, the branch's file (or
    // packed-refs, once git packs it) names the commit.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        // Only files that exist: cargo runs a script again on every build while a
        // file it watches is missing.
        let branch = git(&["symbolic-ref", "-q", "HEAD"]).map(|branch| git_dir.join(branch));
        for watched in [Some(git_dir.join("HEAD")), Some(git_dir.join("packed-refs")), branch].into_iter().flatten() {
            if watched.exists() {
                println!("cargo:rerun-if-changed={}", watched.display());
            }
        }
    }
}
