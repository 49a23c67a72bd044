#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| settled_fuzz::get_balance_request(data));
