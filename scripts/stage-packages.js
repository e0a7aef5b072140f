"use strict";
// What a release publishes, packed but not published: the main package with
// the optionalDependencies `napi pre-publish` adds at release time (one per
// platform package, same version), and one tarball per npm/<platform>/.
// A platform whose binary is not built here is packed without it: npm still
// reads every optional package's manifest (os/cpu/libc) before skipping it.
// Used by __tests__/pack.test.js and scripts/test-platforms.js.

const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const ROOT = path.join(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));

function npm(args, cwd, env = process.env) {
  const r = spawnSync("npm", args, { cwd, env, encoding: "utf8", timeout: 300000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`npm ${args.join(" ")} failed in ${cwd}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** This machine's napi platform name, e.g. linux-x64-gnu. */
function hostPlatform() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === "linux") return `${base}-${process.report.getReport().header.glibcVersionRuntime ? "gnu" : "musl"}`;
  if (process.platform === "win32") return `${base}-msvc`;
  return base;
}

/** The platform packages, from npm/<platform>/package.json. */
function platformPackages() {
  return fs
    .readdirSync(path.join(ROOT, "npm"))
    .filter((d) => fs.existsSync(path.join(ROOT, "npm", d, "package.json")))
    .map((d) => {
      const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "npm", d, "package.json"), "utf8"));
      return { platform: d, name: manifest.name, manifest, binary: path.join(ROOT, "npm", d, manifest.main) };
    });
}

/** `npm pack` a directory into dest; returns the tarball path and the packed file list. */
function pack(dir, dest) {
  const [info] = JSON.parse(npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dest], dir));
  return { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path), size: info.size, unpackedSize: info.unpackedSize };
}

/** Pack npm/<platform>/ into dest, with `binary` (default: its built one) when it exists. */
function packPlatform(platform, dest, binary) {
  const p = platformPackages().find((x) => x.platform === platform);
  if (!p) throw new Error(`no npm/${platform}/package.json`);
  const dir = path.join(dest, "staging", platform);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(ROOT, "npm", platform, "package.json"), path.join(dir, "package.json"));
  const bin = binary || p.binary;
  const hasBinary = fs.existsSync(bin);
  if (hasBinary) fs.copyFileSync(bin, path.join(dir, p.manifest.main));
  return { ...p, hasBinary, binarySource: hasBinary ? bin : null, ...pack(dir, dest) };
}

/**
 * Stage and pack everything into `dest`.
 * binaries: { [platform]: path } overrides npm/<platform>/<file>, e.g. the
 * host's `npm run build` output when build:all has not run.
 */
function stagePackages(dest, { binaries = {} } = {}) {
  const work = path.join(dest, "staging");
  fs.mkdirSync(work, { recursive: true });
  const platforms = {};
  for (const p of platformPackages()) platforms[p.platform] = packPlatform(p.platform, dest, binaries[p.platform]);

  // The main package: the files `npm pack` would take from the checkout, with
  // the release's optionalDependencies added.
  const [listing] = JSON.parse(npm(["pack", "--ignore-scripts", "--dry-run", "--json"], ROOT));
  const mainDir = path.join(work, "main");
  for (const f of listing.files) {
    fs.mkdirSync(path.dirname(path.join(mainDir, f.path)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f.path), path.join(mainDir, f.path));
  }
  const manifest = { ...pkg, optionalDependencies: {} };
  for (const p of Object.values(platforms)) manifest.optionalDependencies[p.name] = pkg.version;
  fs.writeFileSync(path.join(mainDir, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  return { main: pack(mainDir, dest), platforms };
}

/**
 * Install the staged main tarball into an empty project with no registry
 * access, as npm would on a machine with the given os/cpu/libc. Every platform
 * package resolves to its local tarball through `overrides`.
 * Returns the medusa-plugin-segment-rs* packages that ended up installed.
 */
function installOffline(staged, project, { os, cpu, libc }, env = process.env) {
  fs.mkdirSync(project, { recursive: true });
  const overrides = {};
  for (const p of Object.values(staged.platforms)) overrides[p.name] = `file:${p.tarball}`;
  fs.writeFileSync(
    path.join(project, "package.json"),
    JSON.stringify({ name: "empty-project", version: "1.0.0", private: true, overrides }, null, 2)
  );
  const cache = fs.mkdtempSync(path.join(project, "..", "npm-cache-"));
  const args = ["install", staged.main.tarball, "--offline", "--cache", cache, "--no-audit", "--no-fund", "--foreground-scripts"];
  args.push(`--os=${os}`, `--cpu=${cpu}`);
  if (libc) args.push(`--libc=${libc}`);
  const t0 = Date.now();
  const r = spawnSync("npm", args, { cwd: project, env, encoding: "utf8", timeout: 300000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`npm ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  const out = r.stdout + r.stderr;
  const ms = Date.now() - t0;
  fs.rmSync(cache, { recursive: true, force: true });
  const installed = fs
    .readdirSync(path.join(project, "node_modules"))
    .filter((d) => d.startsWith(pkg.name))
    .sort();
  return { installed, out, ms };
}

module.exports = { stagePackages, packPlatform, installOffline, platformPackages, hostPlatform, ROOT };
