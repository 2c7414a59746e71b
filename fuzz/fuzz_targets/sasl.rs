#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| odradek::fuzz::sasl(data));
