//! The embedded emulator of the Entra ID token endpoint and the Office 365 Management Activity API.

pub mod cli;
