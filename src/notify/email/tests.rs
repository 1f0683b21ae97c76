//! Tests of the `email` channel: snapshots, limits, hostile input and the SMTP failure
//! taxonomy; classification against a server is in `notify::conformance`.

use super::*;
use crate::notify::message::samples;

fn channel() -> Email {
    Email::new(
        "smtp.example.com",
        587,
        SmtpTls::StartTls,
        "CI <ci@example.com>",
        &[
            "team@example.com".to_owned(),
            "Lead <lead@example.com>".to_owned(),
        ],
    )
    .unwrap()
}

fn rendered(m: &Message) -> super::super::Email {
    match channel().render(m) {
        Rendered::Email(mail) => mail,
        Rendered::Http(r) => panic!("{r:?}"),
    }
}

#[test]
fn snapshots_of_every_sample() {
    for (name, m) in samples::all() {
        let mail = rendered(&m);
        assert_eq!(rendered(&m), mail, "render is deterministic");
        let shown = format!(
            "From: {}\nTo: {}\nSubject: {}\n\n----- text/plain -----\n{}\n----- text/html -----\n{}",
            mail.from,
            mail.to.join(", "),
            mail.subject,
            mail.text,
            mail.html
        );
        insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
            insta::assert_snapshot!(format!("email__{name}"), shown);
        });
    }
}

#[test]
fn long_lists_end_with_and_n_more() {
    let mail = rendered(&samples::many_failed());
    assert!(mail.text.contains("Failed tests (200):"), "{}", mail.text);
    assert!(mail.text.contains("  … and 150 more\n"), "{}", mail.text);
    assert!(mail.html.contains("<li>… and 150 more</li>"));
    assert_eq!(
        mail.text
            .matches("\n  - com.acme.CartTest.addsItem")
            .count(),
        MAX_LISTED
    );
    assert_eq!(mail.html.matches("<li><code>com.acme").count(), MAX_LISTED);
    assert!(mail.text.contains("addsItem49:") && !mail.text.contains("addsItem50:"));
    assert!(mail.html.len() < 20_000, "{}", mail.html.len());
    let few = rendered(&samples::three_failed());
    assert!(!few.text.contains("more") && !few.html.contains("more"));
}

#[test]
fn hostile_strings_are_neutralised() {
    let m = samples::hostile();
    let mail = rendered(&m);
    for part in [&mail.html, &mail.text] {
        assert!(!part.contains('\u{1b}'), "escape sequences pass: {part}");
        assert!(
            !part.contains(&"x".repeat(MAX_NAME + 1)),
            "10 kB name not clipped"
        );
    }
    assert!(!mail.html.contains("<script>") && !mail.html.contains("<!channel>"));
    assert!(mail
        .html
        .contains("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"));
    assert!(
        mail.html.contains("&lt;!here&gt; &amp;amp; &amp;lt;"),
        "{}",
        mail.html
    );
    assert!(!mail.html.contains("href=\"http://evil"));
    assert!(
        mail.text.contains("<script>alert(1)</script>"),
        "plain text is data"
    );
    assert!(mail.text.contains(&format!("{}…", "x".repeat(MAX_NAME))));
    assert!(!mail.subject.contains(['\r', '\n']));
}

#[test]
fn no_header_injection_through_the_subject() {
    let mut m = samples::three_failed();
    m.branch = Some("main\r\nBcc: victim@evil.example\r\n\r\nbody".into());
    m.repository = Some(format!("octo/{}", "a".repeat(400)));
    let mail = rendered(&m);
    assert!(!mail.subject.contains(['\r', '\n']), "{:?}", mail.subject);
    assert!(mail.subject.len() <= MAX_SUBJECT + '…'.len_utf8());
    // Even a subject built elsewhere is neutralised on the way out.
    let forged = super::super::Email {
        subject: "hi\r\nBcc: victim@evil.example".into(),
        ..mail
    };
    let raw = String::from_utf8(build_message(&forged).unwrap().formatted()).unwrap();
    let headers = raw.split("\r\n\r\n").next().unwrap();
    assert!(
        !headers.to_ascii_lowercase().contains("\r\nbcc:"),
        "{headers}"
    );
    assert!(
        headers
            .lines()
            .all(|l| !l.to_ascii_lowercase().starts_with("bcc:")),
        "{headers}"
    );
}

