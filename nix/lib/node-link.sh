ln -s "$nodeModules/node_modules" "$out/app/node_modules"
