//! The `email` channel against a real SMTP server: `aiosmtpd` (PyPI), started by each test on
//! a free port with a small handler that parses every accepted message with Python's `email`
//! package and writes it as JSON. `./scripts/test` installs aiosmtpd; without it these tests
//! fail (they never skip).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cimon::http::{build_client, HttpConfig, Secret};
use cimon::model::{RunOutcome, TestSummary};
use cimon::notify::email::{Email, SmtpTls};
use cimon::notify::{Event, Message, Notifier, NotifyError, Rendered, TestLine};
use serde_json::Value;

const USER: &str = "cimon";
const PASSWORD: &str = "right-password-8c1f";

/// The SMTP sink: accepts mail for anyone except `nobody@…` (550) and `busy@…` (451);
/// AUTH PLAIN/LOGIN accepts only `cimon` / `right-password-8c1f`, over plain text.
const SINK: &str = r#"
import asyncio, json, os, sys
from email import message_from_bytes, policy
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

OUT = sys.argv[1]
USER, PASSWORD = sys.argv[2].encode(), sys.argv[3].encode()
count = 0

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local == "nobody":
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if local == "busy":
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        raw = envelope.original_content or envelope.content
        msg = message_from_bytes(raw, policy=policy.default)
        parts = {}
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                parts[part.get_content_type()] = part.get_content()
        doc = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "content_type": msg.get_content_type(),
            "headers": list(msg.keys()),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
        }
        path = os.path.join(OUT, "%d.json" % count)
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == USER and auth_data.password == PASSWORD)
    return AuthResult(success=ok, handled=False)

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), authenticator=authenticator, auth_require_tls=False),
        "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// A running aiosmtpd; killed when dropped.
struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sink {
    fn start() -> Self {
        let python = std::env::var("CIMON_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let probe = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output();
        match probe {
            Ok(out) if out.status.success() => {}
            other => panic!(
                "aiosmtpd is not installed for {python} ({other:?}): run ./scripts/test, which \
                 installs it (`python3 -m pip install aiosmtpd`)"
            ),
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("sink.py");
        std::fs::write(&script, SINK).unwrap();
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).unwrap();
        let mut child = Command::new(&python)
            .arg(&script)
            .args([out.to_str().unwrap(), USER, PASSWORD])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Ok(port) = line.trim().parse() else {
            let mut err = String::new();
            let _ = child.kill();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("the aiosmtpd sink did not start: {line:?}\n{err}");
        };
        Sink { child, port, dir }
    }

    /// Every message received so far, in order.
    fn messages(&self) -> Vec<Value> {
        let dir = self.dir.path().join("mail");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort_by_key(|p| number(p));
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    fn channel(&self, tls: SmtpTls, to: &[&str]) -> Email {
        let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        Email::new("127.0.0.1", self.port, tls, "CI Bot <ci@example.com>", &to)
            .unwrap()
            .with_timeout(Duration::from_secs(10))
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn number(path: &Path) -> u64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// 60 failed tests, the first two hostile, on a branch that tries to inject a header.
fn message() -> Message {
    let mut failed: Vec<TestLine> = (0..60)
        .map(|i| TestLine {
            name: format!("com.acme.CartTest.addsItem{i}"),
            message: Some(format!("expected:<{i}> but was:<{}>", i + 1)),
            attempts: 1,
        })
        .collect();
    failed[0].name = "<script>alert(1)</script>".into();
    failed[0].message = Some("<img src=x onerror=alert(2)> & \"quotes\"".into());
    failed[1].name = "@channel <!everyone> ".repeat(500);
    Message {
        event: Event::Failure,
        outcome: RunOutcome::Failure,
        repository: Some("octo/app".into()),
        workflow: Some("CI".into()),
        job: Some("build".into()),
        branch: Some("main\r\nBcc: victim@evil.example".into()),
        sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        pull_request: Some(7),
        run_url: Some("https://github.com/octo/app/actions/runs/42".into()),
        commit_url: Some(
            "https://github.com/octo/app/commit/0123456789abcdef0123456789abcdef01234567".into(),
        ),
        duration_ms: Some(252_000),
        median_duration_ms: None,
        tests: TestSummary {
            total: 100,
            passed: 40,
            failed: 60,
            ..TestSummary::default()
        },
        failed,
        flaky: Vec::new(),
        gate: None,
    }
}

async fn send(channel: &Email) -> Result<(), NotifyError> {
    let client = build_client(&HttpConfig::default()).unwrap();
    let rendered = channel.render(&message());
    assert!(matches!(rendered, Rendered::Email(_)));
    channel.send(&client, &rendered).await
}

#[tokio::test]
async fn a_real_smtp_server_receives_a_parsed_multipart_message() {
    let sink = Sink::start();
    let channel = sink
        .channel(
            SmtpTls::None,
            &["team@example.com", "Lead <lead@example.com>"],
        )
        .with_credentials(USER, Secret::new(PASSWORD));
    send(&channel).await.unwrap();

    let got = sink.messages();
    assert_eq!(got.len(), 1, "{got:#?}");
    let mail = &got[0];
    assert_eq!(mail["mail_from"], "ci@example.com");
    assert_eq!(
        mail["rcpt_tos"],
        serde_json::json!(["team@example.com", "lead@example.com"])
    );
    assert_eq!(mail["from"], "CI Bot <ci@example.com>");
    assert_eq!(mail["to"], "team@example.com, Lead <lead@example.com>");
    assert_eq!(
        mail["subject"],
        "❌ octo/app › CI › build failed on main Bcc: victim@evil.example"
    );
    assert_eq!(mail["content_type"], "multipart/alternative");
    let headers: Vec<String> = serde_json::from_value(mail["headers"].clone()).unwrap();
    assert!(
        !headers.iter().any(|h| h.eq_ignore_ascii_case("bcc")),
        "{headers:?}"
    );

    let text = mail["text"].as_str().expect("a text/plain part");
    assert!(text.contains("Failed tests (60):"), "{text}");
    assert!(text.contains("  … and 10 more"), "{text}");
    assert!(text.contains("com.acme.CartTest.addsItem49: expected:<49> but was:<50>"));
    assert!(!text.contains("addsItem50:"));
    assert!(text.contains("Run: https://github.com/octo/app/actions/runs/42"));

    let html = mail["html"].as_str().expect("a text/html part");
    assert!(html.contains("<li>… and 10 more</li>"), "{html}");
    assert!(html.contains("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"));
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot;"));
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<!everyone>"));
    assert!(html.contains("<a href=\"https://github.com/octo/app/actions/runs/42\">"));
    assert!(html.contains(
        "<a href=\"https://github.com/octo/app/commit/0123456789abcdef0123456789abcdef01234567\">"
    ));
}

#[tokio::test]
async fn failures_are_classified_and_never_show_the_password() {
    let sink = Sink::start();
    let wrong = "wrong-password-5d2e";
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let to = |addr: &str| vec![addr.to_owned()];
    let on = |port: u16, tls: SmtpTls, addr: &str, timeout: u64| {
        Email::new("127.0.0.1", port, tls, "ci@example.com", &to(addr))
            .unwrap()
            .with_timeout(Duration::from_millis(timeout))
    };
    let silent_port = silent.local_addr().unwrap().port();
    let refused = format!("smtp://127.0.0.1:{closed_port}");
    // (what, channel, password, retryable, text the error must contain)
    let table: Vec<(&str, Email, &str, bool, &str)> = vec![
        (
            "550 mailbox unavailable",
            sink.channel(SmtpTls::None, &["nobody@example.com"]),
            PASSWORD,
            false,
            "550",
        ),
        (
            "451 try again later",
            sink.channel(SmtpTls::None, &["busy@example.com"]),
            PASSWORD,
            true,
            "451",
        ),
        (
            "535 authentication failed",
            sink.channel(SmtpTls::None, &["team@example.com"]),
            wrong,
            false,
            "535",
        ),
        (
            "STARTTLS required, server has none",
            sink.channel(SmtpTls::StartTls, &["team@example.com"]),
            PASSWORD,
            false,
            "smtp://127.0.0.1",
        ),
        (
            "connection refused",
            on(closed_port, SmtpTls::None, "team@example.com", 5_000),
            PASSWORD,
            true,
            &refused,
        ),
        (
            "server never answers",
            on(silent_port, SmtpTls::None, "team@example.com", 500),
            PASSWORD,
            true,
            "no answer within",
        ),
    ];
    for (what, channel, password, retryable, needle) in table {
        let channel = channel.with_credentials(USER, Secret::new(password));
        let start = Instant::now();
        let err = send(&channel).await.unwrap_err();
        eprintln!("{what}: {err}");
        assert_eq!(err.retryable, retryable, "{what}: {err}");
        assert!(err.message.contains(needle), "{what}: {err}");
        assert!(!err.message.contains(password), "{what}: password in {err}");
        assert!(!format!("{channel:?}").contains(password), "{what}");
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
    }
    assert!(
        sink.messages().is_empty(),
        "nothing may be delivered: {:?}",
        sink.messages()
    );
    drop(silent);
}
