# Generic app builder: unpack, run build steps, write launchers and manifest.
. "$common"
hop_unpack
if [ -n "${recipeStep:-}" ]; then . "$recipeStep"; fi
hop_run_steps before-build "$beforeBuild"
hop_run_steps build "$buildCommands"
hop_launchers
hop_manifest
