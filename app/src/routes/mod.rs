//! Pages, one module each. `crate::App` maps paths to them. The public pages, where
//! first visits begin, come with the bundle; the signed-in members' pages are lazy
//! routes declared here, their code loaded when the browser first shows them.

pub mod auth;
pub mod billing;
pub mod dashboard;
pub mod incident;
pub mod incidents;
pub mod invitation;
pub mod landing;
pub mod mailed_links;
pub mod not_found;
pub mod postmortems;
pub mod pricing;
pub mod runbooks;
pub mod settings;
pub mod status;

use leptos::prelude::{AnyView, IntoAny as _};

/// Declares `$route`, the lazy route of page `$page`: the browser loads the page's code
/// from its own part of the bundle the first time it shows it (`cargo leptos --split`),
/// so that a first visit does not carry the whole app. The server renders it as any
/// other page. (Measured: lazy public pages made the landing page's first visit larger
/// — their code is mostly shared, and shared code comes as many small files.)
macro_rules! lazy_routes {
    ($($route:ident => $page:path),* $(,)?) => {$(
        #[doc = concat!("The lazy route of [`", stringify!($page), "`].")]
        pub struct $route;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    )*};
}

/// The pages of mailed links (a password reset, an address to confirm), which one lazy
/// route serves: each lazy route costs the first visit its loader, so pages seldom
/// visited share one.
#[leptos::component]
pub fn MailedLinkPage() -> impl leptos::IntoView {
    use leptos::prelude::*;
    let path = leptos_router::hooks::use_location().pathname;
    move || match path.get().as_str() {
        "/reset-password" => mailed_links::ResetPasswordPage().into_any(),
        "/verify-email" => mailed_links::VerifyEmailPage().into_any(),
        _ => mailed_links::ForgotPasswordPage().into_any(),
    }
}

/// What the team learnt and wrote down — runbooks and post-mortems, one entry of the
/// navigation with a tab each — under one lazy route, as [`MailedLinkPage`] does.
#[leptos::component]
pub fn LearningPage() -> impl leptos::IntoView {
    use leptos::prelude::*;
    use leptos_router::components::A;
    let path = leptos_router::hooks::use_location().pathname;
    let page = move || {
        let path = path.get();
        if path.starts_with("/runbooks") {
            runbooks::RunbooksPage().into_any()
        } else if path.trim_end_matches('/') == "/postmortems" {
            postmortems::PostmortemsPage().into_any()
        } else {
            postmortems::PostmortemPage().into_any()
        }
    };
    view! {
        <nav class="tabs" aria-label="Runbooks and post-mortems">
            <A href="/runbooks">"Runbooks"</A>
            <A href="/postmortems">"Post-mortems"</A>
        </nav>
        {page}
    }
}

/// The team's settings pages visited now and then (AI, API keys, webhooks, the audit
/// log, the account) under one lazy route, as [`MailedLinkPage`] does.
#[leptos::component]
pub fn TeamSettingsPage() -> impl leptos::IntoView {
    use leptos::prelude::*;
    let path = leptos_router::hooks::use_location().pathname;
    move || match path.get().trim_end_matches('/') {
        "/settings/ai" => settings::ai::AiPage().into_any(),
        "/settings/api-keys" => settings::api_keys::ApiKeysPage().into_any(),
        "/settings/webhooks" => settings::webhooks::WebhooksPage().into_any(),
        "/settings/audit-log" => settings::audit_log::AuditLogPage().into_any(),
        _ => settings::account::AccountPage().into_any(),
    }
}

/// Billing and test mode's checkout page under one lazy route.
#[leptos::component]
pub fn BillingPages() -> impl leptos::IntoView {
    use leptos::prelude::*;
    let path = leptos_router::hooks::use_location().pathname;
    move || {
        if path.get().starts_with("/billing/checkout/") {
            billing::TestCheckoutPage().into_any()
        } else {
            billing::BillingPage().into_any()
        }
    }
}

lazy_routes! {
    DashboardRoute => dashboard::DashboardPage,
    IncidentsRoute => incidents::IncidentsPage,
    IncidentRoute => incident::IncidentPage,
    LearningRoute => LearningPage,
    InvitationRoute => invitation::InvitationPage,
    BillingRoute => BillingPages,
    MembersRoute => settings::members::MembersPage,
    TeamSettingsRoute => TeamSettingsPage,
    IntegrationsRoute => settings::integrations::IntegrationsPage,
    ClustersRoute => settings::clusters::ClustersPage,
    ClusterRoute => settings::cluster::ClusterPage,
    MailedLinkRoute => MailedLinkPage,
}
