#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| settled_fuzz::verify_proto_transaction(data));
