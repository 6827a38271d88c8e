//! Properties of the parsers and classifiers that take text from outside,
//! over generated input: none of them panics, and each keeps the promise
//! its documentation makes. The case count is bounded (64 per property,
//! or `PROPTEST_CASES`) so the suite stays fast on a small machine.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;

use ses_probe::checks::identity::principal_type;
use ses_probe::config::{self, Env};
use ses_probe::diagnosis::{classify_smtp_reply, classify_text, Class};
use ses_probe::explain::explain;
use ses_probe::outcome::PrincipalType;

/// 64 cases a property unless `PROPTEST_CASES` says otherwise.
fn cases() -> Config {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any text, weighted towards what peers actually send: ASCII with
/// control bytes, CR/LF and some non-ASCII.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                8 => (0x20u8..0x7f).prop_map(char::from),
                2 => (0u8..0x20).prop_map(char::from),
                1 => Just('\u{7f}'),
                1 => Just('\u{9b}'),
                1 => Just('é'),
                1 => Just('\u{2028}'),
            ],
            0..200,
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

/// Words that say nothing of failure, for success lines. They start with
/// a word: a reply text that starts with digits other than a DSN code
/// (`250 00a0aa0a`) is explained as `unknown`, which is conservative.
fn benign_words() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("Ok".to_owned()),
            Just("queued".to_owned()),
            Just("as".to_owned()),
            Just("message".to_owned()),
            Just("accepted".to_owned()),
            Just("2.0.0".to_owned()),
            "[0-9a-f]{8,40}",
            "[a-z]{1,8}\\.example\\.com",
        ],
        0..8,
    )
    .prop_map(|w| format!("Ok {}", w.join(" ")).trim_end().to_owned())
}

