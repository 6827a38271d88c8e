//! Build-time facts for `--version` and `ses_probe_build_info`: the source
//! revision and the compiler version. Neither may fail a build: outside a
//! git checkout (a source tarball, a packager's tree) the revision is
//! `SES_PROBE_REVISION` or `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SES_PROBE_REVISION");
    let revision = std::env::var("SES_PROBE_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!(
        "cargo:rustc-env=SES_PROBE_BUILD_REVISION={}",
        revision.trim()
    );
    println!(
        "cargo:rustc-env=SES_PROBE_RUSTC_VERSION={}",
        rustc_version()
    );
}

/// The output of a command that succeeded, trimmed; `None` otherwise.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

/// `git rev-parse --short HEAD`, and the files whose change moves HEAD,
/// so that a commit rebuilds with the new revision (and nothing else does).
fn git_revision() -> Option<String> {
    let revision = output("git", &["rev-parse", "--short", "HEAD"])?;
    let git_dir = output("git", &["rev-parse", "--git-dir"]).map(PathBuf::from);
    let common = output("git", &["rev-parse", "--git-common-dir"]).map(PathBuf::from);
    let head_ref = output("git", &["symbolic-ref", "-q", "HEAD"]);
    let mut watch = Vec::new();
    if let Some(dir) = &git_dir {
        watch.push(dir.join("HEAD"));
    }
    if let Some(dir) = common.as_ref().or(git_dir.as_ref()) {
        if let Some(r) = &head_ref {
            watch.push(dir.join(r));
        }
        watch.push(dir.join("packed-refs"));
    }
    // A path that does not exist would rerun the build script every time.
    for path in watch.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(revision)
}

/// `1.94.1` from `rustc 1.94.1 (e408947bf 2026-03-25)`.
fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
