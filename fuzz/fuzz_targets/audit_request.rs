#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| settled_fuzz::audit_request(data));
