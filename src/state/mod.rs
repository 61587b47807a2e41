//! Placeholder: see the open issue that builds this module.
