"use strict";
// Structural checks of a built addon, for the binaries this machine cannot
// run (macOS, Windows) and as a cheap first check of the others: the file
// format and CPU, the `napi_register_module_v1` export Node looks for, that
// it imports only libraries every machine of that OS has, and the oldest OS
// (glibc, macOS) it claims to support. Reads the file with llvm-objdump.
//   node scripts/check-binary.js <platform> <file>

const { spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");

/** Shared libraries every machine of that platform has. */
const SYSTEM_LIBS = {
  gnu: /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libgcc_s\.so\.1|ld-linux-(x86-64|aarch64)\.so\.[12])$/,
  musl: /^libc\.so$/,
  // libSystem, plus iconv/charset, which ship in /usr/lib on every macOS.
  darwin: /^\/usr\/lib\/(libSystem\.B|libiconv\.2|libcharset\.1)\.dylib$/,
  // Windows system DLLs (and API sets); no libnode, libgcc or libwinpthread.
  // crypt32, ncrypt and secur32 (in System32 since Vista): the certificate
  // store, read by rustls-native-certs, which redis's TLS pulls in.
  win32: /^(kernel32|ntdll|ws2_32|advapi32|bcrypt|bcryptprimitives|userenv|msvcrt|ucrtbase|vcruntime140|crypt32|ncrypt|secur32|api-ms-win-[a-z0-9-]+)\.dll$/i,
};
const GLIBC_FLOOR = "2.17";
const MACOS_FLOOR = { arm64: "11.0", x64: "10.13" };

