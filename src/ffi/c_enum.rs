//! The C enums (`vtf_status`, `vtf_tls_mode`, `vtf_sanitizer`) from one
//! macro: the `repr(C)` enum, the C int it arrives as, `TryFrom<c_int>`, its
//! C names, the mapping to the Rust enum it mirrors, and the Rust source
//! cbindgen reads for it.
//!
//! C passes an enum as a plain int; a Rust enum parameter holding a value it
//! does not declare would be undefined behaviour, so parameters are the raw
//! int (`vtf_status` etc. in vtf.h by cbindgen.toml's renames) and checked
//! with `TryFrom`. cbindgen does not expand macros (without nightly), so
//! the macro also writes the enum out as text ([`cbindgen_sources`]), which
//! tests/header.rs hands to cbindgen along with the crate's sources.

/// ```ignore
/// c_enum! {
///     /// docs
///     pub enum vtf_tls_mode as RawTlsMode, rust TlsMode {
///         /// docs
///         VTF_TLS_OFF = 0 => (TlsMode::Off),
///         VTF_TLS_ON => (TlsMode::On),
///     }
/// }
/// ```
/// A variant without `=> (rust)` has no Rust counterpart (`VTF_OK`); every
/// Rust value must have one C variant (the match in `from_rust` is exhaustive).
macro_rules! c_enum {
    (
        $(#[doc = $doc:literal])*
        pub enum $name:ident as $raw:ident, rust $rust_ty:ty {
            $(
                $(#[doc = $vdoc:literal])*
                $variant:ident $(= $value:literal)? $(=> $rust:tt)?
            ),+ $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        pub enum $name {
            $( $(#[doc = $vdoc])* $variant $(= $value)?, )+
        }

        #[doc = concat!("A `", stringify!($name), "` as C passes it: any int, checked with ",
                        "`TryFrom`. `", stringify!($name), "` in vtf.h.")]
        pub type $raw = ::std::ffi::c_int;

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            pub(crate) const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The C name, e.g. "VTF_OK".
            pub(crate) fn name(self) -> &'static ::std::ffi::CStr {
                match self {
                    $( $name::$variant => $crate::ffi::c_enum::c_name(
                        concat!(stringify!($variant), "\0")), )+
                }
            }

            /// The Rust value this C value stands for (an error for one that
            /// has none, like `VTF_OK`).
            #[allow(dead_code)]
            pub(crate) fn to_rust(self) -> Result<$rust_ty, $crate::error::Error> {
                let rust: Option<$rust_ty> = match self {
                    $( $name::$variant => c_enum!(@some $($rust)?), )+
                };
                rust.ok_or_else(|| $crate::error::Error::invalid(format!(
                    "{} has no meaning here", self.name().to_string_lossy()
                )))
            }

            /// The C value of a Rust value.
            #[allow(dead_code, unused_parens)]
            pub(crate) fn from_rust(rust: $rust_ty) -> $name {
                match rust {
                    $( $($rust => $name::$variant,)? )+
                }
            }

            /// The enum as Rust source, for cbindgen.
            pub(crate) const CBINDGEN_SOURCE: &'static str = concat!(
                $("#[doc = ", stringify!($doc), "]\n",)*
                "#[repr(C)]\npub enum ", stringify!($name), " {\n",
                $(
                    $("    #[doc = ", stringify!($vdoc), "]\n",)*
                    "    ", stringify!($variant), $(" = ", stringify!($value),)? ",\n",
                )+
                "}\n"
            );
        }

        impl TryFrom<::std::ffi::c_int> for $name {
            type Error = $crate::error::Error;

            fn try_from(raw: ::std::ffi::c_int) -> Result<Self, Self::Error> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| *v as ::std::ffi::c_int == raw)
                    .ok_or_else(|| $crate::error::Error::invalid(format!(
                        "{raw} is not a {}", stringify!($name)
                    )))
            }
        }
    };
    (@some) => { None };
    (@some $rust:tt) => { Some($rust) };
}

/// A `concat!(NAME, "\0")` as a C string.
pub(crate) const fn c_name(with_nul: &'static str) -> &'static std::ffi::CStr {
    match std::ffi::CStr::from_bytes_with_nul(with_nul.as_bytes()) {
        Ok(name) => name,
        Err(_) => c"?",
    }
}

/// The C enums as Rust source, for cbindgen (see the module comment);
/// tests/header.rs adds them to what it generates vtf.h from.
#[doc(hidden)]
pub fn cbindgen_sources() -> String {
    [
        super::vtf_status::CBINDGEN_SOURCE,
        super::config::vtf_tls_mode::CBINDGEN_SOURCE,
        super::build::vtf_sanitizer::CBINDGEN_SOURCE,
    ]
    .concat()
}
