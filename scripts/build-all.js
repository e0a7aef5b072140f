#!/usr/bin/env node
"use strict";
// `npm run build:all [-- <platform>...]`: build the native addon for every
// target in package.json `napi.targets` into npm/<platform>/, from this Linux
// x64 machine, with no Docker and no Apple/Microsoft SDK:
//   - Linux and macOS targets: `napi build -x` (cargo-zigbuild + zig, both
//     from a cached Python venv). Linux gnu targets are pinned to glibc 2.17 so
//     they load on RHEL 7/8, Debian 10/11, Ubuntu 18.04/20.04.
//   - win32-x64-msvc: built as x86_64-pc-windows-gnu with Debian's mingw-w64
//     (Microsoft's CRT cannot be downloaded here) and shipped under the msvc
//     name, the one the napi loader picks on official Node for Windows.
// A target is rebuilt only when the sources, the toolchain or its recipe
// changed (hash in npm/<platform>/.build-hash), so a second run is instant.
// Details and what each binary was checked with: README "Platforms".

const { spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");

const ROOT = path.join(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const BINARY = pkg.napi.binaryName;
const CACHE = process.env.SEGMENT_RS_CACHE || path.join(os.homedir(), ".cache", "medusa-plugin-segment-rs");
const VENV = path.join(CACHE, "venv");
// Pinned: a new zig can change what the binaries link against.
const PY_TOOLS = ["ziglang==0.17.1", "cargo-zigbuild==0.24.1"];
const TARGET_DIR = path.join(ROOT, "target", "xplat");

/** How each napi target is built here. */
const RECIPES = {
  "x86_64-unknown-linux-gnu": { platform: "linux-x64-gnu", cargoTarget: "x86_64-unknown-linux-gnu.2.17", zig: true },
  "x86_64-unknown-linux-musl": { platform: "linux-x64-musl", zig: true },
  "aarch64-unknown-linux-gnu": { platform: "linux-arm64-gnu", cargoTarget: "aarch64-unknown-linux-gnu.2.17", zig: true },
  "aarch64-unknown-linux-musl": { platform: "linux-arm64-musl", zig: true },
  // Without a deployment target zig stamps the newest macOS as the minimum.
  "aarch64-apple-darwin": { platform: "darwin-arm64", zig: true, env: { MACOSX_DEPLOYMENT_TARGET: "11.0" } },
  "x86_64-apple-darwin": { platform: "darwin-x64", zig: true, env: { MACOSX_DEPLOYMENT_TARGET: "10.13" } },
  "x86_64-pc-windows-msvc": { platform: "win32-x64-msvc", cargoTarget: "x86_64-pc-windows-gnu", builtAs: "win32-x64-gnu", mingw: true },
};

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  if (r.error) throw r.error;
  return r;
}

function must(cmd, args, opts = {}) {
  const r = sh(cmd, args, { stdio: "inherit", ...opts });
  if (r.status !== 0) {
    console.error(`build:all: \`${cmd} ${args.join(" ")}\` failed (exit ${r.status})`);
    process.exit(1);
  }
  return r;
}

function have(cmd) {
  return sh("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** zig and cargo-zigbuild in a venv under the cache, installed once. */
function zigToolchain() {
  const bin = path.join(VENV, "bin");
  const stamp = path.join(VENV, ".tools");
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, "utf8") !== PY_TOOLS.join(" ")) {
    console.log(`build:all: installing ${PY_TOOLS.join(", ")} into ${VENV}`);
    if (!fs.existsSync(bin)) must("python3", ["-m", "venv", VENV]);
    must(path.join(bin, "pip"), ["install", "--quiet", ...PY_TOOLS]);
    fs.writeFileSync(stamp, PY_TOOLS.join(" "));
  }
  // napi -x looks for `zig` on PATH; the wheel ships it inside the package.
  const zig = path.join(bin, "zig");
  if (!fs.existsSync(zig)) {
    const dir = sh(path.join(bin, "python"), ["-c", "import ziglang,os;print(os.path.dirname(ziglang.__file__))"]).stdout.trim();
    fs.symlinkSync(path.join(dir, "zig"), zig);
  }
  return bin;
}

/** napi-build panics for windows-gnu unless it finds a libnode.dll; the addon
 * resolves napi_* at run time (napi's dyn-symbols), so an empty DLL is enough. */
function libnodeStub() {
  const dir = path.join(CACHE, "libnode-stub");
  const dll = path.join(dir, "libnode.dll");
  if (!fs.existsSync(dll)) {
    fs.mkdirSync(dir, { recursive: true });
    const c = path.join(dir, "stub.c");
    fs.writeFileSync(c, "int __stdcall DllMain(void *h, unsigned r, void *p) { return 1; }\n");
    must("x86_64-w64-mingw32-gcc", ["-shared", "-o", dll, c]);
  }
  return dir;
}

function installedTargets() {
  return new Set(sh("rustup", ["target", "list", "--installed"]).stdout.split("\n").filter(Boolean));
}

/** Everything that goes into a binary: crate sources, lock file, toolchain, recipe. */
function sourceHash(triple, recipe, toolVersions) {
  const h = crypto.createHash("sha256");
  const files = sh("git", ["ls-files", "-co", "--exclude-standard", "src", "Cargo.toml", "Cargo.lock", "build.rs", ".cargo"], { cwd: ROOT })
    .stdout.split("\n")
    .filter(Boolean)
    .sort();
  for (const f of files) {
    h.update(f + "\0");
    h.update(fs.readFileSync(path.join(ROOT, f)));
  }
  h.update(JSON.stringify({ triple, recipe, toolVersions }));
  return h.digest("hex");
}

function main() {
  const wanted = process.argv.slice(2);
  const targets = pkg.napi.targets.filter((t) => !wanted.length || wanted.includes(RECIPES[t].platform) || wanted.includes(t));
  for (const w of wanted) {
    if (!pkg.napi.targets.some((t) => t === w || RECIPES[t].platform === w)) {
      console.error(`build:all: unknown platform "${w}"; known: ${pkg.napi.targets.map((t) => RECIPES[t].platform).join(", ")}`);
      process.exit(2);
    }
  }
  // Seven release builds take ~15 min on 2 cores: yield the CPU to anything interactive.
  try {
    os.setPriority(10);
  } catch {}

  const needZig = targets.some((t) => RECIPES[t].zig);
  const needMingw = targets.some((t) => RECIPES[t].mingw);
  if (needMingw && !have("x86_64-w64-mingw32-gcc")) {
    console.error(
      "build:all: win32-x64-msvc needs the mingw-w64 cross compiler (x86_64-w64-mingw32-gcc).\n" +
        "  Debian/Ubuntu: apt-get install gcc-mingw-w64-x86-64   (or leave it out: npm run build:all -- linux-x64-gnu ...)"
    );
    process.exit(1);
  }
  const venvBin = needZig ? zigToolchain() : null;
  const rustTargets = new Set(targets.map((t) => (RECIPES[t].cargoTarget || t).replace(/\.2\.\d+$/, "")));
  const missing = [...rustTargets].filter((t) => !installedTargets().has(t));
  if (missing.length) must("rustup", ["target", "add", ...missing]);

  const toolVersions = {
    rustc: sh("rustc", ["-V"]).stdout.trim(),
    zig: venvBin ? sh(path.join(venvBin, "zig"), ["version"]).stdout.trim() : null,
    mingw: needMingw ? sh("x86_64-w64-mingw32-gcc", ["-dumpversion"]).stdout.trim() : null,
  };

  const rows = [];
  for (const triple of targets) {
    const recipe = RECIPES[triple];
    const dir = path.join(ROOT, "npm", recipe.platform);
    const out = path.join(dir, `${BINARY}.${recipe.platform}.node`);
    const stampFile = path.join(dir, ".build-hash");
    const hash = sourceHash(triple, recipe, toolVersions);
    if (fs.existsSync(out) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === hash) {
      rows.push([recipe.platform, "cached", fs.statSync(out).size, 0]);
      continue;
    }
    console.log(`\nbuild:all: ${recipe.platform} (${recipe.cargoTarget || triple})`);
    const env = { ...process.env, ...(recipe.env || {}) };
    if (venvBin) env.PATH = venvBin + path.delimiter + env.PATH;
    if (recipe.mingw) env.LIBNODE_PATH = libnodeStub();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "segment-build-"));
    const args = ["napi", "build", "--platform", "--release", "--no-js", "--target", recipe.cargoTarget || triple];
    args.push("--target-dir", TARGET_DIR, "--output-dir", tmp);
    if (recipe.zig) args.push("-x");
    const t0 = Date.now();
    must("npx", args, { cwd: ROOT, env });
    const built = path.join(tmp, `${BINARY}.${recipe.builtAs || recipe.platform}.node`);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(built, out);
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.writeFileSync(stampFile, hash);
    rows.push([recipe.platform, "built", fs.statSync(out).size, Date.now() - t0]);
  }

  console.log("\nplatform           result   bytes       seconds");
  for (const [p, how, size, ms] of rows) {
    console.log(`${p.padEnd(18)} ${how.padEnd(8)} ${String(size).padStart(9)}   ${(ms / 1000).toFixed(0).padStart(7)}`);
  }
}

main();
