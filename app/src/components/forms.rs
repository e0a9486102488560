//! Pieces every form uses: field errors next to their field, the form-level error,
//! and the submit button's busy state.

use leptos::prelude::*;

use crate::error::AppError;

/// The outcome of a form's last submission, as its server action keeps it.
pub type Outcome<T> = Signal<Option<Result<T, AppError>>>;

/// The message for `field` from the last submission, shown under the field.
#[component]
pub fn FieldError<T: Clone + Send + Sync + 'static>(
    #[prop(into)] outcome: Outcome<T>,
    field: &'static str,
) -> impl IntoView {
    let message = move || {
        outcome.with(|outcome| match outcome {
            Some(Err(error)) => error.message_for(field).map(str::to_string),
            _ => None,
        })
    };
    view! {
        <Show when=move || message().is_some()>
            <p class="field-error" id=format!("{field}-error") role="alert">
                {message}
            </p>
        </Show>
    }
}

/// Errors of the last submission that belong to no field (e.g. "try again in 15 minutes").
#[component]
pub fn FormError<T: Clone + Send + Sync + 'static>(#[prop(into)] outcome: Outcome<T>) -> impl IntoView {
    let message = move || {
        outcome.with(|outcome| match outcome {
            Some(Err(AppError::Validation(_))) | None | Some(Ok(_)) => None,
            Some(Err(error)) => Some(error.to_string()),
        })
    };
    view! {
        <Show when=move || message().is_some()>
            <p class="form-error" role="alert">
                {message}
            </p>
        </Show>
    }
}

/// A labelled input, its hint, and its error from the last submission, which also
/// marks the input invalid for assistive technology.
#[component]
pub fn Field<T: Clone + Send + Sync + 'static>(
    #[prop(into)] outcome: Outcome<T>,
    /// The form field's name, as the server function's argument.
    name: &'static str,
    label: &'static str,
    /// The element id; the name when not given.
    #[prop(optional)]
    id: Option<&'static str>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] maxlength: Option<u32>,
    #[prop(optional)] placeholder: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional, into)] value: Option<String>,
    #[prop(optional)] readonly: bool,
) -> impl IntoView {
    let id = id.unwrap_or(name);
    let hint_id = hint.map(|_| format!("{id}-hint"));
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                maxlength=maxlength
                placeholder=placeholder
                value=value
                readonly=readonly
                aria-describedby=hint_id.clone()
                aria-invalid=invalid(outcome, name)
            />
            {hint.map(|hint| view! { <p class="hint" id=hint_id>{hint}</p> })}
            <FieldError outcome field=name />
        </div>
    }
}

/// A button that asks before it does something that cannot be undone.
#[component]
pub fn ConfirmButton(
    label: &'static str,
    /// The question the person confirms, e.g. "Remove ana@example.com from the team?".
    question: String,
    on_confirm: impl Fn() + Send + Sync + 'static,
    #[prop(default = "button secondary small danger")] class: &'static str,
) -> impl IntoView {
    view! {
        <button
            type="button"
            class=class
            on:click=move |_| {
                if window().confirm_with_message(&question).unwrap_or(false) {
                    on_confirm();
                }
            }
        >
            {label}
        </button>
    }
}

/// What a page shows when its data could not be loaded: the reason and a way to try
/// again.
#[component]
pub fn LoadError(
    /// What could not be loaded, e.g. "The incidents".
    what: &'static str,
    error: AppError,
    retry: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="form-error" role="alert">
            <p>{format!("{what} could not be loaded: {error}")}</p>
            <button type="button" class="button secondary small" on:click=move |_| retry()>
                "Try again"
            </button>
        </div>
    }
}

/// A submit button that says it is working while the action runs.
#[component]
pub fn SubmitButton(
    pending: Memo<bool>,
    label: &'static str,
    busy_label: &'static str,
    #[prop(optional)] class: &'static str,
) -> impl IntoView {
    view! {
        <button type="submit" class=format!("button {class}") disabled=move || pending.get()>
            {move || if pending.get() { busy_label } else { label }}
        </button>
    }
}

/// `aria-invalid` for a field, from the last submission.
pub fn invalid<T: Clone + Send + Sync + 'static>(
    outcome: Outcome<T>,
    field: &'static str,
) -> impl Fn() -> Option<&'static str> {
    move || {
        outcome
            .with(|outcome| matches!(outcome, Some(Err(error)) if error.message_for(field).is_some()))
            .then_some("true")
    }
}
