"use strict";
// The cheap part of `npm run test:platforms`, in `npm test`: the structural
// checks (format and CPU, napi_register_module_v1 exported, only system
// libraries, glibc 2.17 / macOS 11.0 and 10.13 floors) of whichever platform
// binaries `npm run build:all` has left in npm/<platform>/. A clean clone has
// none: then this only reports that. Running them is test:platforms' job.
const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const { checkBinary, haveObjdump } = require("../../scripts/check-binary");
const { platformPackages } = require("../../scripts/stage-packages");

const ROOT = path.join(__dirname, "..", "..");
const root = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const built = platformPackages().filter((p) => fs.existsSync(p.binary));

test("one platform package per napi target, at the main package's version, with the right os/cpu/libc", () => {
  const NPM = { x86_64: "x64", aarch64: "arm64", apple: "darwin", pc: "win32", unknown: "linux" };
  const want = root.napi.targets.map((t) => {
    const [arch, vendor, , abi] = t.split("-");
    const os = NPM[vendor];
    const libc = os === "linux" ? abi : undefined;
    const platform = [os, NPM[arch], libc || (os === "win32" ? abi : undefined)].filter(Boolean).join("-");
    return { platform, os, cpu: NPM[arch], libc: libc && (libc === "gnu" ? "glibc" : "musl") };
  });
  assert.deepEqual(platformPackages().map((p) => p.platform).sort(), want.map((w) => w.platform).sort());
  for (const w of want) {
    const m = platformPackages().find((p) => p.platform === w.platform).manifest;
    assert.equal(m.name, `${root.name}-${w.platform}`);
    assert.equal(m.version, root.version, `${m.name} version (napi version syncs it)`);
    assert.deepEqual(m.os, [w.os]);
    assert.deepEqual(m.cpu, [w.cpu]);
    assert.deepEqual(m.libc, w.libc && [w.libc], `${m.name} libc`);
    assert.equal(m.main, `${root.napi.binaryName}.${w.platform}.node`);
    assert.deepEqual(m.files, [m.main]);
  }
  assert.equal(root.optionalDependencies, undefined, "added at release by napi pre-publish, not in the repository (they are not published yet)");
});

if (!built.length) {
  test("platform binaries in npm/<platform>/", { skip: "none built here (npm run build:all builds them; npm run test:platforms runs them)" }, () => {});
}

for (const p of built) {
  test(`${p.platform}: structure`, { skip: !haveObjdump() && "llvm-objdump not installed" }, (t) => {
    const { facts, problems } = checkBinary(p.platform, p.binary);
    assert.deepEqual(problems, [], `${path.relative(process.cwd(), p.binary)}`);
    t.diagnostic(JSON.stringify(facts).slice(0, 300));
  });
}
