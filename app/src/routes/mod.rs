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

lazy_routes! {
    DashboardRoute => dashboard::DashboardPage,
    IncidentsRoute => incidents::IncidentsPage,
    IncidentRoute => incident::IncidentPage,
    RunbooksRoute => runbooks::RunbooksPage,
    InvitationRoute => invitation::InvitationPage,
    BillingRoute => billing::BillingPage,
    TestCheckoutRoute => billing::TestCheckoutPage,
    MembersRoute => settings::members::MembersPage,
    ApiKeysRoute => settings::api_keys::ApiKeysPage,
    WebhooksRoute => settings::webhooks::WebhooksPage,
    AuditLogRoute => settings::audit_log::AuditLogPage,
    AccountRoute => settings::account::AccountPage,
    IntegrationsRoute => settings::integrations::IntegrationsPage,
    AiRoute => settings::ai::AiPage,
    ClustersRoute => settings::clusters::ClustersPage,
    ClusterRoute => settings::cluster::ClusterPage,
    ForgotPasswordRoute => mailed_links::ForgotPasswordPage,
    ResetPasswordRoute => mailed_links::ResetPasswordPage,
    VerifyEmailRoute => mailed_links::VerifyEmailPage,
}
