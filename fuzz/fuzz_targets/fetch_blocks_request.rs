#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| settled_fuzz::fetch_blocks_request(data));
