//! A real SMTP server for the tests that send mail: PyPI's aiosmtpd, run as a process,
//! storing what it receives in a Maildir, from which the tests read the messages.
//!
//! aiosmtpd is the one `SMTP_SERVER_PATH` names (a PYTHONPATH: the test command installs
//! it there), else the one the test command installs under `target/tools`.

use std::path::PathBuf;
use std::time::Duration;

/// The aiosmtpd the test command installs (`.ci/lib.sh`, `ensure_smtp_server`).
const INSTALLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tools/aiosmtpd-1.4.6");

/// A running SMTP server.
pub struct SmtpServer {
    process: tokio::process::Child,
    port: u16,
    maildir: PathBuf,
}

/// A message as the server received it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
}

impl Delivered {
    /// The first link in the plain-text body that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        let start = self.text.find(prefix).unwrap_or_else(|| panic!("no link to {prefix} in {:?}", self.text));
        self.text[start..].split_whitespace().next().unwrap().to_string()
    }
}

impl SmtpServer {
    /// Starts a server on a free port and waits until it accepts connections.
    pub async fn start() -> SmtpServer {
        SmtpServer::start_on(std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).await
    }

    /// Starts a server on `port` and waits until it accepts connections.
    pub async fn start_on(port: u16) -> SmtpServer {
        let python_path = std::env::var("SMTP_SERVER_PATH").unwrap_or_else(|_| INSTALLED.to_string());
        assert!(
            std::path::Path::new(&python_path).join("aiosmtpd").is_dir(),
            "aiosmtpd is not installed at {python_path}: run `bash .ci/test` once, or \
             `source .ci/lib.sh && ensure_smtp_server`"
        );
        let root = std::env::temp_dir().join(format!("dreamops-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&root).unwrap();
        // The handler creates the Maildir itself (and refuses one it did not create).
        let maildir = root.join("maildir");
        let process = tokio::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .env("PYTHONPATH", &python_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs aiosmtpd");
        let server = SmtpServer { process, port, maildir };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the SMTP server did not listen within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// The `SMTP_URL` that reaches it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Delivered> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .map(|entry| entry.unwrap().path())
            .map(|path| (std::fs::metadata(&path).unwrap().modified().unwrap(), path))
            .collect();
        files.sort();
        files.into_iter().map(|(_, path)| parse(&std::fs::read(path).unwrap())).collect()
    }

    /// The messages received for `to` about `subject`, once there are `count` of them
    /// (waiting up to 20 s); panics with what did arrive otherwise.
    pub async fn wait_for(&self, to: &str, subject: &str, count: usize) -> Vec<Delivered> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let received: Vec<Delivered> =
                self.messages().into_iter().filter(|m| m.to.contains(to) && m.subject == subject).collect();
            if received.len() >= count || tokio::time::Instant::now() > deadline {
                assert_eq!(received.len(), count, "mails to {to}: {received:#?}");
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.process.kill().await;
        let _ = std::fs::remove_dir_all(self.maildir.parent().unwrap());
    }
}

/// A stored message, its MIME parts decoded.
fn parse(raw: &[u8]) -> Delivered {
    let mail = mailparse::parse_mail(raw).expect("a well-formed mail");
    let header = |name: &str| {
        use mailparse::MailHeaderMap as _;
        mail.headers.get_first_value(name).unwrap_or_default()
    };
    let (mut text, mut html) = (String::new(), String::new());
    for part in mail.parts() {
        match part.ctype.mimetype.as_str() {
            "text/plain" => text = part.get_body().unwrap(),
            "text/html" => html = part.get_body().unwrap(),
            _ => {}
        }
    }
    Delivered {
        to: header("To"),
        from: header("From"),
        subject: header("Subject"),
        message_id: header("Message-ID"),
        text,
        html,
    }
}