#[test]
fn links_only_for_http_urls() {
    let mut m = samples::three_failed();
    m.run_url = Some("javascript:alert(1)".into());
    m.commit_url = Some("https://example.com/c\"onmouseover=\"x".into());
    let mail = rendered(&m);
    assert!(!mail.html.contains("javascript:") && !mail.text.contains("javascript:"));
    assert!(mail
        .html
        .contains("href=\"https://example.com/c&quot;onmouseover=&quot;x\""));
    assert_eq!(safe_link(Some("https://a.example/x y")), None);
    assert_eq!(
        safe_link(Some("http://a.example/")),
        Some("http://a.example/")
    );
}

#[test]
fn settings_are_validated() {
    let to = ["team@example.com".to_owned()];
    assert!(Email::new("smtp.example.com", 25, SmtpTls::None, "ci@example.com", &to).is_ok());
    let table: [(&str, u16, &str, &[String], EmailError); 4] = [
        (
            "",
            25,
            "ci@example.com",
            &to,
            EmailError::Host(String::new()),
        ),
        (
            "smtp.example.com",
            0,
            "ci@example.com",
            &to,
            EmailError::Port,
        ),
        (
            "smtp.example.com",
            25,
            "ci@example.com",
            &[],
            EmailError::NoRecipient,
        ),
        (
            "smtp.example.com",
            25,
            "ci@example.com",
            &["a\r\nb@x".to_owned()],
            EmailError::Address {
                field: "to",
                value: "a\r\nb@x".into(),
                reason: String::new(),
            },
        ),
    ];
    for (host, port, from, to, want) in table {
        let got = Email::new(host, port, SmtpTls::None, from, to).unwrap_err();
        match (&got, &want) {
            (EmailError::Address { field: a, .. }, EmailError::Address { field: b, .. }) => {
                assert_eq!(a, b)
            }
            _ => assert_eq!(got, want),
        }
    }
    let bad_from = Email::new("h", 25, SmtpTls::None, "not an address", &to).unwrap_err();
    assert!(
        matches!(bad_from, EmailError::Address { field: "from", .. }),
        "{bad_from}"
    );
    assert_eq!(SmtpTls::parse("starttls"), Some(SmtpTls::StartTls));
    assert_eq!(SmtpTls::parse("STARTTLS"), None);
    assert_eq!(
        [SmtpTls::StartTls, SmtpTls::Tls, SmtpTls::None].map(SmtpTls::default_port),
        [587, 465, 25]
    );
}

#[test]
fn classification_table() {
    let table = [
        (Failure::Reply(421), true),
        (Failure::Reply(450), true),
        (Failure::Reply(451), true),
        (Failure::Reply(452), true),
        (Failure::Reply(454), true),
        (Failure::Reply(500), false),
        (Failure::Reply(530), false),
        (Failure::Reply(535), false),
        (Failure::Reply(550), false),
        (Failure::Reply(552), false),
        (Failure::Reply(554), false),
        (Failure::Timeout, true),
        (Failure::Network, true),
        (Failure::Tls, false),
        (Failure::Client, false),
    ];
    for (failure, retryable) in table {
        assert_eq!(failure.retryable(), retryable, "{failure:?}");
    }
}

#[tokio::test]
async fn an_http_request_is_refused() {
    let rendered = Rendered::Http(super::super::HttpRequest {
        url: Secret::new("https://example.com/"),
        headers: Vec::new(),
        body: Vec::new(),
    });
    let err = channel()
        .send(
            &crate::http::build_client(&crate::http::HttpConfig::default()).unwrap(),
            &rendered,
        )
        .await
        .unwrap_err();
    assert!(!err.retryable);
}
