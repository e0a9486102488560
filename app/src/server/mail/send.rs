//! The mail senders: the job runner's workers take queued mails and hand them to the
//! SMTP server (`SMTP_URL`) — a refusal for good (5xx, an address it will not take)
//! parks the mail, anything else is tried again after the runner's back-off. Once sent
//! a mail's bodies are wiped. Without an SMTP server (development) a mail is written to
//! the log instead, and kept for `/dev/mail`.
//!
//! A mail has the same Message-ID at every attempt, so a worker that dies after the
//! server took its mail, before it could record so, never loses it: the next worker
//! hands it over again under that id, which mail systems treat as one message.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::ExposeSecret as _;
use uuid::Uuid;

use crate::server::config::{MailSettings, Settings};
use crate::server::jobs::{Held, Kind, Outcome, Queue, Tuning};
use crate::server::state::AppState;

/// How long one SMTP exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Where mails go: the SMTP server, or the log.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    /// The domain of the Message-IDs (the sender's).
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("smtp", &self.transport.is_some()).field("from", &self.from).finish()
    }
}

impl Mailer {
    /// The mailer `settings` describe; a message saying what is wrong when `SMTP_URL` or
    /// `MAIL_FROM` cannot be used.
    pub fn new(settings: &MailSettings) -> Result<Mailer, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|error| format!("MAIL_FROM={:?} is not a mail address: {error}", settings.from))?;
        let transport = match &settings.smtp_url {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|error| {
                        format!(
                            "SMTP_URL is not valid ({error}): smtps://user:password@host:465, \
                             smtp://user:password@host:587?tls=required or smtp://host:25"
                        )
                    })?
                    .timeout(Some(TIMEOUT))
                    .build(),
            ),
        };
        let domain = from.email.domain().to_string();
        Ok(Mailer { transport, from, domain })
    }

    /// True when mails are really sent.
    pub fn sends(&self) -> bool {
        self.transport.is_some()
    }
}

/// The queue of mails.
pub struct Mails;

#[derive(sqlx::FromRow)]
pub struct QueuedMail {
    id: Uuid,
    recipient: String,
    purpose: String,
    subject: String,
    text_body: String,
    html_body: String,
}

impl Kind for Mails {
    type Id = Uuid;
    type Job = QueuedMail;

    /// Queued by `mail::queue` in the transaction of what they report; one recipient's
    /// mails go one at a time.
    const QUEUE: Queue = Queue {
        name: "mails",
        table: "mails",
        channel: "mails",
        waiting: "queued",
        running: "sending",
        parked: "failed",
        group: &["recipient"],
        also: "",
    };

    fn tuning(settings: &Settings) -> Tuning {
        Tuning {
            workers: settings.mail.workers,
            lease: TIMEOUT * 3,
            max_attempts: settings.mail.max_attempts,
            per_group: 1,
        }
    }

    async fn run(state: &AppState, held: &Held<Self>, mail: &QueuedMail) -> Outcome {
        let mailer = &state.mailer;
        let Some(transport) = &mailer.transport else {
            tracing::info!(
                to = %mail.recipient,
                purpose = %mail.purpose,
                subject = %mail.subject,
                body = %mail.text_body,
                "a mail, written here because SMTP_URL is not set"
            );
            return record(state, held, "logged").await;
        };
        let message = match compose(mailer, mail) {
            Ok(message) => message,
            Err(error) => return Outcome::Park(error),
        };
        match transport.send(message).await {
            Ok(_) => {
                tracing::info!(to = %mail.recipient, purpose = %mail.purpose, id = %mail.id, "mail sent");
                record(state, held, "sent").await
            }
            Err(error) if error.is_permanent() => Outcome::Park(format!("the mail server refused it: {error}")),
            Err(error) => Outcome::Retry(format!("the mail server could not take it: {error}")),
        }
    }

    async fn parked(_state: &AppState, mail: &QueuedMail, error: &str) {
        tracing::error!(to = %mail.recipient, purpose = %mail.purpose, id = %mail.id, %error, "a mail could not be sent");
    }
}

/// The mail as the SMTP server gets it: both bodies, the stable Message-ID.
fn compose(mailer: &Mailer, mail: &QueuedMail) -> Result<Message, String> {
    let to: Mailbox =
        mail.recipient.parse().map_err(|error| format!("{:?} is not a mail address: {error}", mail.recipient))?;
    Message::builder()
        .message_id(Some(format!("<{}@{}>", mail.id, mailer.domain)))
        .from(mailer.from.clone())
        .to(to)
        .subject(&mail.subject)
        .multipart(MultiPart::alternative_plain_html(mail.text_body.clone(), mail.html_body.clone()))
        .map_err(|error| format!("the mail cannot be composed: {error}"))
}

/// Records the mail's end as `state`; a sent mail's bodies are wiped with it (they may
/// carry a one-time link), a logged one keeps them for the dev page.
async fn record(state: &AppState, held: &Held<Mails>, end: &str) -> Outcome {
    let recorded = async {
        let mut tx = state.db.begin().await?;
        if held.finish(&mut *tx, end).await? && end == "sent" {
            sqlx::query("update mails set text_body = '', html_body = '' where id = $1")
                .bind(held.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    };
    match recorded.await {
        Ok(()) => Outcome::Finished,
        Err(error) => Outcome::Retry(format!("recording the mail failed: {error}")),
    }
}