proptest! {
    #![proptest_config(cases())]

    /// Every SMTP reply gets a class; a 2xx reply is never a failure and a
    /// 5xx reply is never `ok`, whatever its text says.
    #[test]
    fn smtp_replies_classify_by_their_code(code in 100u16..1000, text in hostile_text()) {
        let (class, details) = classify_smtp_reply(code, &text);
        prop_assert!(Class::ALL.contains(&class));
        prop_assert_eq!(details.reply_code, Some(code));
        if (200..300).contains(&code) {
            prop_assert_eq!(class, Class::Ok, "{} {:?}", code, text);
        }
        if (500..600).contains(&code) {
            prop_assert_ne!(class, Class::Ok, "{} {:?}", code, text);
        }
    }

    /// The free-text classifier behind `explain` never panics on anything,
    /// and what it returns is a class of the table.
    #[test]
    fn explain_takes_any_text(text in hostile_text()) {
        let e = explain(&text, None);
        prop_assert!(Class::ALL.contains(&e.class));
        // Rendering never panics either.
        let _ = e.to_text();
        let _ = e.to_json();
    }

    /// A pasted 5xx reply line is never explained as `ok`; a success line
    /// (a 2xx code SMTP defines) with nothing else in it is never explained
    /// as a failure.
    #[test]
    fn explained_reply_lines_keep_their_direction(
        fail in 500u16..600,
        ok in prop_oneof![Just(211u16), Just(214), Just(220), Just(221), Just(235), Just(250), Just(251), Just(252)],
        words in benign_words(),
        tail in "[ -~]{0,80}",
    ) {
        let (class, _) = classify_text(&format!("{fail} {tail}"), None);
        prop_assert_ne!(class, Class::Ok, "{} {:?}", fail, tail);
        let (class, _) = classify_text(&format!("{ok} {words}"), None);
        prop_assert_eq!(class, Class::Ok, "{} {:?}", ok, words);
    }

    /// Escaped text holds no control character but tab, and text without
    /// any is left as it was.
    #[test]
    fn escaped_text_has_no_control_characters(text in hostile_text()) {
        let out = ses_probe::text::escape_controls(&text);
        prop_assert!(
            !out.chars().any(|c| c != '\t' && c.is_control()),
            "{:?} -> {:?}", text, out
        );
        if !text.chars().any(|c| c != '\t' && c.is_control()) {
            prop_assert_eq!(out.as_ref(), text.as_str());
        }
    }

    /// `truncate` cuts on a character boundary and never grows text by more
    /// than its ellipsis.
    #[test]
    fn truncation_is_bounded(text in any::<String>(), max in 0usize..64) {
        let out = ses_probe::text::truncate(&text, max);
        prop_assert!(out.len() <= max.max(text.len().min(max)) + 3, "{:?}", out);
        prop_assert!(text.starts_with(out.trim_end_matches("...")) || out == text);
    }

    /// ARNs: never a panic; an ARN of an account names its principal kind
    /// from the service and the resource's first segment only.
    #[test]
    fn principal_types(
        arn in hostile_text(),
        partition in "aws(-cn|-us-gov|-iso)?",
        account in "[0-9]{12}",
        name in "[A-Za-z0-9+=,.@_/-]{1,40}",
        junk in hostile_text(),
    ) {
        let _ = principal_type(&arn);
        let user = format!("arn:{partition}:iam::{account}:user/{name}");
        prop_assert_eq!(principal_type(&user), PrincipalType::IamUser);
        let role = format!("arn:{partition}:sts::{account}:assumed-role/{name}");
        prop_assert_eq!(principal_type(&role), PrincipalType::AssumedRole);
        // Control bytes and newlines in an ARN never make it the root user
        // unless the resource is exactly `root`.
        let forged = format!("arn:{partition}:iam::{account}:{junk}");
        if junk != "root" {
            prop_assert_ne!(principal_type(&forged), PrincipalType::Root);
        }
        prop_assert_eq!(
            principal_type(&format!("arn:{partition}:iam::{account}:root")),
            PrincipalType::Root
        );
    }

    /// `sasl_passwd`: never a panic on anything; entries have non-empty,
    /// whitespace-free keys and start on a line of the input.
    #[test]
    fn sasl_passwd_parses_anything(text in hostile_text()) {
        let entries = ses_probe::postfix::sasl::parse(&text);
        let lines = text.lines().count().max(1);
        for e in &entries {
            prop_assert!(!e.key.is_empty() && !e.key.chars().any(char::is_whitespace), "{:?}", e.key);
            prop_assert!(e.line >= 1 && e.line <= lines, "{} of {}", e.line, lines);
        }
    }

    /// Of duplicate keys (compared without case) the first wins, and an
    /// indented line continues the entry above it.
    #[test]
    fn sasl_passwd_first_duplicate_wins_and_lines_continue(
        host in "[a-z]{1,10}\\.example\\.com",
        user1 in "[A-Z0-9]{4,20}",
        user2 in "[A-Z0-9]{4,20}",
        pass1 in "[A-Za-z0-9+/=]{4,40}",
        pass2 in "[A-Za-z0-9+/=]{4,40}",
        upper in any::<bool>(),
        indent in "[ \t]{1,4}",
    ) {
        let key2 = if upper { format!("[{}]:587", host.to_uppercase()) } else { format!("[{host}]:587") };
        let text = format!(
            "# relay\n[{host}]:587\n{indent}{user1}:{pass1}\n\n{key2} {user2}:{pass2}\n"
        );
        let entries = ses_probe::postfix::sasl::parse(&text);
        prop_assert_eq!(entries.len(), 1, "{:?}", text);
        let e = &entries[0];
        prop_assert_eq!(&e.key, &format!("[{host}]:587"));
        prop_assert_eq!(e.line, 2);
        prop_assert_eq!(&e.username, &user1);
        prop_assert_eq!(e.password.expose(), pass1.as_str());
    }

    /// Postfix log lines: never a panic, lines over the bound are skipped,
    /// and a delivery line is read whatever its reason text holds.
    #[test]
    fn postfix_log_lines(
        line in hostile_text(),
        reason in "[ -~]{0,200}",
        status in prop_oneof![Just("sent"), Just("deferred"), Just("bounced")],
    ) {
        let _ = ses_probe::postfix::log::parse_line(&line);
        let long = format!("{line}{}", "x".repeat(ses_probe::postfix::log::MAX_LINE + 1));
        prop_assert!(ses_probe::postfix::log::parse_line(&long).is_none());
        let reason = reason.replace(['(', ')'], "");
        let real = format!(
            "Mar  3 10:00:00 mx postfix/smtp[123]: 4F1A2B3C: to=<a@example.com>, relay=email-smtp.eu-west-1.amazonaws.com[1.2.3.4]:587, delay=1, delays=0/0/0/1, dsn=2.0.0, status={status} ({reason})"
        );
        let d = ses_probe::postfix::log::parse_line(&real);
        prop_assert!(d.is_some(), "{:?}", real);
        prop_assert_eq!(d.unwrap().status.as_str(), status);
    }
}

