//! The signed-in user, known to every page: loaded with each navigation, so that the
//! header and pages follow sign-in, sign-out and team switches.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

use crate::api::accounts::current_viewer;
use crate::domain::account::{Permission, Viewer};
use crate::error::AppError;

/// The signed-in user (`None` when signed out), as a resource in context.
#[derive(Clone, Copy)]
pub struct ViewerResource(pub Resource<Result<Option<Viewer>, AppError>>);

/// Loads the viewer whenever the path changes, and provides it to every page.
pub fn provide_viewer() {
    let location = use_location();
    let resource = Resource::new(move || location.pathname.get(), |_| current_viewer());
    provide_context(ViewerResource(resource));
}

/// The viewer resource provided by [`provide_viewer`].
pub fn use_viewer() -> ViewerResource {
    expect_context::<ViewerResource>()
}

/// Renders `children` with the signed-in user; sends anyone else to the login page
/// (and back here afterwards), and a user in no team to their account page (where they
/// can create one) unless the page is `without_team`. It asks the server itself when
/// the page opens, rather than reading the header's copy, which may still describe the
/// previous page.
#[component]
pub fn SignedIn<F, IV>(
    children: F,
    /// The page works for a user in no team.
    #[prop(optional)]
    without_team: bool,
) -> impl IntoView
where
    F: Fn(Viewer) -> IV + Send + Sync + 'static,
    IV: IntoView + 'static,
{
    let viewer = Resource::new(|| (), |_| current_viewer());
    let location = use_location();
    let children = std::sync::Arc::new(children);
    // One `Suspend`, not a closure making one: on the server a boundary's closure is
    // called twice (once to find what it waits for, once to render), and each call would
    // make the page — and fetch and send its resources — anew; the browser would then
    // hydrate the second rendering with the first's data. A `Suspend` is awaited once,
    // and runs again by itself when the viewer changes.
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {Suspend::new(async move {
                match viewer.await {
                    Ok(Some(viewer)) if viewer.team.is_none() && !without_team => {
                        view! { <Redirect path="/settings/account" /> }.into_any()
                    }
                    Ok(Some(viewer)) => children(viewer).into_any(),
                    Ok(None) => {
                        let next = location.pathname.get_untracked();
                        view! { <Redirect path=format!("/login?next={next}") /> }.into_any()
                    }
                    Err(error) => {
                        view! {
                            <p class="form-error" role="alert">
                                {format!("Could not load your account: {error}")}
                            </p>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Like [`SignedIn`], for pages only some roles may use: others are told who may.
#[component]
pub fn Permitted<F, IV>(
    permission: Permission,
    /// Who may, e.g. "Only admins and owners manage API keys."
    refusal: &'static str,
    children: F,
) -> impl IntoView
where
    F: Fn() -> IV + Send + Sync + 'static,
    IV: IntoView + 'static,
{
    let children = std::sync::Arc::new(children);
    view! {
        <SignedIn children=move |viewer| {
            if viewer.can(permission) {
                children().into_any()
            } else {
                view! { <p class="form-error" role="alert">{refusal}</p> }.into_any()
            }
        } />
    }
}
