// The Nix store primitives (NAR, store paths, fixed-output paths) live in NixBuild, where building
// needs them; Provenance re-exports that module so its users see one vocabulary.
@_exported import NixBuild
