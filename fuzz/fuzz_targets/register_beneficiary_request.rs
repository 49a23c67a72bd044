#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| settled_fuzz::register_beneficiary_request(data));
