//! Signing up, in and out; the signed-in user; changing and resetting the password;
//! creating, switching and deleting teams; deleting the account.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::account::{AccountDeletion, SignInStep, SsoPage, TwoFactorSetup, Viewer};
use crate::error::AppError;

/// Creates an account: with a new team, whose address a mailed link confirms (the
/// answer is the same when the address already has an account); or through an
/// invitation, joining its team, signed in.
#[server(prefix = "/api", endpoint = "sign_up")]
pub async fn sign_up(
    email: String,
    password: String,
    #[server(default)] team_name: String,
    #[server(default)] invitation: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{accounts, auth::context::RequestContext};
    let request = RequestContext::current()?;
    let signed_up = accounts::sign_up(&request, accounts::SignUp { email, password, team_name, invitation }).await?;
    if signed_up == accounts::SignedUp::SignedIn {
        leptos_axum::redirect("/dashboard");
    }
    Ok(())
}

/// Signs in; `next` is where to go afterwards (a path on this site). With two-factor
/// sign-in on, the answer asks for the code ([`log_in_with_code`]) instead.
#[server(prefix = "/api", endpoint = "log_in")]
pub async fn log_in(
    email: String,
    password: String,
    #[server(default)] next: Option<String>,
) -> Result<SignInStep, AppError> {
    use crate::server::{accounts, auth::context::RequestContext};
    let request = RequestContext::current()?;
    let step = accounts::log_in(&request, &email, password).await?;
    if step == SignInStep::SignedIn {
        leptos_axum::redirect(&safe_next(next.as_deref()));
    }
    Ok(step)
}

/// The second step of signing in: a code from the authenticator app or a recovery
/// code; `remember_device` skips it in this browser for 30 days.
#[server(prefix = "/api", endpoint = "log_in_with_code")]
pub async fn log_in_with_code(
    code: String,
    #[server(default)] remember_device: Option<String>,
    #[server(default)] next: Option<String>,
) -> Result<(), AppError> {
    use crate::server::auth::two_factor::{DEVICE_COOKIE, REMEMBER_FOR};
    use crate::server::{accounts, auth::context::RequestContext};
    let request = RequestContext::current()?;
    let remember = remember_device.is_some_and(|value| !value.is_empty() && value != "false");
    if let Some(token) = accounts::two_factor::sign_in_with_code(&request, &code, remember).await? {
        let secure = if request.state.settings.sessions.secure_cookies { "; Secure" } else { "" };
        let cookie = format!(
            "{DEVICE_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            REMEMBER_FOR.num_seconds()
        );
        if let (Some(response), Ok(value)) =
            (use_context::<leptos_axum::ResponseOptions>(), axum::http::HeaderValue::from_str(&cookie))
        {
            response.append_header(axum::http::header::SET_COOKIE, value);
        }
    }
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Where to send a user after signing in: a path on this site only, never another site.
/// Browsers drop tabs and line breaks from addresses and read `\` as `/`, so
/// `/\t/evil.example` would become `//evil.example`: any control character, space or
/// backslash refuses the path, as does `//` at its start.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.len() <= 2048
                && !path.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') =>
        {
            path.to_string()
        }
        _ => "/dashboard".to_string(),
    }
}

/// Signs out: the session is deleted on the server.
#[server(prefix = "/api", endpoint = "log_out")]
pub async fn log_out() -> Result<(), AppError> {
    use crate::server::{accounts, auth::context::RequestContext};
    accounts::log_out(&RequestContext::current()?).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user and their teams, or `None` when nobody is signed in.
#[server(prefix = "/api", endpoint = "current_viewer", input = GetUrl)]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    match crate::server::auth::context::current_account().await {
        Ok(account) => Ok(Some(account.viewer().await?)),
        Err(AppError::Unauthorized) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Mails a password-reset link to `email` if it has an account; the answer is the same
/// either way.
#[server(prefix = "/api", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    use crate::server::{accounts, auth::context::RequestContext};
    accounts::reset::request(&RequestContext::current()?, &email).await
}

/// Sets a new password with the token of a reset link, ends every other session, and
/// signs in.
#[server(prefix = "/api", endpoint = "reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    use crate::server::{accounts, auth::context::RequestContext};
    accounts::reset::complete(&RequestContext::current()?, &token, password).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// Confirms an address with the token of the link mailed to it, and signs in.
