#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| app::server::fuzzing::kubeconfig(data));
