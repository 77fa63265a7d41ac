//! What llws learns from the model files a profile names, as opposed to what the user
//! writes (`crate::config`): every part of a split model ([`files`]), the GGUF metadata
//! ([`gguf`]) and the per-layer shape llama.cpp allocates for ([`layers`]), the launch
//! settings the effective argv gives ([`launch`]), the pre-load footprint and where it fits
//! ([`estimate`]), the warnings that
//! need the metadata ([`lint`]) or the GPUs as well ([`hardware_lint`]), and the samplers
//! a server starts with ([`samplers`]).

pub mod advice;
pub mod estimate;
pub mod files;
pub mod gguf;
pub mod gguf_extent;
pub mod hardware_lint;
pub mod launch;
pub mod layers;
pub mod lint;
pub mod samplers;
