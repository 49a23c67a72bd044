#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| settled_fuzz::get_programme_stats_request(data));
