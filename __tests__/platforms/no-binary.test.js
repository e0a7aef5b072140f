"use strict";
// A machine without a usable binary: the package's JS files with no .node next
// to them and no medusa-plugin-segment-rs-<platform> package installed, as a
// user gets them on a platform nothing is published for (or after installing
// with --omit=optional). Loading must fail with one clear error naming the
// platform, arch and libc and the fix, not the napi loader's npm-bug message.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const ROOT = path.join(__dirname, "..", "..");
let dir;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "segment-nobin-"));
  for (const f of ["index.js", "native.js", "debugger.js", "package.json", "lib"]) {
    fs.cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true });
  }
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** require(entry) in a fresh Node, optionally pretending to be another platform/arch. */
function load(entry, fake = {}) {
  const pre = Object.entries(fake)
    .map(([k, v]) => `Object.defineProperty(process, ${JSON.stringify(k)}, { value: ${JSON.stringify(v)} });`)
    .join("");
  const r = spawnSync(process.execPath, ["-e", `${pre} require(${JSON.stringify(path.join(dir, entry))})`], {
    encoding: "utf8",
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: "" },
  });
  assert.notEqual(r.status, 0, "loading must fail");
  return r.stderr;
}

test("a published platform whose package is missing: names it and says how to reinstall", () => {
  const err = load("index.js");
  const glibc = process.report.getReport().header.glibcVersionRuntime;
  const libc = glibc ? `glibc ${glibc}` : "musl";
  const name = `${process.platform}-${process.arch}${process.platform === "linux" ? (glibc ? "-gnu" : "-musl") : ""}`;
  assert.match(err, new RegExp(`no native binary could be loaded for ${name} \\(platform ${process.platform}, arch ${process.arch}`));
  if (process.platform === "linux") assert.ok(err.includes(`libc ${libc}`), err);
  assert.ok(err.includes(`optional dependency medusa-plugin-segment-rs-${name}`), err);
  assert.match(err, /without --omit=optional/);
  assert.match(err, /npm install --os=\w+ --cpu=\w+/);
  assert.doesNotMatch(err, /npm\/cli\/issues\/4828|Cannot find native binding/, "not the loader's message");
});

test("an unpublished platform (linux riscv64): names platform, arch and libc, offers issue or source build", () => {
  const err = load("index.js", { platform: "linux", arch: "riscv64" });
  assert.match(err, /no native binary could be loaded for linux-riscv64-(gnu|musl) \(platform linux, arch riscv64, libc (glibc [\d.]+|musl)/);
  assert.match(err, /No prebuilt binary is published for linux-riscv64/);
  const listed = err.match(/prebuilt: ([^.]+)\./)[1].split(", ").sort();
  const packages = fs.readdirSync(path.join(ROOT, "npm")).sort();
  assert.deepEqual(listed, packages, "the error lists exactly the published platforms (npm/<platform>/)");
  assert.match(err, /open an issue/);
  assert.match(err, /build from source/);
  assert.match(err, /npm run build/);
  assert.doesNotMatch(err, /4828/);
});

test("FreeBSD x64: no libc guess, same clear error", () => {
  const err = load("index.js", { platform: "freebsd", arch: "x64" });
  assert.match(err, /no native binary could be loaded for freebsd-x64 \(platform freebsd, arch x64; Node v/);
  assert.match(err, /No prebuilt binary is published for freebsd-x64/);
});

test("the debugger entry point gives the same error", () => {
  const err = load("debugger.js", { platform: "linux", arch: "riscv64" });
  assert.match(err, /no native binary could be loaded for linux-riscv64/);
});