#[server(prefix = "/api", endpoint = "verify_email")]
pub async fn verify_email(token: String) -> Result<(), AppError> {
    use crate::server::{accounts, auth::context::RequestContext};
    accounts::verification::confirm(&RequestContext::current()?, &token).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// Mails the signed-in user a new link to confirm their address.
#[server(prefix = "/api", endpoint = "resend_verification")]
pub async fn resend_verification() -> Result<(), AppError> {
    let auth = crate::server::auth::context::current_account().await?;
    crate::server::accounts::verification::resend(&auth).await
}

/// Starts moving the signed-in user to `new_email`: it takes effect when the link mailed
/// there is used.
#[server(prefix = "/api", endpoint = "change_email")]
pub async fn change_email(new_email: String, password: String) -> Result<(), AppError> {
    let auth = crate::server::auth::context::current_account().await?;
    crate::server::accounts::verification::change_email(&auth, &new_email, password).await
}

/// Starts setting up two-factor sign-in: the secret to scan, pending a first code.
#[server(prefix = "/api", endpoint = "start_two_factor")]
pub async fn start_two_factor() -> Result<TwoFactorSetup, AppError> {
    let auth = crate::server::auth::context::current_account().await?;
    crate::server::accounts::two_factor::start(&auth).await
}

/// Turns two-factor sign-in on with a first code; the recovery codes, shown once.
#[server(prefix = "/api", endpoint = "confirm_two_factor")]
pub async fn confirm_two_factor(code: String) -> Result<Vec<String>, AppError> {
    let auth = crate::server::auth::context::current_account().await?;
    crate::server::accounts::two_factor::confirm(&auth, &code).await
}

/// Turns two-factor sign-in off (the password confirms it).
#[server(prefix = "/api", endpoint = "turn_off_two_factor")]
pub async fn turn_off_two_factor(password: String) -> Result<(), AppError> {
    let auth = crate::server::auth::context::current_account().await?;
    crate::server::accounts::two_factor::turn_off(&auth, password).await
}

/// Whether the active team requires its members to use two-factor sign-in.
#[server(prefix = "/api", endpoint = "team_two_factor", input = GetUrl)]
pub async fn team_two_factor() -> Result<bool, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::accounts::two_factor::required_by_team(auth.state(), &auth.acting).await
}

/// Owners: requires (or no longer requires) every member to use two-factor sign-in.
#[server(prefix = "/api", endpoint = "set_team_two_factor")]
pub async fn set_team_two_factor(required: bool) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageOwners).await?;
    crate::server::accounts::two_factor::require_for_team(auth.state(), &auth.acting, required).await
}

/// Changes the signed-in user's password; their other sessions end.
#[server(prefix = "/api", endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), AppError> {
    let auth = crate::server::auth::context::current_account().await?;
    crate::server::accounts::change_password(&auth, current_password, new_password).await
}

/// Creates a team owned by the signed-in user and switches to it.
#[server(prefix = "/api", endpoint = "create_team")]
pub async fn create_team(team_name: String) -> Result<(), AppError> {
    let account = crate::server::auth::context::current_account().await?;
    crate::server::accounts::create_team(&account, &team_name).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// Owners: deletes the active team, once its name is typed as `confirmation` (its
/// subscription is cancelled first); the user carries on in another team, or none.
#[server(prefix = "/api", endpoint = "delete_team")]
pub async fn delete_team(confirmation: String) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::DeleteTeam).await?;
    crate::server::deletion::delete_team(auth.state(), &auth.acting, &confirmation).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// What deleting the signed-in user's account would take with it.
#[server(prefix = "/api", endpoint = "preview_account_deletion", input = GetUrl)]
pub async fn preview_account_deletion() -> Result<AccountDeletion, AppError> {
    let account = crate::server::auth::context::current_account().await?;
    crate::server::deletion::preview(&account).await
}

/// Deletes the signed-in user's account (their password and typed address confirm it),
/// with the teams they alone own.
#[server(prefix = "/api", endpoint = "delete_account")]
pub async fn delete_account(password: String, confirmation: String) -> Result<(), AppError> {
    let account = crate::server::auth::context::current_account().await?;
    crate::server::deletion::delete_account(&account, password, &confirmation).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Starts single sign-on for `email`: where to send the browser (the provider of the
/// team that takes the address's domain).
#[server(prefix = "/api", endpoint = "start_sso")]
pub async fn start_sso(email: String) -> Result<String, AppError> {
    use crate::server::auth::context::RequestContext;
    crate::server::sso::start(&RequestContext::current()?, &email).await
}

/// Owners: the team's single sign-on, and whether its plan allows it.
#[server(prefix = "/api", endpoint = "get_sso", input = GetUrl)]
pub async fn get_sso() -> Result<SsoPage, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageSso).await?;
    crate::server::sso::page(auth.state(), &auth.acting).await
}

/// Owners of Enterprise teams: saves the team's OpenID provider once its configuration
/// can be read. A blank secret keeps the saved one.
#[server(prefix = "/api", endpoint = "save_sso")]
pub async fn save_sso(
    issuer: String,
    client_id: String,
    #[server(default)] client_secret: String,
    allowed_domains: String,
    default_role: String,
) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageSso).await?;
    let form = crate::server::sso::SsoForm { issuer, client_id, client_secret, allowed_domains, default_role };
    crate::server::sso::save(auth.state(), &auth.acting, form).await
}

/// Owners: turns the team's single sign-on off.
#[server(prefix = "/api", endpoint = "remove_sso")]
pub async fn remove_sso() -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageSso).await?;
    crate::server::sso::remove(auth.state(), &auth.acting).await
}

/// Makes another of the signed-in user's teams the active one.
#[server(prefix = "/api", endpoint = "switch_team")]
pub async fn switch_team(team_id: Uuid) -> Result<(), AppError> {
    let auth = crate::server::auth::context::current_account().await?;
    crate::server::accounts::switch_team(&auth, team_id).await
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/settings/members")), "/settings/members");
        assert_eq!(safe_next(Some("//evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("/incidents?status=open&page=2#top")), "/incidents?status=open&page=2#top");
        for tricky in [
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/\u{a0}/evil.example",
            "https:/evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(tricky)), "/dashboard", "{tricky:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(3000)))), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
    }
}
