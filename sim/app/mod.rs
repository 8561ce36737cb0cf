//! Applications that run inside a netns and print what their Linux counterparts print.
pub mod ping;
pub mod ping_mesh;
pub mod udp_echo;
