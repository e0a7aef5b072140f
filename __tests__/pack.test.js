"use strict";
// The packed package as a user gets it: `npm pack`, then install the tarball
// into an empty project with no Rust toolchain on PATH (installing must not
// build anything), load it and deliver an event to a local Segment server.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync, execFile } = require("child_process");
const { promisify } = require("util");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { startSegmentServer } = require("./support/segment-server");

const ROOT = path.join(__dirname, "..");
const WRITE_KEY = "Rk3ghXLRmY3ln5mYx6KoqCzU9BBgYQvh";
const NEEDED = [
  "package.json",
  "native.js",
  "native.d.ts",
  "debugger.js",
  "debugger.d.ts",
  "segment.linux-x64-gnu.node",
  "bin/cli.js",
  "LICENSE",
];
const JUNK = /^(src|target|__tests__|e2e|bench|scripts|node_modules|\.ci|\.cargo|\.tmp)\/|^(Cargo\.(toml|lock)|build\.rs|rustfmt\.toml|\.gitignore)$|\.tgz$/;

/** The environment of a machine without Rust: no ~/.cargo/bin, no cargo variables, no outer npm run. */
function userEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|CARGO|RUSTUP|RUST)/i.test(k)) continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH || "")
    .split(path.delimiter)
    .filter((p) => p && !/\.cargo|rustup/.test(p))
    .join(path.delimiter);
  return env;
}

function run(cmd, args, opts) {
  const t = Date.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 300000, ...opts });
  r.ms = Date.now() - t;
  if (r.error) throw r.error;
  return r;
}

let tmp, pack, srv;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "segment-pack-"));
  // --ignore-scripts: pack the addon already built by `npm install` (pack would
  // otherwise run `prepare`, a second release build).
  const r = run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  pack = JSON.parse(r.stdout)[0];
  pack.tarball = path.join(tmp, pack.filename);
  srv = await startSegmentServer({ port: 0 });
});

after(async () => {
  if (srv) await srv.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("the tarball holds what a user needs and no build junk", (t) => {
  const files = pack.files.map((f) => f.path);
  for (const f of NEEDED) assert.ok(files.includes(f), `${f} is packed`);
  for (const dir of ["services/", "subscribers/"]) {
    if (fs.existsSync(path.join(ROOT, dir))) assert.ok(files.some((f) => f.startsWith(dir)), `${dir} is packed`);
  }
  for (const f of ["index.js", "index.d.ts", "README.md"]) {
    if (fs.existsSync(path.join(ROOT, f))) assert.ok(files.includes(f), `${f} is packed`);
  }
  const junk = files.filter((f) => JUNK.test(f));
  assert.deepEqual(junk, [], "no build junk");
  assert.ok(!files.some((f) => f.startsWith("dist/")), "no dist/ (Medusa would load it instead of the root)");
  t.diagnostic(`tarball ${pack.filename}: ${pack.size} bytes packed, ${pack.unpackedSize} unpacked, ${files.length} files`);
});

test("installs from the tarball without Rust, loads, and delivers an event", { timeout: 300000 }, async (t) => {
  const env = userEnv();
  for (const tool of ["cargo", "rustc"]) {
    const w = run("sh", ["-c", `command -v ${tool}`], { env });
    assert.notEqual(w.status, 0, `${tool} must not be on the test PATH (found ${w.stdout.trim()})`);
  }
  const project = path.join(tmp, "project");
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "empty-project", version: "1.0.0", private: true }));
  // npm 11 skips dependencies' install scripts unless approved; allow them all,
  // as npm 10 and older do, so a build script would show here. (A tarball
  // install runs `install` scripts but not `prepare`: checked with a probe.)
  fs.writeFileSync(path.join(project, ".npmrc"), "dangerously-allow-all-scripts=true\n");
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  for (const s of ["preinstall", "install", "postinstall"]) {
    assert.equal((manifest.scripts || {})[s], undefined, `no ${s} script: it would run for every user`);
  }

  // --foreground-scripts shows any lifecycle script's output: there must be none that builds.
  const inst = run(
    "npm",
    ["install", pack.tarball, "--no-audit", "--no-fund", "--prefer-offline", "--foreground-scripts"],
    { cwd: project, env }
  );
  assert.equal(inst.status, 0, `npm install failed:\n${inst.stdout}\n${inst.stderr}`);
  const out = inst.stdout + inst.stderr;
  assert.doesNotMatch(out, /napi build|cargo|Compiling/, "installing must not build");
  const installed = path.join(project, "node_modules", "medusa-plugin-segment-rs");
  assert.ok(fs.existsSync(path.join(installed, "segment.linux-x64-gnu.node")));
  assert.ok(!fs.existsSync(path.join(installed, "target")), "no target/ after install");
  t.diagnostic(`npm install of the tarball: ${inst.ms} ms`);

  // The bin is linked and runs.
  const help = run(path.join(project, "node_modules", ".bin", "medusa-plugin-segment-rs"), ["--help"], { cwd: project, env });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /debugger/);

  // Load it from the empty project and deliver: through SegmentService when the
  // package has its main module, and always through the installed collector.
  const script = `
    const KEY = ${JSON.stringify(WRITE_KEY)};
    const segmentUrl = process.argv[1];
    (async () => {
      const out = {};
      const { startDebugger } = require("medusa-plugin-segment-rs/debugger");
      const dbg = await startDebugger({ print: false });
      let main = null;
      try { main = require("medusa-plugin-segment-rs"); } catch (e) { out.mainError = e.code || e.message; }
      if (main && main.SegmentService) {
        const opts = { write_key: KEY, flush_at: 1, flush_interval: 100 };
        for (const host of [segmentUrl, dbg.url]) {
          const s = new main.SegmentService({}, { ...opts, host });
          s.track({ userId: "cus_pack", event: "Order Completed", properties: { order_id: "order_pack", revenue: 10, currency: "EUR" } });
          await s.flush();
        }
        out.via = "SegmentService";
      } else {
        const r = await fetch(dbg.url + "/v1/track", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Basic " + Buffer.from(KEY + ":").toString("base64") },
          body: JSON.stringify({ userId: "cus_pack", event: "Order Completed", properties: { order_id: "order_pack" } }),
        });
        out.status = r.status;
        out.via = "collector only";
      }
      out.collector = dbg.messages();
      out.resolved = require.resolve("medusa-plugin-segment-rs/debugger");
      await dbg.close();
      console.log(JSON.stringify(out));
      process.exit(0);
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  // Asynchronously: the Segment server runs in this process and must keep answering.
  const load = await promisify(execFile)(process.execPath, ["-e", script, srv.url], { cwd: project, env, timeout: 60000 });
  const res = JSON.parse(load.stdout.trim().split("\n").pop());
  assert.ok(res.resolved.startsWith(installed), `loaded from the installed copy: ${res.resolved}`);
  assert.equal(res.collector.length, 1, "the installed collector received the event");
  assert.equal(res.collector[0].event, "Order Completed");
  assert.equal(res.collector[0].properties.order_id, "order_pack");
  if (pack.files.some((f) => f.path === "index.js")) {
    assert.equal(res.via, "SegmentService", res.mainError);
    const got = await srv.waitForMessages(1, 10000);
    assert.equal(got[0].event, "Order Completed");
    assert.equal(got[0].userId, "cus_pack");
    assert.equal(got[0].properties.order_id, "order_pack");
  } else {
    t.diagnostic(`index.js is not in this package yet (${res.mainError}): delivery checked through the installed collector only`);
    assert.equal(res.status, 200);
  }
});
