//! `/dashboard`: the team's home once signed in.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::usage_card::UsageCard;
use crate::components::viewer::SignedIn;
use crate::domain::account::Permission;

/// `/dashboard`: the active team, the user's role, and where to start.
#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <Title text="Dashboard" />
        <SignedIn children=|viewer| {
            let can_manage = viewer.can(Permission::ManageMembers);
            view! {
                <p class="eyebrow">"Dashboard"</p>
                <h1 data-testid="team-name">{viewer.team.team_name.clone()}</h1>
                <p class="lead">
                    "You are signed in as " <strong>{viewer.email.clone()}</strong> ", "
                    <span data-testid="team-role">{viewer.team.role.label()}</span> " of this team."
                </p>
                <UsageCard />
                <section class="panel" aria-labelledby="start-title">
                    <h2 id="start-title">"Getting started"</h2>
                    <ol class="checklist">
                        <li>"Invite the people who share your on-call rota."</li>
                        <li>"Connect an alert source under Integrations, and send a test alert."</li>
                        <li>"Create an API key for scripts that post alerts to the REST API."</li>
                    </ol>
                    <Show when=move || can_manage>
                        <A href="/settings/members" attr:class="button">
                            "Invite teammates"
                        </A>
                    </Show>
                </section>
            }
        } />
    }
}
