//! Host-side bindings of the WIT packages, one module per WIT version (the Zed model): each
//! holds its `bindgen!` and converts its generated types into the version-free ones of
//! [`crate::runtime`], so the rest of Komander never sees a WIT version. `latest` is the
//! version the capabilities are written against, once; an older version's host imports would
//! be served by converting into it. A guest exporting an older version of an interface it
//! implements (`komander:runtime@0.1`) is refused at load (`engine::classify`), never
//! converted: converting a spec down would silently drop fields.

mod v0_2;

pub use v0_2::*;
