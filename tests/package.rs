//! The Debian package (`[package.metadata.deb]` in Cargo.toml, built with
//! cargo-deb).
//!
//! `deb_package_installs_a_working_service` builds the .deb from the binary
//! this test build already produced (no second, release build), then:
//! - lists it (`dpkg-deb -c`): the binary in /usr/bin, the unit, the
//!   configuration in /etc (a conffile), the example configuration and docs
//!   in /usr/share/doc/ses-probe, dashboard and alert rules in
//!   /usr/share/ses-probe;
//! - extracts it (`dpkg-deb -x`), verifies the installed unit with
//!   `systemd-analyze verify` (ExecStart pointed at the extracted binary, as
//!   tests/systemd_unit.rs does), runs the packaged binary's `--version` and
//!   validates the packaged configuration with its `check-config`.
//!
//! Without cargo-deb the test prints that it skipped; under CI (`CI=true`),
//! where .ci/test installs cargo-deb, a missing cargo-deb fails it.

use std::path::Path;
use std::process::{Command, Output};

const UNIT: &str = "usr/lib/systemd/system/ses-probe.service";

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({e}): run `bash .ci/test`, which installs it")
    });
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cargo_deb_available() -> bool {
    Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn deb_package_installs_a_working_service() {
    if !cargo_deb_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cargo-deb is missing under CI: .ci/test installs it"
        );
        println!("skipped: cargo-deb is not installed (`cargo install cargo-deb --locked`)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    // cargo-deb takes the binary from <target dir>/release: give it a target
    // dir holding only this build's binary.
    let target_dir = dir.path().join("target");
    std::fs::create_dir_all(target_dir.join("release")).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_ses-probe"),
        target_dir.join("release/ses-probe"),
    )
    .expect("copy the built binary");
    let out_dir = dir.path().join("debian");
    run(
        "cargo deb",
        Command::new("cargo")
            .args(["deb", "--no-build", "--no-strip", "--fast", "--output"])
            .arg(&out_dir)
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR")),
    );
    let deb = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb in the output directory");
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("ses-probe_{}-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );

    // The file list: path -> mode string.
    let listing = run("dpkg-deb -c", Command::new("dpkg-deb").arg("-c").arg(&deb));
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let files: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|line| {
            let mode = line.split_whitespace().next()?;
            let path = line.split_whitespace().last()?.trim_start_matches("./");
            Some((path, mode))
        })
        .collect();
    for (path, mode) in [
        ("usr/bin/ses-probe", "-rwxr-xr-x"),
        (UNIT, "-rw-r--r--"),
        ("etc/ses-probe/ses-probe.toml", "-rw-r--r--"),
        (
            "usr/share/doc/ses-probe/ses-probe.example.toml",
            "-rw-r--r--",
        ),
        ("usr/share/doc/ses-probe/operations.md", "-rw-r--r--"),
        ("usr/share/doc/ses-probe/copyright", "-rw-r--r--"),
        ("usr/share/ses-probe/alerts.yml", "-rw-r--r--"),
        ("usr/share/ses-probe/ses-probe.json", "-rw-r--r--"),
    ] {
        assert!(
            files.contains(&(path, mode)),
            "the package lacks {path} with mode {mode}:\n{listing}"
        );
    }
    let info = run(
        "dpkg-deb -I conffiles",
        Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb)
            .arg("conffiles"),
    );
    assert_eq!(
        String::from_utf8_lossy(&info.stdout).trim(),
        "/etc/ses-probe/ses-probe.toml",
        "the configuration is the one conffile"
    );

    let root = dir.path().join("root");
    run(
        "dpkg-deb -x",
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
    );
    let binary = root.join("usr/bin/ses-probe");

    // The installed unit, verified with ExecStart pointed at the extracted
    // binary (systemd checks that it is executable).
    let unit = std::fs::read_to_string(root.join(UNIT)).expect("the packaged unit");
    let exec = "ExecStart=/usr/bin/ses-probe ";
    assert!(
        unit.contains(exec),
        "the packaged unit runs /usr/bin/ses-probe"
    );
    let copy = dir.path().join("ses-probe.service");
    std::fs::write(
        &copy,
        unit.replace(exec, &format!("ExecStart={} ", binary.display())),
    )
    .unwrap();
    let verify = run(
        "systemd-analyze verify",
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&copy),
    );
    let complaints: String = String::from_utf8_lossy(&verify.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&verify.stdout).lines())
        .filter(|l| l.contains("ses-probe.service"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        complaints.is_empty(),
        "systemd-analyze verify:\n{complaints}"
    );

    let version = run(
        "ses-probe --version",
        Command::new(&binary).arg("--version"),
    );
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("ses-probe {}", env!("CARGO_PKG_VERSION"))
    );
    run(
        "ses-probe check-config on the packaged configuration",
        Command::new(&binary)
            .arg("check-config")
            .arg("--config")
            .arg(root.join("etc/ses-probe/ses-probe.toml")),
    );
    assert!(Path::new(&root.join("usr/share/doc/ses-probe/README.md")).exists());
}
