//! The application frame every page sits in: header with navigation, content area, footer.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::PRODUCT_NAME;
use crate::api::accounts::{LogOut, SwitchTeam};
use crate::components::viewer::{ViewerResource, use_viewer};
use crate::domain::account::{Permission, Viewer};

/// One entry of the main navigation.
struct NavEntry {
    href: &'static str,
    label: &'static str,
    /// Shown only to members whose role allows this; `None`: to everyone it is listed for.
    permission: Option<Permission>,
}

/// For visitors who are not signed in.
const PUBLIC_NAVIGATION: &[NavEntry] = &[
    NavEntry { href: "/", label: "Home", permission: None },
    NavEntry { href: "/status", label: "Status", permission: None },
    NavEntry { href: "/pricing", label: "Pricing", permission: None },
];

/// For signed-in members. Each feature adds its page here when it lands.
const TEAM_NAVIGATION: &[NavEntry] = &[
    NavEntry { href: "/dashboard", label: "Dashboard", permission: Some(Permission::ReadTeam) },
    NavEntry { href: "/incidents", label: "Incidents", permission: Some(Permission::ReadTeam) },
    NavEntry { href: "/runbooks", label: "Runbooks", permission: Some(Permission::ReadTeam) },
    NavEntry {
        href: "/settings/integrations",
        label: "Integrations",
        permission: Some(Permission::ManageIntegrations),
    },
    NavEntry { href: "/settings/clusters", label: "Clusters", permission: Some(Permission::ReadTeam) },
    NavEntry { href: "/settings/ai", label: "AI", permission: Some(Permission::ManageIntegrations) },
    NavEntry { href: "/settings/members", label: "Members", permission: Some(Permission::ReadTeam) },
    NavEntry { href: "/settings/api-keys", label: "API keys", permission: Some(Permission::ManageApiKeys) },
    NavEntry { href: "/settings/webhooks", label: "Webhooks", permission: Some(Permission::ManageIntegrations) },
    NavEntry { href: "/settings/audit-log", label: "Audit log", permission: Some(Permission::ReadAuditLog) },
    NavEntry { href: "/settings/billing", label: "Billing", permission: Some(Permission::ManageBilling) },
    NavEntry { href: "/settings/account", label: "Account", permission: None },
];

fn nav_links(entries: &'static [NavEntry], viewer: Option<&Viewer>) -> impl IntoView + use<> {
    let visible: Vec<&NavEntry> = entries
        .iter()
        .filter(|entry| entry.permission.is_none_or(|permission| viewer.is_some_and(|v| v.can(permission))))
        .collect();
    visible
        .into_iter()
        .map(|entry| {
            view! {
                <li>
                    <A href=entry.href exact=true>
                        {entry.label}
                    </A>
                </li>
            }
        })
        .collect_view()
}