function objdump(args) {
  const r = spawnSync("llvm-objdump", args, { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`llvm-objdump ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function haveObjdump() {
  const r = spawnSync("llvm-objdump", ["--version"], { encoding: "utf8" });
  return !r.error && r.status === 0;
}

const ver = (v) => v.split(".").map(Number);
const newer = (a, b) => {
  const [x, y] = [ver(a), ver(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) > (y[i] || 0);
  return false;
};

function checkElf(platform, file) {
  const [, arch, libc] = platform.split("-");
  const facts = {};
  const problems = [];
  const p = objdump(["-p", file]);
  facts.format = (p.match(/file format (\S+)/) || [])[1];
  const wantFormat = arch === "x64" ? "elf64-x86-64" : "elf64-littleaarch64";
  if (facts.format !== wantFormat) problems.push(`format ${facts.format}, expected ${wantFormat}`);
  facts.needed = [...p.matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]);
  const foreign = facts.needed.filter((l) => !SYSTEM_LIBS[libc].test(l));
  if (foreign.length) problems.push(`links non-system libraries: ${foreign.join(", ")}`);
  const glibc = [...p.matchAll(/GLIBC_(\d+\.\d+(?:\.\d+)?)/g)].map((m) => m[1]);
  facts.maxGlibc = glibc.reduce((a, b) => (newer(b, a) ? b : a), "0");
  if (libc === "gnu" && newer(facts.maxGlibc, GLIBC_FLOOR)) problems.push(`needs GLIBC_${facts.maxGlibc}, floor is ${GLIBC_FLOOR}`);
  if (libc === "musl" && glibc.length) problems.push(`musl build references glibc versions (GLIBC_${facts.maxGlibc})`);
  const dyn = objdump(["-T", file]);
  facts.exportsRegister = /\sg\s+DF\s+\.text\s+\S+\s+(?:\S+\s+)?napi_register_module_v1$/m.test(dyn);
  if (!facts.exportsRegister) problems.push("does not export napi_register_module_v1");
  return { facts, problems };
}

function checkMachO(platform, file) {
  const arch = platform.split("-")[1];
  const facts = {};
  const problems = [];
  const h = objdump(["--macho", "--private-headers", file]);
  const header = h.match(/MH_MAGIC_64\s+(\S+)\s+\S+\s+\S+\s+(\S+)/);
  facts.cpu = header && header[1];
  facts.filetype = header && header[2];
  const wantCpu = arch === "arm64" ? "ARM64" : "X86_64";
  if (facts.cpu !== wantCpu) problems.push(`cputype ${facts.cpu}, expected ${wantCpu}`);
  if (facts.filetype !== "DYLIB") problems.push(`filetype ${facts.filetype}, expected DYLIB`);
  // LC_BUILD_VERSION (minos) on newer linkers, LC_VERSION_MIN_MACOSX (version) on older ones.
  const minos = h.match(/cmd LC_BUILD_VERSION[\s\S]*?minos (\S+)/) || h.match(/cmd LC_VERSION_MIN_MACOSX[\s\S]*?version (\S+)/);
  facts.minMacos = minos && minos[1];
  if (!facts.minMacos) problems.push("no minimum macOS version load command");
  else if (newer(facts.minMacos, MACOS_FLOOR[arch])) problems.push(`minimum macOS ${facts.minMacos}, expected ${MACOS_FLOOR[arch]}`);
  // Its own install name: unused for an addon, but it must not carry the build machine's path.
  facts.installName = (h.match(/cmd LC_ID_DYLIB\n[\s\S]*?name (\S+) \(offset/) || [])[1] || null;
  if (facts.installName !== `@rpath/segment.${platform}.node`) problems.push(`install name ${facts.installName}, expected @rpath/segment.${platform}.node`);
  // Libraries it loads (not LC_ID_DYLIB).
  facts.dylibs = [...h.matchAll(/cmd LC_(?:LOAD|LOAD_WEAK|REEXPORT|LAZY_LOAD)_DYLIB\n[\s\S]*?name (\S+) \(offset/g)].map((m) => m[1]);
  facts.frameworks = facts.dylibs.filter((l) => l.includes(".framework/"));
  const foreign = facts.dylibs.filter((l) => !SYSTEM_LIBS.darwin.test(l));
  if (foreign.length) problems.push(`links non-system libraries or frameworks: ${foreign.join(", ")}`);
  // Apple silicon refuses to load unsigned code: the linker's ad-hoc signature
  // must be there and its page hashes must match the file.
  const sig = h.match(/cmd LC_CODE_SIGNATURE\n\s*cmdsize \d+\n\s*dataoff (\d+)\n\s*datasize (\d+)/);
  facts.signature = sig ? verifyAdhocSignature(fs.readFileSync(file), Number(sig[1])) : "none";
  if (arch === "arm64" && facts.signature !== "valid") problems.push(`code signature: ${facts.signature}`);
  facts.exportsRegister = /^_napi_register_module_v1$/m.test(objdump(["--macho", "--exports-trie", file]).replace(/^0x\S+\s+/gm, ""));
  if (!facts.exportsRegister) problems.push("does not export _napi_register_module_v1");
  return { facts, problems };
}

/** Checks the CodeDirectory's SHA-256 page hashes (big-endian blobs, see
 * Apple's cs_blobs.h) against the file; returns "valid" or what is wrong. */
function verifyAdhocSignature(buf, offset) {
  if (buf.readUInt32BE(offset) !== 0xfade0cc0) return "no embedded signature superblob";
  const count = buf.readUInt32BE(offset + 8);
  for (let i = 0; i < count; i++) {
    const blob = offset + buf.readUInt32BE(offset + 12 + i * 8 + 4);
    if (buf.readUInt32BE(blob) !== 0xfade0c02) continue; // not a CodeDirectory
    const hashOffset = buf.readUInt32BE(blob + 16);
    const nCodeSlots = buf.readUInt32BE(blob + 28);
    const codeLimit = buf.readUInt32BE(blob + 32);
    const hashSize = buf.readUInt8(blob + 36);
    const hashType = buf.readUInt8(blob + 37);
    const pageSize = 1 << buf.readUInt8(blob + 39);
    if (hashType !== 2 || hashSize !== 32) return `hash type ${hashType} (expected SHA-256)`;
    if (nCodeSlots !== Math.ceil(codeLimit / pageSize)) return `${nCodeSlots} page hashes for ${codeLimit} bytes`;
    for (let page = 0; page < nCodeSlots; page++) {
      const start = page * pageSize;
      const digest = crypto.createHash("sha256").update(buf.subarray(start, Math.min(start + pageSize, codeLimit))).digest();
      const at = blob + hashOffset + page * hashSize;
      if (!digest.equals(buf.subarray(at, at + hashSize))) return `page ${page} hash mismatch`;
    }
    return "valid";
  }
  return "no CodeDirectory";
}

function checkPe(platform, file) {
  const facts = {};
  const problems = [];
  const p = objdump(["-p", file]);
  facts.format = (p.match(/file format (\S+)/) || [])[1];
  if (facts.format !== "coff-x86-64" && facts.format !== "pei-x86-64") problems.push(`format ${facts.format}, expected PE32+ x86-64`);
  const characteristics = parseInt((p.match(/^Characteristics\s+0x([0-9a-f]+)/m) || [])[1], 16);
  facts.dll = Boolean(characteristics & 0x2000); // IMAGE_FILE_DLL
  if (!facts.dll) problems.push("not a DLL");
  facts.machine64 = (p.match(/^Magic\s+(\S+)/m) || [])[1] === "020b"; // PE32+
  if (!facts.machine64) problems.push("not PE32+");
  const sub = p.match(/^MajorSubsystemVersion\s+(\d+)\nMinorSubsystemVersion\s+(\d+)/m);
  facts.minWindows = sub && `${sub[1]}.${sub[2]}`; // 5.2 = XP x64: no newer OS required by the header
  facts.imports = [...new Set([...p.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1].toLowerCase()))].sort();
  const foreign = facts.imports.filter((l) => !SYSTEM_LIBS.win32.test(l));
  if (foreign.length) problems.push(`imports non-system DLLs: ${foreign.join(", ")}`);
  const exportTable = p.split("Export Table:")[1] || "";
  facts.exports = [...exportTable.split(/\n\s*\n/)[0].matchAll(/^\s+\d+\s+0x[0-9a-f]+\s+(\S+)$/gm)].map((m) => m[1]);
  facts.exportsRegister = facts.exports.includes("napi_register_module_v1");
  if (!facts.exportsRegister) problems.push("does not export napi_register_module_v1");
  return { facts, problems };
}

/** Checks `file` as the binary for napi platform `platform` (e.g. "darwin-arm64"). */
function checkBinary(platform, file) {
  if (platform.startsWith("linux-")) return checkElf(platform, file);
  if (platform.startsWith("darwin-")) return checkMachO(platform, file);
  if (platform.startsWith("win32-")) return checkPe(platform, file);
  throw new Error(`no structural check for ${platform}`);
}

module.exports = { checkBinary, haveObjdump };

if (require.main === module) {
  const [platform, file] = process.argv.slice(2);
  const r = checkBinary(platform, file);
  console.log(JSON.stringify(r, null, 2));
  process.exit(r.problems.length ? 1 : 0);
}
