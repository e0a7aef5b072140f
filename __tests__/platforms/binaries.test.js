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

const built = platformPackages().filter((p) => fs.existsSync(p.binary));

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
