//! Deleting: a team (its Stripe subscription cancelled first, then all of its data in
//! one transaction, clusters' sealed credentials included) and an account (with the
//! teams it alone owns; its memberships elsewhere removed).

use secrecy::SecretString;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::account::{AccountDeletion, TeamToDelete};
use crate::error::{AppError, Checks, OrInternal};
use crate::server::audit::{self, Acting, Event};
use crate::server::auth::context::Account;
use crate::server::auth::{password, session};
use crate::server::billing::stripe_api;
use crate::server::db;
use crate::server::mail::{self, Mail, letters};
use crate::server::state::AppState;

/// Deletes the acting owner's team once `confirmation` is its name, typed. Every
/// member is mailed; their sessions carry on in their other teams (or in none).
pub async fn delete_team(state: &AppState, acting: &Acting, confirmation: &str) -> Result<(), AppError> {
    let name = db::teams::name(&state.db, acting.team_id).await.or_internal("deleting a team failed")?;
    if confirmation.trim() != name {
        return Err(AppError::field("confirmation", format!("Type the team's name, {name}, to confirm.")));
    }
    cancel_subscription(state, acting.team_id).await?;
    let mut tx = state.db.begin().await.or_internal("deleting a team failed")?;
    delete_in(&mut tx, acting.team_id, &name, &acting.member()?.email, None).await?;
    tx.commit().await.or_internal("deleting a team failed")?;
    tracing::info!(team = %acting.team_id, by = %acting.name(), "team deleted");
    state.live.recheck(acting.team_id);
    Ok(())
}

/// Ends the team's Stripe subscription now, if it has one that Stripe bills. Done
/// before the data goes: a team is never deleted while it is still being charged.
/// Test mode's subscriptions exist only in our database, and go with it.
async fn cancel_subscription(state: &AppState, team: Uuid) -> Result<(), AppError> {
    let subscription: Option<String> = sqlx::query_scalar(
        "select stripe_subscription_id from teams
         where id = $1 and stripe_subscription_id is not null
           and coalesce(subscription_status, '') not in ('canceled', 'incomplete_expired')",
    )
    .bind(team)
    .fetch_optional(&state.db)
    .await
    .or_internal("deleting a team failed")?;
    let Some(subscription) = subscription else { return Ok(()) };
    if state.settings.stripe.test_mode() {
        return Ok(());
    }
    let client = stripe_api::client(&state.settings.stripe)?;
    stripe_api::cancel_now(&client, &subscription).await.map_err(|_| {
        AppError::Conflict(
            "Stripe did not confirm that the team's subscription is cancelled, so nothing was deleted. Try again in a minute."
                .into(),
        )
    })
}

/// Deletes `team` (called `name`) in `tx`, mailing its members (but `unmailed`) that
/// `by` did. Its rows go by their keys' `on delete cascade`; Stripe's events about it,
/// kept by Stripe's ids, are deleted here.
async fn delete_in(
    tx: &mut PgConnection,
    team: Uuid,
    name: &str,
    by: &str,
    unmailed: Option<Uuid>,
) -> Result<(), AppError> {
    let members = db::teams::members(&mut *tx, team).await.or_internal("deleting a team failed")?;
    sqlx::query("delete from stripe_events where team_id = $1")
        .bind(team)
        .execute(&mut *tx)
        .await
        .or_internal("deleting a team failed")?;
    sqlx::query("delete from teams where id = $1")
        .bind(team)
        .execute(&mut *tx)
        .await
        .or_internal("deleting a team failed")?;
    for member in members.into_iter().filter(|member| Some(member.user_id) != unmailed) {
        let letter = letters::team_deleted(name, by);
        mail::queue(&mut *tx, Mail { to: member.email, purpose: "team_deleted", letter })
            .await
            .or_internal("queueing a mail failed")?;
    }
    Ok(())
}

