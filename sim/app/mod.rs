//! Applications that run inside a netns and print what their Linux counterparts print.
pub mod ping;
pub mod udp_echo;
