#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| settled_fuzz::get_net_positions_request(data));
