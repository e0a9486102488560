//! What each mail says. A [`Letter`] is paragraphs, at most one action (a button in
//! HTML, the bare link in plain text) and small print; it renders as both bodies of the
//! mail, the HTML escaped.

use crate::PRODUCT_NAME;

/// A mail's words.
#[derive(Clone, Debug, Default)]
pub struct Letter {
    pub subject: String,
    pub paragraphs: Vec<String>,
    /// The one thing to do: its label and link.
    pub action: Option<(String, String)>,
    /// Why the recipient got this, and what to do if it was not them.
    pub small_print: Vec<String>,
}

impl Letter {
    /// The plain-text body.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for paragraph in &self.paragraphs {
            text.push_str(paragraph);
            text.push_str("\n\n");
        }
        if let Some((label, link)) = &self.action {
            text.push_str(&format!("{label}:\n{link}\n\n"));
        }
        for line in &self.small_print {
            text.push_str(line);
            text.push_str("\n\n");
        }
        text.push_str(&format!("— {PRODUCT_NAME}\n"));
        text
    }

    /// The HTML body.
    pub fn html(&self) -> String {
        let mut html = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#1b1f24;max-width:560px;margin:0 auto;padding:24px\">",
            escape(&self.subject)
        );
        for paragraph in &self.paragraphs {
            html.push_str(&format!("<p>{}</p>", escape(paragraph)));
        }
        if let Some((label, link)) = &self.action {
            html.push_str(&format!(
                "<p><a href=\"{link}\" style=\"display:inline-block;background:#2454d6;color:#fff;padding:10px 18px;\
                 border-radius:6px;text-decoration:none\">{label}</a></p>\
                 <p style=\"font-size:13px;color:#57606a\">Or open this link: <a href=\"{link}\">{link}</a></p>",
                link = escape(link),
                label = escape(label)
            ));
        }
        for line in &self.small_print {
            html.push_str(&format!("<p style=\"font-size:13px;color:#57606a\">{}</p>", escape(line)));
        }
        html.push_str(&format!("<p style=\"font-size:13px;color:#57606a\">— {PRODUCT_NAME}</p></body></html>"));
        html
    }
}

/// `text` safe inside HTML text and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A link to reset the password, valid for `minutes`.
pub fn password_reset(link: &str, minutes: i64) -> Letter {
    Letter {
        subject: format!("Reset your {PRODUCT_NAME} password"),
        paragraphs: vec![
            format!("Someone asked to reset the password of your {PRODUCT_NAME} account."),
            format!(
                "The link below lets you choose a new one. It works once, for {minutes} minutes, and signs you out everywhere else."
            ),
        ],
        action: Some(("Choose a new password".into(), link.to_string())),
        small_print: vec!["If you did not ask for this, ignore this mail: your password stays as it is.".into()],
    }
}

/// Tells the account's owner that its password was just reset.
pub fn password_was_reset(sign_in: &str) -> Letter {
    Letter {
        subject: format!("Your {PRODUCT_NAME} password was changed"),
        paragraphs: vec![
            "The password of your account was just reset through a link sent to this address, and every other session was signed out.".into(),
        ],
        action: Some(("Sign in".into(), sign_in.to_string())),
        small_print: vec![
            "If this was not you, reset your password again at once and tell your team's owner: someone can read your mail."
                .into(),
        ],
    }
}

/// An invitation to join `team` as `role`, from `inviter`.
pub fn invitation(inviter: &str, team: &str, role: &str, link: &str, days: i64) -> Letter {
    Letter {
        subject: format!("{inviter} invited you to {team} on {PRODUCT_NAME}"),
        paragraphs: vec![
            format!("{inviter} invited you to join the team {team} on {PRODUCT_NAME} as {role}."),
            format!(
                "{PRODUCT_NAME} turns alerts into incidents and helps the team diagnose and fix them. The link works once, for {days} days, for this address only."
            ),
        ],
        action: Some(("Join the team".into(), link.to_string())),
        small_print: vec!["Not expecting this? Ignore this mail: nothing happens without the link.".into()],
    }
}

/// A link that confirms the address of a new account.
pub fn verify_email(link: &str, hours: i64) -> Letter {
    Letter {
        subject: format!("Confirm your email for {PRODUCT_NAME}"),
        paragraphs: vec![
            format!("Welcome to {PRODUCT_NAME}. Confirm that this address is yours to finish setting up your account."),
            format!("The link works once, for {hours} hours, and signs you in."),
        ],
        action: Some(("Confirm my email".into(), link.to_string())),
        small_print: vec![format!(
            "If you did not sign up for {PRODUCT_NAME}, ignore this mail: nothing happens without this link."
        )],
    }
}

/// Tells the owner of an address that already has an account that someone signed up
/// with it (the sign-up page answers as for a new address).
pub fn already_registered(log_in: &str, reset: &str) -> Letter {
    Letter {
        subject: format!("You already have a {PRODUCT_NAME} account"),
        paragraphs: vec![
            "Someone just tried to sign up with this address, which already has an account.".into(),
            format!("If that was you, log in at {log_in}; if you forgot your password, choose a new one:"),
        ],
        action: Some(("Reset my password".into(), reset.to_string())),
        small_print: vec!["If it was not you, ignore this mail: nothing changed.".into()],
    }
}

/// A link that moves the account to this (new) address.
pub fn confirm_new_email(link: &str, hours: i64) -> Letter {
    Letter {
        subject: format!("Confirm your new email for {PRODUCT_NAME}"),
        paragraphs: vec![
            format!("You asked to sign in to {PRODUCT_NAME} with this address from now on."),
            format!("The change takes effect when you use this link (once, within {hours} hours)."),
        ],
        action: Some(("Confirm my new email".into(), link.to_string())),
        small_print: vec!["If you did not ask for this, ignore this mail: nothing changes.".into()],
    }
}

