//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the files it finds, and
//! only tracks the ones that existed when it last ran.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
