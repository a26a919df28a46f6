// hop's `npm`: the node seed carries no npm, and hop never installs packages at run time, so this
// runs package.json scripts the way npm does for `npm start`, `npm test` and `npm run NAME`
// (pre/post scripts, node_modules/.bin on PATH, npm_* variables). Anything else is refused.
"use strict";
const fs = require("fs");
const path = require("path");
const { spawn, spawnSync } = require("child_process");

const args = process.argv.slice(2);
let name, rest;
if (["start", "test", "stop", "restart"].includes(args[0])) { name = args[0]; rest = args.slice(1); }
else if ((args[0] === "run" || args[0] === "run-script") && args[1]) { name = args[1]; rest = args.slice(2); }
else {
  console.error(`hop: \`npm ${args.join(" ")}\` needs the real npm, which hop does not ship: hop's npm runs package.json scripts only (npm start, npm test, npm run NAME)`);
  process.exit(2);
}
if (rest[0] === "--") rest = rest.slice(1);
const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
const scripts = pkg.scripts || {};
let script = scripts[name];
if (script === undefined && name === "start" && fs.existsSync("server.js")) script = "node server.js";
if (script === undefined) { console.error(`npm: missing script: "${name}" in package.json`); process.exit(1); }

const quote = (a) => "'" + a.replace(/'/g, "'\\''") + "'";
const env = Object.assign({}, process.env, {
  PATH: path.resolve("node_modules/.bin") + ":" + process.env.PATH,
  npm_lifecycle_event: name, npm_package_name: pkg.name || "", npm_package_version: pkg.version || "",
});
const run = (cmd) => spawnSync("sh", ["-c", cmd], { stdio: "inherit", env }).status;
if (scripts["pre" + name] !== undefined) {
  const s = run(scripts["pre" + name]);
  if (s !== 0) process.exit(s === null ? 1 : s);
}
// The main script runs as a child that receives our signals (systemd's stop), its status ours.
const child = spawn("sh", ["-c", [script, ...rest.map(quote)].join(" ")], { stdio: "inherit", env });
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => {
  if (code === 0 && scripts["post" + name] !== undefined) code = run(scripts["post" + name]);
  process.exit(code === null ? (signal ? 128 + 15 : 1) : code);
});
