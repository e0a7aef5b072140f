"use strict";
// The packed packages as a user gets them: the main tarball (with the
// optionalDependencies a release adds) and one tarball per platform package,
// installed offline into an empty project with no Rust toolchain on PATH
// (installing must not build anything); exactly this machine's platform
// package must be installed, load, and deliver an event to a local Segment
// server. The other platforms' resolution is checked with npm's --os/--cpu/--libc.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync, execFile } = require("child_process");
const { promisify } = require("util");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { startSegmentServer } = require("./support/segment-server");
const { stagePackages, installOffline, hostPlatform } = require("../scripts/stage-packages");

const ROOT = path.join(__dirname, "..");
const WRITE_KEY = "Rk3ghXLRmY3ln5mYx6KoqCzU9BBgYQvh";
const NEEDED = [
  "package.json",
  "native.js",
  "native.d.ts",
  "debugger.js",
  "debugger.d.ts",
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

/** This machine as npm (--os/--cpu/--libc) and the napi loader name it. */
const HOST = {
  os: process.platform,
  cpu: process.arch,
  libc: process.platform === "linux" ? (process.report.getReport().header.glibcVersionRuntime ? "glibc" : "musl") : undefined,
  platform: hostPlatform(),
};

let tmp, staged, pack, srv;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "segment-pack-"));
  // The host's binary is the one `npm install` / `npm run build` just built
  // (npm run build:all writes the shipped ones into npm/<platform>/).
  const local = path.join(ROOT, `segment.${HOST.platform}.node`);
  staged = stagePackages(tmp, { binaries: fs.existsSync(local) ? { [HOST.platform]: local } : {} });
  pack = { ...staged.main, filename: path.basename(staged.main.tarball) };
  srv = await startSegmentServer({ port: 0 });
});