/// Tells the old address that the account moved to `new_email`.
pub fn email_changed(new_email: &str) -> Letter {
    Letter {
        subject: format!("Your {PRODUCT_NAME} email was changed"),
        paragraphs: vec![format!(
            "Your account now signs in as {new_email}; mail about it goes there. This address no longer has access."
        )],
        action: None,
        small_print: vec![
            "If you did not make this change, reply to your team's owner at once: someone has your password.".into(),
        ],
    }
}

/// A new incident in `team`.
pub fn incident_opened(team: &str, title: &str, severity: &str, service: Option<&str>, link: &str) -> Letter {
    let service = service.map(|service| format!(" in {service}")).unwrap_or_default();
    Letter {
        subject: format!("[{team}] New {severity} incident: {title}"),
        paragraphs: vec![format!("A new {severity} incident{service} opened in {team}: {title}.")],
        action: Some(("Open the incident".into(), link.to_string())),
        small_print: Vec::new(),
    }
}

/// An action the agent proposes waits for an operator's approval.
pub fn awaiting_approval(team: &str, title: &str, action: &str, link: &str) -> Letter {
    Letter {
        subject: format!("[{team}] Awaiting approval: {action}"),
        paragraphs: vec![
            format!("{PRODUCT_NAME} diagnosed \"{title}\" and proposes: {action}."),
            "It waits for an operator to approve it on the incident's page.".into(),
        ],
        action: Some(("Review the action".into(), link.to_string())),
        small_print: Vec::new(),
    }
}

/// An incident was resolved, `how`.
pub fn incident_resolved(team: &str, title: &str, how: &str, link: &str) -> Letter {
    Letter {
        subject: format!("[{team}] Resolved: {title}"),
        paragraphs: vec![format!("\"{title}\" is resolved. {how}")],
        action: Some(("Open the incident".into(), link.to_string())),
        small_print: Vec::new(),
    }
}

/// The week in `team`, summed up.
pub fn weekly_digest(team: &str, summary: &str, link: &str) -> Letter {
    Letter {
        subject: format!("[{team}] Your week on {PRODUCT_NAME}"),
        paragraphs: vec![format!("Last week in {team}: {summary}.")],
        action: Some(("Open the dashboard".into(), link.to_string())),
        small_print: Vec::new(),
    }
}

/// Reminds an owner that `team`'s month of `plan`, paid through PhonePe, ends on `ends`.
pub fn renewal_due(team: &str, plan: &str, ends: &str, link: &str) -> Letter {
    Letter {
        subject: format!("[{team}] Your {plan} plan ends on {ends}"),
        paragraphs: vec![
            format!("The month of {plan} that {team} paid for through PhonePe ends on {ends}."),
            "Renew it on the billing page to keep the plan's alert analyses without a break; if it is not renewed, the team keeps the plan for a grace period of 7 days, then moves to Free.".into(),
        ],
        action: Some(("Renew the plan".into(), link.to_string())),
        small_print: vec!["You get this because you are an owner of the team.".into()],
    }
}

/// Tells a member that `team` was deleted, by whom, with all of its data.
pub fn team_deleted(team: &str, by: &str) -> Letter {
    Letter {
        subject: format!("{team} was deleted from {PRODUCT_NAME}"),
        paragraphs: vec![
            format!("{by} deleted the team {team}: its incidents, alert sources, clusters and audit log are gone."),
            "Alerts sent to its integrations are refused from now on; its subscription, if it had one, was cancelled."
                .into(),
        ],
        action: None,
        small_print: vec!["Your account and your other teams are unchanged.".into()],
    }
}

/// Confirms to a deleted account's address that it is gone.
pub fn account_deleted(deleted_teams: &[String]) -> Letter {
    let mut paragraphs = vec![format!("Your {PRODUCT_NAME} account was deleted, as you asked.")];
    if !deleted_teams.is_empty() {
        paragraphs.push(format!(
            "The teams you alone owned were deleted with it, with all their data: {}.",
            deleted_teams.join(", ")
        ));
    }
    Letter {
        subject: format!("Your {PRODUCT_NAME} account was deleted"),
        paragraphs,
        action: None,
        small_print: vec!["You can sign up again with this address at any time.".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bodies_carry_the_words_and_the_link_and_html_is_escaped() {
        let letter = Letter {
            subject: "A <b> & c".into(),
            paragraphs: vec!["Hello <script>alert(1)</script> & \"you\"".into()],
            action: Some(("Go".into(), "https://x.example/reset?token=a&b=\"c\"".into())),
            small_print: vec!["Small".into()],
        };
        let text = letter.text();
        assert!(text.contains("Hello <script>alert(1)</script> & \"you\"\n"), "{text}");
        assert!(text.contains("Go:\nhttps://x.example/reset?token=a&b=\"c\"\n"), "{text}");
        let html = letter.html();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("Hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;you&quot;"), "{html}");
        assert!(html.contains("href=\"https://x.example/reset?token=a&amp;b=&quot;c&quot;\""), "{html}");
        assert!(html.contains("<title>A &lt;b&gt; &amp; c</title>"), "{html}");
    }

    #[test]
    fn the_reset_mail_links_to_its_page_and_says_how_long_it_lasts() {
        let letter = password_reset("https://d.example/reset-password?token=abc", 60);
        assert!(letter.text().contains("https://d.example/reset-password?token=abc"));
        assert!(letter.text().contains("for 60 minutes"));
        assert!(letter.html().contains("href=\"https://d.example/reset-password?token=abc\""));
    }
}
