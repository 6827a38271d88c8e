//! The shipped systemd unit, `systemd/ses-probe.service`.
//!
//! What each test proves:
//! - `unit_verifies`: systemd loads the unit without complaint
//!   (`systemd-analyze verify`), with ExecStart pointed at the binary this
//!   build produced so the executable check is real.
//! - `unit_is_hardened`: `systemd-analyze security --offline=yes` rates the
//!   sandbox at an overall exposure of 1.5 or lower.
//! - `postfix_drop_in_verifies_and_stays_hardened`: the unit with the
//!   Postfix drop-in (`systemd/postfix.conf`: a private copy of the password
//!   map, read access to the log) still verifies and stays at 1.5 or lower.
//! - `unit_keeps_the_service_contract`: the directives the daemon relies on
//!   (sd_notify, SIGHUP reload, exit status 78 for a bad configuration,
//!   state and configuration directories) are there, and no
//!   `LoadCredential=` is active (a missing source file would stop the unit
//!   from starting).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UNIT: &str = "ses-probe.service";
const INSTALLED_BINARY: &str = "ExecStart=/usr/bin/ses-probe ";

fn unit_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(UNIT);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The unit copied into a temporary directory, its ExecStart pointed at this
/// build's binary.
fn unit_copy() -> (tempfile::TempDir, PathBuf) {
    let text = unit_text();
    assert!(
        text.contains(INSTALLED_BINARY),
        "the unit runs /usr/bin/ses-probe"
    );
    let built = format!("ExecStart={} ", env!("CARGO_BIN_EXE_ses-probe"));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(UNIT);
    std::fs::write(&path, text.replace(INSTALLED_BINARY, &built)).expect("write unit copy");
    (dir, path)
}

/// Runs `systemd-analyze`; a missing tool is a failure, never a skip.
fn systemd_analyze(args: &[&str], unit: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run systemd-analyze ({e}): run `bash .ci/test`, which installs it")
        })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn unit_verifies() {
    let (_dir, unit) = unit_copy();
    let out = systemd_analyze(&["verify", "--man=no"], &unit);
    let output = text(&out);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed ({}):\n{output}",
        out.status
    );
    // Other units on the machine may draw warnings; ours must not.
    let ours: Vec<&str> = output.lines().filter(|l| l.contains(UNIT)).collect();
    assert!(
        ours.is_empty(),
        "systemd-analyze verify complains about the unit:\n{}",
        ours.join("\n")
    );
}

#[test]
fn unit_is_hardened() {
    let (_dir, unit) = unit_copy();
    assert_exposure_at_most(&unit, 1.5);
}

/// The unit with `systemd/postfix.conf` applied, as systemd merges a
/// drop-in: its `[Service]` lines appended to the unit's.
#[test]
fn postfix_drop_in_verifies_and_stays_hardened() {
    let (dir, unit) = unit_copy();
    let drop_in =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/postfix.conf"))
            .unwrap();
    let service_lines: Vec<&str> = drop_in
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && *l != "[Service]")
        .collect();
    assert!(
        service_lines
            .iter()
            .any(|l| l.starts_with("LoadCredential=sasl_passwd.db:"))
            && service_lines
                .iter()
                .any(|l| l.starts_with("SupplementaryGroups=")),
        "{service_lines:?}"
    );
    let merged = std::fs::read_to_string(&unit).unwrap().replace(
        "[Install]",
        &format!("{}\n\n[Install]", service_lines.join("\n")),
    );
    std::fs::write(&unit, merged).unwrap();
    let out = systemd_analyze(&["verify", "--man=no"], &unit);
    let output = text(&out);
    assert!(out.status.success(), "{output}");
    assert!(
        !output.lines().any(|l| l.contains(UNIT)),
        "systemd-analyze verify complains:\n{output}"
    );
    assert_exposure_at_most(&unit, 1.5);
    drop(dir);
}

fn assert_exposure_at_most(unit: &Path, limit: f64) {
    let out = systemd_analyze(&["security", "--offline=yes", "--no-pager"], unit);
    let output = text(&out);
    let pattern = regex::Regex::new(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)").unwrap();
    let exposure: f64 = pattern
        .captures(&output)
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{output}"))[1]
        .parse()
        .unwrap();
    assert!(
        exposure <= limit,
        "exposure {exposure} > {limit}; what is left open:\n{}",
        {
            output
                .lines()
                .filter(|l| l.contains('✗'))
                .collect::<Vec<_>>()
                .join("\n")
        }
    );
}

#[test]
fn unit_keeps_the_service_contract() {
    let text = unit_text();
    let directives: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';']))
        .collect();
    for expected in [
        "Type=notify",
        "NotifyAccess=main",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RestartPreventExitStatus=78",
        "DynamicUser=yes",
        "StateDirectory=ses-probe",
        "ConfigurationDirectory=ses-probe",
    ] {
        assert!(
            directives.contains(&expected),
            "the unit lacks `{expected}`"
        );
    }
    let active: Vec<_> = directives
        .iter()
        .filter(|l| l.starts_with("LoadCredential"))
        .collect();
    assert!(
        active.is_empty(),
        "LoadCredential= must ship commented out: {active:?}"
    );
    assert!(
        text.contains("#LoadCredential="),
        "the unit shows how to load credentials"
    );
}
