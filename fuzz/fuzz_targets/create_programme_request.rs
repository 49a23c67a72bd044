#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| settled_fuzz::create_programme_request(data));