after(async () => {
  if (srv) await srv.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("the tarball holds what a user needs and no build junk", (t) => {
  const files = pack.files;
  for (const f of NEEDED) assert.ok(files.includes(f), `${f} is packed`);
  for (const dir of ["services/", "subscribers/"]) {
    if (fs.existsSync(path.join(ROOT, dir))) assert.ok(files.some((f) => f.startsWith(dir)), `${dir} is packed`);
  }
  // the storefront helper (ESM, CJS, types) and the plugin's store middleware
  for (const f of ["storefront/index.mjs", "storefront/index.cjs", "storefront/index.d.ts", ".medusa/server/src/api/middlewares.js"]) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  for (const f of ["index.js", "index.d.ts", "README.md"]) {
    if (fs.existsSync(path.join(ROOT, f))) assert.ok(files.includes(f), `${f} is packed`);
  }
  const junk = files.filter((f) => JUNK.test(f));
  assert.deepEqual(junk, [], "no build junk");
  assert.ok(!files.some((f) => f.startsWith("dist/")), "no dist/ (Medusa would load it instead of the root)");
  assert.deepEqual(files.filter((f) => f.endsWith(".node")), [], "no binary in the main package: they ship per platform");
  const manifest = JSON.parse(fs.readFileSync(path.join(tmp, "staging", "main", "package.json"), "utf8"));
  assert.deepEqual(
    Object.keys(manifest.optionalDependencies).sort(),
    Object.values(staged.platforms).map((p) => p.name).sort(),
    "one optional dependency per platform package"
  );
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
  // npm 11 skips dependencies' install scripts unless approved; allow them all,
  // as npm 10 and older do, so a build script would show here. (A tarball
  // install runs `install` scripts but not `prepare`: checked with a probe.)
  fs.writeFileSync(path.join(project, ".npmrc"), "dangerously-allow-all-scripts=true\n");
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  for (const s of ["preinstall", "install", "postinstall"]) {
    assert.equal((manifest.scripts || {})[s], undefined, `no ${s} script: it would run for every user`);
  }

  // Offline, this machine's os/cpu/libc spelled out; --foreground-scripts
  // shows any lifecycle script's output: there must be none that builds.
  const host = staged.platforms[HOST.platform];
  assert.ok(host && host.hasBinary, `a ${HOST.platform} binary to pack: run npm run build`);
  const inst = installOffline(staged, project, HOST, env);
  assert.doesNotMatch(inst.out, /napi build|cargo|Compiling/, "installing must not build");
  assert.deepEqual(inst.installed, ["medusa-plugin-segment-rs", host.name], "the main package and exactly this platform's");
  const installed = path.join(project, "node_modules", "medusa-plugin-segment-rs");
  const binary = path.join(project, "node_modules", host.name, host.manifest.main);
  assert.ok(fs.existsSync(binary), `${host.manifest.main} installed`);
  assert.ok(!fs.existsSync(path.join(installed, "target")), "no target/ after install");
  t.diagnostic(`offline npm install of main + ${host.name} (${host.size} bytes packed, binary from ${path.relative(ROOT, host.binarySource)}): ${inst.ms} ms`);

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
      out.loaded = process.report.getReport().sharedObjects.filter((f) => f.endsWith(".node"));
      await dbg.close();
      console.log(JSON.stringify(out));
      process.exit(0);
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  // Asynchronously: the Segment server runs in this process and must keep answering.
  const load = await promisify(execFile)(process.execPath, ["-e", script, srv.url], { cwd: project, env, timeout: 60000 });
  const res = JSON.parse(load.stdout.trim().split("\n").pop());
  assert.ok(res.resolved.startsWith(installed), `loaded from the installed copy: ${res.resolved}`);
  assert.deepEqual(res.loaded.map((f) => fs.realpathSync(f)), [fs.realpathSync(binary)], "the native code came from the platform package");
  assert.equal(res.collector.length, 1, "the installed collector received the event");
  assert.equal(res.collector[0].event, "Order Completed");
  assert.equal(res.collector[0].properties.order_id, "order_pack");
  if (pack.files.includes("index.js")) {
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

test("npm picks exactly the matching platform package for every other os/cpu/libc", { timeout: 300000 }, (t) => {
  // What a Docker build for another platform, or a lock file written on a Mac
  // and installed on Alpine, would get. Binaries not built here are packed as
  // manifests only: this checks npm's choice, not the binary (npm run test:platforms does).
  for (const p of Object.values(staged.platforms)) {
    if (p.platform === HOST.platform) continue;
    const want = { os: p.manifest.os[0], cpu: p.manifest.cpu[0], libc: p.manifest.libc && p.manifest.libc[0] };
    const r = installOffline(staged, path.join(tmp, `project-${p.platform}`), want, userEnv());
    assert.deepEqual(r.installed, ["medusa-plugin-segment-rs", p.name], `--os=${want.os} --cpu=${want.cpu} --libc=${want.libc}`);
    t.diagnostic(`${p.platform}: ${r.installed[1]} (${r.ms} ms)`);
  }
});

test("a lock file written for another platform installs this machine's package", { timeout: 300000 }, (t) => {
  // E.g. package-lock.json committed from a Mac, `npm ci` in a Linux image:
  // the lock lists every platform package with its os/cpu/libc.
  const other = Object.values(staged.platforms).find((p) => p.platform !== HOST.platform);
  const from = path.join(tmp, `project-${other.platform}`);
  const lock = JSON.parse(fs.readFileSync(path.join(from, "package-lock.json"), "utf8"));
  const locked = Object.keys(lock.packages).filter((k) => k.startsWith("node_modules/medusa-plugin-segment-rs-"));
  assert.equal(locked.length, Object.keys(staged.platforms).length, "the lock lists all platform packages");

  const project = path.join(tmp, "project-ci");
  fs.mkdirSync(project);
  for (const f of ["package.json", "package-lock.json"]) fs.copyFileSync(path.join(from, f), path.join(project, f));
  const cache = fs.mkdtempSync(path.join(tmp, "npm-cache-"));
  const r = run("npm", ["ci", "--offline", "--cache", cache, "--no-audit", "--no-fund"], { cwd: project, env: userEnv() });
  assert.equal(r.status, 0, r.stderr);
  const installed = fs.readdirSync(path.join(project, "node_modules")).filter((d) => d.startsWith("medusa-plugin-segment-rs")).sort();
  assert.deepEqual(installed, ["medusa-plugin-segment-rs", staged.platforms[HOST.platform].name]);
  t.diagnostic(`lock written for ${other.platform}; npm ci here installed ${installed[1]} (${r.ms} ms)`);
});
