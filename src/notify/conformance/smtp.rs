//! A scripted SMTP server for the email rows of the shared table: it greets, accepts EHLO and
//! AUTH, then answers `MAIL FROM` with the scripted reply (and accepts the rest).

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::email_channel;
use crate::notify::email::Email;

/// What the server does.
#[derive(Debug, Clone)]
pub(super) enum Script {
    /// Answers `MAIL FROM` with this code (250: the message is accepted).
    MailFrom(u16),
    /// Refuses AUTH with 535 and this text (a server quoting what it was sent).
    Echo(String),
    /// Accepts the connection and never says anything.
    Silent,
}

/// A running server on a local port; stops with the test's runtime.
pub(super) struct Server {
    port: u16,
}

impl Server {
    /// Starts the server for one or more sessions.
    pub(super) async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = script.clone();
                tokio::spawn(async move {
                    let _ = session(stream, script).await;
                });
            }
        });
        Self { port }
    }

    /// An email channel sending here, with `password` when given.
    pub(super) fn channel(&self, password: Option<&str>) -> Email {
        channel_at(self.port, password)
    }
}

/// An email channel sending to `port` on this machine (plain SMTP).
pub(super) fn channel_at(port: u16, password: Option<&str>) -> Email {
    email_channel(port, password)
}

async fn session(stream: tokio::net::TcpStream, script: Script) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    if matches!(script, Script::Silent) {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        return Ok(());
    }
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 cimon-test ESMTP\r\n").await?;
    let mut in_data = false;
    while let Some(line) = lines.next_line().await? {
        if in_data {
            if line == "." {
                in_data = false;
                write.write_all(b"250 2.0.0 queued\r\n").await?;
            }
            continue;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match (verb.as_str(), &script) {
            ("EHLO", _) => "250-cimon-test\r\n250 AUTH PLAIN LOGIN\r\n".to_owned(),
            ("HELO", _) => "250 cimon-test\r\n".to_owned(),
            ("AUTH", Script::Echo(text)) => format!("535 5.7.8 {text} {line}\r\n"),
            ("AUTH", _) => "235 2.7.0 ok\r\n".to_owned(),
            ("MAIL", Script::MailFrom(code)) if *code != 250 => {
                format!("{code} {}.0.0 scripted\r\n", code / 100)
            }
            ("MAIL" | "RCPT" | "RSET" | "NOOP", _) => "250 2.0.0 ok\r\n".to_owned(),
            ("DATA", _) => {
                in_data = true;
                "354 go ahead\r\n".to_owned()
            }
            ("QUIT", _) => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 unknown\r\n".to_owned(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}
