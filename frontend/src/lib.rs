//! The browser entry point: hydrates the server-rendered page and nothing else.

/// Called by the generated JavaScript once the WebAssembly module has loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy: the signed-in pages' code comes in parts of its own, loaded before the page
    // that needs one is hydrated.
    leptos::mount::hydrate_lazy(app::App);
}
