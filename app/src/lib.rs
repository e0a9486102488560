//! DreamOps' user interface and everything its server functions call.
//!
//! Compiled twice: with `ssr` into the server (pages render to HTML, server functions run
//! here, and [`server`] holds their back end), and with `hydrate` into the browser bundle
//! (the same components take over the server-rendered page).

pub mod api;
pub mod components;
pub mod domain;
pub mod error;
pub mod routes;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, Link, Meta, MetaTags, Title, provide_meta_context};
use leptos_router::{
    Lazy, ParamSegment, StaticSegment,
    components::{Route, Router, Routes},
};

use crate::components::layout::AppLayout;
use crate::components::viewer::provide_viewer;
use crate::routes::auth::{LoginPage, SignUpPage};
use crate::routes::pricing::PricingPage;
use crate::routes::{
    BillingRoute, ClusterRoute, ClustersRoute, DashboardRoute, IncidentRoute, IncidentsRoute, IntegrationsRoute,
    InvitationRoute, LearningRoute, MailedLinkRoute, MembersRoute, TeamSettingsRoute,
};
use crate::routes::{landing::LandingPage, not_found::NotFound, status::StatusPage};

/// The product's name as users see it.
pub const PRODUCT_NAME: &str = "DreamOps";

/// The HTML document around the app: rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <HashedStylesheet options=options.clone() id="leptos" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Sets the page's `Content-Security-Policy`: scripts only from this site or inline with
/// this response's nonce (the hydration and streaming scripts carry it), WebAssembly
/// compiled from this site, styles from this site (and the inline style attributes the
/// charts use), connections to this site only, no plugins, no framing.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The application: metadata, the layout and the routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    mark_hydrated();

    view! {
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Title formatter=|page: String| {
            if page.is_empty() { PRODUCT_NAME.to_string() } else { format!("{page} · {PRODUCT_NAME}") }
        } />
        <Meta
            name="description"
            content="DreamOps turns every alert into an incident, diagnoses it against your Kubernetes clusters and proposes the fix."
        />
        <Router>
            <WithViewer>
                <AppLayout>
                    <Routes fallback=NotFound>
                        <Route path=StaticSegment("") view=LandingPage />
                        <Route path=StaticSegment("status") view=StatusPage />
                        <Route path=StaticSegment("pricing") view=PricingPage />
                        <Route path=(StaticSegment("billing"), StaticSegment("checkout"), ParamSegment("session")) view={Lazy::<BillingRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("billing")) view={Lazy::<BillingRoute>::new()} />
                        <Route path=StaticSegment("signup") view=SignUpPage />
                        <Route path=StaticSegment("login") view=LoginPage />
                        <Route path=StaticSegment("forgot-password") view={Lazy::<MailedLinkRoute>::new()} />
                        <Route path=StaticSegment("reset-password") view={Lazy::<MailedLinkRoute>::new()} />
                        <Route path=StaticSegment("verify-email") view={Lazy::<MailedLinkRoute>::new()} />
                        <Route path=StaticSegment("dashboard") view={Lazy::<DashboardRoute>::new()} />
                        <Route path=StaticSegment("incidents") view={Lazy::<IncidentsRoute>::new()} />
                        <Route path=(StaticSegment("incidents"), ParamSegment("id")) view={Lazy::<IncidentRoute>::new()} />
                        <Route path=StaticSegment("runbooks") view={Lazy::<LearningRoute>::new()} />
                        <Route path=StaticSegment("postmortems") view={Lazy::<LearningRoute>::new()} />
                        <Route path=(StaticSegment("postmortems"), ParamSegment("id")) view={Lazy::<LearningRoute>::new()} />
                        <Route path=(StaticSegment("invitations"), ParamSegment("token")) view={Lazy::<InvitationRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("members")) view={Lazy::<MembersRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("api-keys")) view={Lazy::<TeamSettingsRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("webhooks")) view={Lazy::<TeamSettingsRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("audit-log")) view={Lazy::<TeamSettingsRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("account")) view={Lazy::<TeamSettingsRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("integrations")) view={Lazy::<IntegrationsRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("ai")) view={Lazy::<TeamSettingsRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("clusters")) view={Lazy::<ClustersRoute>::new()} />
                        <Route path=(StaticSegment("settings"), StaticSegment("clusters"), ParamSegment("id")) view={Lazy::<ClusterRoute>::new()} />
                    </Routes>
                </AppLayout>
            </WithViewer>
        </Router>
    }
}

/// Provides the signed-in user to everything inside the router.
#[component]
fn WithViewer(children: Children) -> impl IntoView {
    provide_viewer();
    children()
}

/// Marks the document once the browser has taken it over, so that people (and
/// end-to-end tests) can tell a live page from server-rendered HTML. Effects run
/// only in the browser, so the attribute never appears in server-rendered HTML.
fn mark_hydrated() {
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