// ---------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop_oneof![Just("100ms".to_owned()), Just("1s".to_owned()), Just("500ms".to_owned())],
        1 => Just("0s".to_owned()),
        1 => Just("-1s".to_owned()),
        1 => Just("1y".to_owned()),
        1 => Just("500000000000y".to_owned()),
        1 => Just("".to_owned()),
        1 => "[0-9]{1,25}(ns|ms|s|m|h|d|w|y)?",
        1 => "[ -~]{0,12}",
    ]
}

/// Mostly absent or valid, sometimes hostile: so that both accepted and
/// refused configurations are generated.
fn maybe<T: std::fmt::Debug + Clone>(
    valid: impl Strategy<Value = T>,
    hostile: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    proptest::option::weighted(0.5, prop_oneof![12 => valid, 1 => hostile])
}

/// A TOML string literal holding `s`.
fn quoted(s: &str) -> String {
    toml_string(s)
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Optional `key = value` lines; `None` leaves the key out.
fn line(key: &str, value: Option<String>) -> String {
    value.map(|v| format!("{key} = {v}\n")).unwrap_or_default()
}

prop_compose! {
    /// A config with one SMTP and one API target whose endpoints are all a
    /// closed port on 127.0.0.1, and generated values for the keys that
    /// bound work (sizes, counts, durations), plus a random extra line.
    fn config_text(port: u16, state: String)(
        concurrency in maybe(1u64..16, prop_oneof![Just(0u64), Just(1025), Just(2305843009213693952), any::<u64>()]),
        smtp_timeout in proptest::option::of(duration_text()),
        smtp_interval in proptest::option::of(duration_text()),
        api_timeout in proptest::option::of(duration_text()),
        warning in maybe(Just("1d".to_owned()), duration_text()),
        budget in maybe(1u64..10_001, prop_oneof![Just(0u64), Just(10_001), Just(4_294_967_295), Just(u64::MAX)]),
        tls in maybe(prop_oneof![Just("starttls"), Just("implicit")], prop_oneof![Just("none"), Just("ssl")]),
        mechanisms in maybe(prop_oneof![Just("[\"plain\"]"), Just("[\"login\"]")], prop_oneof![Just("[]"), Just("[\"cram-md5\"]")]),
        ratio in maybe(prop_oneof![Just(0.5f64), Just(1.0)], prop_oneof![Just(-1.0), Just(2.0), Just(f64::NAN)]),
        region in prop_oneof![12 => prop_oneof![Just("eu-west-1".to_owned()), Just("us-east-1".to_owned())], 1 => "[a-z0-9-]{0,20}"],
        extra in prop_oneof![24 => Just(String::new()), 1 => "[a-z_]{1,12} = [0-9]{1,5}", 1 => "[ -~]{0,40}"],
    ) -> String {
        format!(
            "[server]\nstate_directory = {state}\n{}\
             [[target]]\nname = \"smtp\"\nregion = {}\n[target.smtp]\nhost = \"127.0.0.1\"\nport = {port}\n\
             username = \"AKIAIOSFODNN7EXAMPLE\"\npassword = \"BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\"\n{}{}{}{}{}\
             [[target]]\nname = \"api\"\nregion = \"eu-west-1\"\n[target.api]\n\
             endpoint_url = \"http://127.0.0.1:{port}\"\nsts_endpoint_url = \"http://127.0.0.1:{port}\"\n\
             access_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\n{}{}\
             [target.api.send]\nfrom = \"probe@example.com\"\nto = \"success@simulator.amazonses.com\"\n{}\
             {extra}\n",
            line("concurrency", concurrency.map(|c| c.to_string())),
            quoted(&region),
            line("timeout", smtp_timeout.map(|t| quoted(&t))),
            line("interval", smtp_interval.map(|t| quoted(&t))),
            line("certificate_expiry_warning", warning.map(|t| quoted(&t))),
            line("tls", tls.map(quoted)),
            line("auth_mechanisms", mechanisms.map(str::to_owned)),
            line("timeout", api_timeout.map(|t| quoted(&t))),
            line("quota_warning_ratio", ratio.map(|r| if r.is_nan() { "nan".to_owned() } else { format!("{r:?}") })),
            line("daily_budget", budget.map(|b| b.to_string())),
        )
    }
}

fn config_cases() -> Config {
    // Each accepted config runs a real pass (connections refused at once):
    // fewer cases than the pure properties.
    let mut c = cases();
    c.cases = c.cases.min(32);
    c
}

/// Every generated config either is refused with a message or is accepted
/// with its bounds respected, and an accepted one runs a whole `--once`
/// pass (every check against a closed port) without a panic, within its
/// own deadlines.
#[test]
fn accepted_configs_run_a_pass() {
    let port = closed_port();
    let state = tempfile::tempdir().unwrap();
    let state_path = quoted(&state.path().display().to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let env = Env::from_pairs::<[(&str, &str); 0], _, _>([]);
    let mut runner = proptest::test_runner::TestRunner::new(config_cases());
    let accepted = std::cell::Cell::new(0usize);
    runner
        .run(&config_text(port, state_path), |text| {
            match config::parse(&text, "generated.toml", &env) {
                Err(e) => {
                    if std::env::var_os("SHOW_CONFIG_ERRORS").is_some() {
                        eprintln!("{e}");
                    }
                    prop_assert!(!e.to_string().is_empty());
                }
                Ok(plan) => {
                    accepted.set(accepted.get() + 1);
                    let c = plan.server.concurrency;
                    prop_assert!((1..=1024).contains(&c), "concurrency {}", c);
                    let started = std::time::Instant::now();
                    let results = rt.block_on(async {
                        tokio::time::timeout(
                            Duration::from_secs(30),
                            ses_probe::scheduler::run_once(&plan),
                        )
                        .await
                    });
                    let results = results.map_err(|_| {
                        TestCaseError::fail(format!("a pass took over 30 s:\n{text}"))
                    })?;
                    prop_assert_eq!(results.len(), plan.targets.len());
                    for t in &results {
                        prop_assert!(!t.outcomes.is_empty(), "{} has no outcome", t.name);
                        for o in &t.outcomes {
                            // Nothing listens: no check can succeed.
                            prop_assert!(!o.success, "{}: {:?}", t.name, o);
                        }
                    }
                    prop_assert!(started.elapsed() < Duration::from_secs(30));
                }
            }
            Ok(())
        })
        .unwrap();
    // The generator is not so hostile that nothing passes validation.
    eprintln!("accepted {} generated configs", accepted.get());
    assert!(accepted.get() > 0, "no generated config was accepted");
}

/// Arbitrary text as a config: a message, never a panic.
#[test]
fn any_text_as_config_is_an_error_or_a_plan() {
    let env = Env::from_pairs::<[(&str, &str); 0], _, _>([]);
    let mut runner = proptest::test_runner::TestRunner::new(cases());
    runner
        .run(&hostile_text(), |text| {
            let _ = config::parse(&text, "any.toml", &env);
            Ok(())
        })
        .unwrap();
}
