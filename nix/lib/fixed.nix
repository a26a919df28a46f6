# A content-addressed input (source archive, wheel, npm tarball): a fixed-output derivation.
# hop adds the file to the store first (`nix-store --add-fixed`), so no fetch happens when the
# path is already valid; on another machine the URL is fetched and checked against the hash.
{ name, url, sha256 ? "", hash ? "", executable ? false }:
import <nix/fetchurl.nix> ({ inherit name url executable; } // (if hash != "" then { inherit hash; } else { inherit sha256; }))
