"use strict"

// One package for both majors: plain `npm install` of the packed package
// accepts a Medusa 1.18-1.20 backend and a >= 2.8.3 one, and reports 2.0-2.8.2
// (no Analytics Module there) as an ERESOLVE conflict. The backend's @medusajs/medusa is a local
// stand-in with only its version, so npm checks the real peer range offline.

const test = require("node:test")
const assert = require("node:assert/strict")
const { spawnSync } = require("node:child_process")
const fs = require("node:fs")
const os = require("node:os")
const path = require("node:path")

const ROOT = path.join(__dirname, "..", "..")
let tmp
let tarball
/** The host's platform package (the main package ships no binary). */
let platformTarball

test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "segment-peer-"))
  const r = spawnSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" })
  assert.equal(r.status, 0, r.stderr)
  const pack = JSON.parse(r.stdout)[0]
  tarball = path.join(tmp, pack.filename)
  const files = pack.files.map((f) => f.path)
  assert.ok(files.includes(".medusa/server/src/providers/segment/index.js"), ".medusa/server is packed")
  assert.ok(files.includes(".medusa/server/src/subscribers/segment-order-placed.js"))
  const { packPlatform, hostPlatform } = require("../../scripts/stage-packages")
  const host = hostPlatform()
  const platform = packPlatform(host, tmp, path.join(ROOT, `segment.${host}.node`))
  assert.ok(platform.hasBinary, `segment.${host}.node is built (npm run build)`)
  platformTarball = platform.tarball
})

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }))

function backend(version) {
  const dir = path.join(tmp, `backend-${version}`)
  const medusa = path.join(dir, "fake-medusa")
  fs.mkdirSync(medusa, { recursive: true })
  fs.writeFileSync(path.join(medusa, "package.json"), JSON.stringify({ name: "@medusajs/medusa", version }))
  fs.writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ name: "store", version: "1.0.0", private: true, dependencies: { "@medusajs/medusa": "file:fake-medusa" } })
  )
  return dir
}

function install(dir) {
  return spawnSync("npm", ["install", tarball, platformTarball, "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], {
    cwd: dir,
    encoding: "utf8",
    timeout: 120000,
  })
}

for (const version of ["1.18.0", "1.20.8", "2.8.3", "2.21.2"]) {
  test(`plain npm install into a backend with @medusajs/medusa ${version} succeeds`, () => {
    const dir = backend(version)
    const r = install(dir)
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.ok(fs.existsSync(path.join(dir, "node_modules", "medusa-plugin-segment-rs", ".medusa", "server", "src", "subscribers")))
    // how Medusa v1 finds a plugin (resolve-plugins.ts): `<name>/package.json` from the
    // project, then services/ and subscribers/ under that directory (no dist/)
    const v1 = spawnSync(
      process.execPath,
      [
        "-e",
        `const { createRequire } = require("module"); const path = require("path"); const fs = require("fs");
         const root = path.dirname(createRequire(process.cwd() + "/:internal:").resolve("medusa-plugin-segment-rs/package.json"));
         if (fs.existsSync(root + "/dist")) throw new Error("dist/ would be loaded instead");
         const Service = require(root + "/services/segment.js").default;
         const sub = require(root + "/subscribers/order-placed.js");
         console.log(typeof Service, typeof sub.default, sub.config.event)`,
      ],
      { cwd: dir, encoding: "utf8" }
    )
    assert.equal(v1.status, 0, v1.stderr)
    assert.equal(v1.stdout.trim(), "function function order.placed")
  })
}

// npm 10 refuses the install; npm 11 treats a conflicting optional peer as a
// warning and installs. Either way the store's engineer is told, by name.
test("a 2.x backend without the Analytics Module (2.8.2): npm reports ERESOLVE with the peer range (npm 10 refuses)", () => {
  const r = install(backend("2.8.2"))
  const out = r.stdout + r.stderr
  assert.match(out, /ERESOLVE/)
  assert.match(out, /@medusajs\/medusa@">=1\.18\.0 <2 \|\| >=2\.8\.3" from medusa-plugin-segment-rs/)
  const npmMajor = Number(spawnSync("npm", ["--version"], { encoding: "utf8" }).stdout.split(".")[0])
  if (npmMajor < 11) assert.notEqual(r.status, 0, "npm 10 refuses the install")
})