/// A team the account belongs to, and whether another owner stays when it goes.
struct Held {
    team_id: Uuid,
    name: String,
    other_owners: i64,
    other_members: i64,
}

async fn held(state: &AppState, user: Uuid) -> Result<Vec<Held>, AppError> {
    let rows: Vec<(Uuid, String, i64, i64)> = sqlx::query_as(
        "select t.id, t.name,
                (select count(*) from memberships o where o.team_id = t.id and o.user_id <> $1 and o.role = 'owner'),
                (select count(*) from memberships o where o.team_id = t.id and o.user_id <> $1)
         from memberships m join teams t on t.id = m.team_id
         where m.user_id = $1 order by lower(t.name), t.id",
    )
    .bind(user)
    .fetch_all(&state.db)
    .await
    .or_internal("listing a user's teams failed")?;
    Ok(rows
        .into_iter()
        .map(|(team_id, name, other_owners, other_members)| Held { team_id, name, other_owners, other_members })
        .collect())
}

/// What deleting the account would take with it.
pub async fn preview(account: &Account) -> Result<AccountDeletion, AppError> {
    let mut deletion = AccountDeletion { deleted_teams: Vec::new(), left_teams: Vec::new() };
    for team in held(&account.request.state, account.user_id).await? {
        if team.other_owners == 0 {
            deletion.deleted_teams.push(TeamToDelete { name: team.name, other_members: team.other_members });
        } else {
            deletion.left_teams.push(team.name);
        }
    }
    Ok(deletion)
}

/// Deletes the account once its password is given and its address typed: the teams it
/// alone owns are deleted with it (their subscriptions cancelled first), it leaves the
/// others (their audit logs say so), and its session ends. A mail confirms it.
pub async fn delete_account(account: &Account, password: String, confirmation: &str) -> Result<(), AppError> {
    let state = &account.request.state;
    let user = db::users::find(&state.db, account.user_id)
        .await
        .or_internal("an account query failed")?
        .ok_or(AppError::Unauthorized)?;
    let mut checks = Checks::default();
    if !confirmation.trim().eq_ignore_ascii_case(&user.email) {
        checks.fail("confirmation", &format!("Type your email address, {}, to confirm.", user.email));
    }
    if !password::verify(SecretString::from(password), Some(user.password_hash)).await? {
        checks.fail("password", "That is not your password.");
    }
    checks.finish()?;

    let teams = held(state, account.user_id).await?;
    let (deleted, left): (Vec<Held>, Vec<Held>) = teams.into_iter().partition(|team| team.other_owners == 0);
    for team in &deleted {
        cancel_subscription(state, team.team_id).await?;
    }
    let mut tx = state.db.begin().await.or_internal("deleting an account failed")?;
    for team in &deleted {
        delete_in(&mut tx, team.team_id, &team.name, &user.email, Some(account.user_id)).await?;
    }
    for team in &left {
        audit::record(
            &mut *tx,
            Event {
                team_id: team.team_id,
                actor: &account.actor(),
                action: "member.account_deleted",
                target: Some(&user.email),
                client_addr: Some(&account.request.client_addr),
                details: serde_json::json!({}),
            },
        )
        .await
        .or_internal("deleting an account failed")?;
    }
    sqlx::query("delete from users where id = $1")
        .bind(account.user_id)
        .execute(&mut *tx)
        .await
        .or_internal("deleting an account failed")?;
    let names: Vec<String> = deleted.iter().map(|team| team.name.clone()).collect();
    mail::queue(
        &mut tx,
        Mail { to: user.email.clone(), purpose: "account_deleted", letter: letters::account_deleted(&names) },
    )
    .await
    .or_internal("queueing a mail failed")?;
    tx.commit().await.or_internal("deleting an account failed")?;
    tracing::info!(user = %account.user_id, teams_deleted = deleted.len(), "account deleted");
    session::end(&account.request.session).await?;
    for team in deleted.iter().chain(&left) {
        state.live.recheck(team.team_id);
    }
    Ok(())
}
