//! The application frame every page sits in: header with navigation, content area, footer.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::PRODUCT_NAME;

/// One entry of the main navigation. Only pages that exist are listed here; each later
/// feature adds its own entry when its page lands.
struct NavEntry {
    href: &'static str,
    label: &'static str,
}

const NAVIGATION: &[NavEntry] = &[NavEntry { href: "/", label: "Home" }, NavEntry { href: "/status", label: "Status" }];

/// Header, navigation and footer around the current page; errors inside a page are
/// caught here and shown in place of the page, with the frame still usable.
#[component]
pub fn AppLayout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <div class="container header-row">
                <A href="/" attr:class="brand">
                    <img src="/favicon.svg" alt="" width="28" height="28" />
                    <span>{PRODUCT_NAME}</span>
                </A>
                <nav aria-label="Main">
                    <ul class="nav-list">
                        {NAVIGATION
                            .iter()
                            .map(|entry| {
                                view! {
                                    <li>
                                        <A href=entry.href exact=true>
                                            {entry.label}
                                        </A>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </nav>
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
