//! Test support: stand-in servers speaking the real exchange wire formats on 127.0.0.1.