/// Header, navigation and footer around the current page; errors inside a page are
/// caught here and shown in place of the page, with the frame still usable.
#[component]
pub fn AppLayout(children: Children) -> impl IntoView {
    let ViewerResource(viewer) = use_viewer();
    // Below 768 px the navigation sits behind the menu button; it closes again when
    // a page is chosen.
    let menu_open = RwSignal::new(false);
    // The signed-in user's menu is drawn once the browser has taken the page over: its
    // code is a part of the bundle of its own, loaded then, so hydration never waits on it.
    let taken_over = RwSignal::new(false);
    Effect::new(move |_| taken_over.set(true));
    let location = leptos_router::hooks::use_location();
    Effect::new(move |_| {
        location.pathname.track();
        menu_open.set(false);
    });
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <div class="container header-row">
                <A href="/" attr:class="brand">
                    <img src="/favicon.svg" alt="" width="28" height="28" />
                    <span>{PRODUCT_NAME}</span>
                </A>
                <button
                    type="button"
                    class="button secondary menu-button"
                    aria-controls="site-nav"
                    aria-expanded=move || menu_open.get().to_string()
                    on:click=move |_| menu_open.update(|open| *open = !*open)
                >
                    "Menu"
                </button>
                <div id="site-nav" class="site-nav" class:open=move || menu_open.get()>
                <Transition fallback=|| {
                    view! {
                        <nav aria-label="Main">
                            <ul class="nav-list">{nav_links(PUBLIC_NAVIGATION, None)}</ul>
                        </nav>
                    }
                }>
                    {move || {
                        let viewer = viewer.get().and_then(Result::ok).flatten();
                        match viewer {
                            Some(viewer) => {
                                view! {
                                    <nav aria-label="Main">
                                        <ul class="nav-list">{nav_links(TEAM_NAVIGATION, Some(&viewer))}</ul>
                                    </nav>
                                    <div class="account-menu">
                                        {
                                            let viewer = viewer.clone();
                                            move || {
                                                taken_over.get().then(|| Suspend::new(account_menu(viewer.clone())))
                                            }
                                        }
                                    </div>
                                }
                                    .into_any()
                            }
                            None => {
                                view! {
                                    <nav aria-label="Main">
                                        <ul class="nav-list">{nav_links(PUBLIC_NAVIGATION, None)}</ul>
                                    </nav>
                                    <div class="account-menu">
                                        <A href="/login" attr:class="button secondary">
                                            "Log in"
                                        </A>
                                        <A href="/signup" attr:class="button">
                                            "Sign up"
                                        </A>
                                    </div>
                                }
                                    .into_any()
                            }
                        }
                    }}
                </Transition>
                </div>
            </div>
        </header>
        <main id="main" class="container content" tabindex="-1">
            <ErrorBoundary fallback=|errors| {
                view! { <PageError errors /> }
            }>{children()}</ErrorBoundary>
        </main>
        <footer class="site-footer">
            <div class="container">
                <span>{PRODUCT_NAME} " " {env!("CARGO_PKG_VERSION")}</span>
                <span class="muted">"AI-assisted on-call for Kubernetes teams"</span>
            </div>
        </footer>
    }
}

/// The signed-in user's menu, in its own part of the bundle: a first visit is signed out,
/// and its budget is tight (docs/benchmarks.md).
#[lazy]
fn account_menu(viewer: Viewer) -> AnyView {
    view! {
        <TeamSwitcher viewer />
        <LogOutButton />
    }
    .into_any()
}

/// Chooses the team to work in, among the signed-in user's teams. Everything on the
/// page belongs to the previous team, so the page is loaded afresh once switched.
#[component]
fn TeamSwitcher(viewer: Viewer) -> impl IntoView {
    let switch = ServerAction::<SwitchTeam>::new();
    let active = viewer.team.as_ref().map(|team| team.team_id);
    Effect::new(move |_| {
        if let Some(Ok(())) = switch.value().get() {
            let _ = window().location().reload();
        }
    });
    view! {
        <label class="team-switcher">
            <span class="visually-hidden">"Team"</span>
            <select
                aria-label="Team"
                data-testid="team-switcher"
                on:change=move |event| {
                    if let Ok(team_id) = event_target_value(&event).parse::<uuid::Uuid>() {
                        switch.dispatch(SwitchTeam { team_id });
                    }
                }
            >
                {viewer
                    .teams
                    .into_iter()
                    .map(|team| {
                        view! {
                            <option value=team.team_id.to_string() selected=Some(team.team_id) == active>
                                {team.team_name}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </label>
    }
}

/// Signs out.
#[component]
fn LogOutButton() -> impl IntoView {
    let log_out = ServerAction::<LogOut>::new();
    view! {
        <ActionForm action=log_out attr:class="inline-form">
            <button type="submit" class="button secondary">
                "Log out"
            </button>
        </ActionForm>
    }
}

/// What a page shows instead of its content when rendering it failed.
#[component]
fn PageError(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <section class="panel error-panel" role="alert">
            <h1>"Something went wrong"</h1>
            <p>"This page could not be shown. Reload to try again; if it keeps happening, the details are in the server log."</p>
            <ul>
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, error)| view! { <li>{error.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
        </section>
    }
}
