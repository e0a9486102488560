//! Email: a [`Letter`] (what a mail says, rendered as plain text and HTML by
//! [`letters`]) is queued with [`queue`] in the transaction of what it reports, and the
//! job runner hands it to the SMTP server ([`send`]).

pub mod letters;
pub mod send;

use sqlx::PgConnection;
use uuid::Uuid;

pub use letters::Letter;

/// A mail to queue: who gets it, why, and what it says.
pub struct Mail {
    pub to: String,
    /// What the mail is for, in the log and the dev page (`password_reset`, …).
    pub purpose: &'static str,
    pub letter: Letter,
}

/// Queues `mail` in `tx` (it goes out when `tx` commits, never if it rolls back) and
/// announces it to the senders. Its id is its Message-ID at every attempt.
pub async fn queue(tx: &mut PgConnection, mail: Mail) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into mails (id, recipient, purpose, subject, text_body, html_body) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&mail.to)
    .bind(mail.purpose)
    .bind(&mail.letter.subject)
    .bind(mail.letter.text())
    .bind(mail.letter.html())
    .execute(&mut *tx)
    .await?;
    crate::server::jobs::announce(&mut *tx, &<send::Mails as crate::server::jobs::Kind>::QUEUE).await?;
    Ok(id)
}

/// A mail as the dev-only page lists it (development without an SMTP server).
#[derive(sqlx::FromRow)]
pub struct Logged {
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The latest mails written to the log instead of sent, newest first.
pub async fn logged(db: &sqlx::PgPool, limit: i64) -> Result<Vec<Logged>, sqlx::Error> {
    sqlx::query_as(
        "select recipient::text, subject, text_body, created_at from mails where state = 'logged'
         order by created_at desc limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}
