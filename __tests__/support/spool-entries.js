"use strict"
// The messages of the Redis spool's stream, read from `redis-cli --no-raw
// xrange` output, as a test sees them: entries in field `z` are LZ4 blocks
// (their size first, src/spool/redis.rs), in field `m` the records as they
// are. A record: u32 LE length, then kind (1), time (8), messageId (16), JSON.

/** The bytes of a string as redis-cli quotes it (sdscatrepr: \xHH, \n, \", ...). */
function unquote(s) {
  const out = []
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== "\\") {
      out.push(s.charCodeAt(i))
      continue
    }
    const c = s[++i]
    if (c === "x") {
      out.push(parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
    } else out.push({ n: 10, r: 13, t: 9, a: 7, b: 8 }[c] ?? c.charCodeAt(0))
  }
  return Buffer.from(out)
}

/** An LZ4 block (the format's spec: token, literals, 2-byte offset, match). */
function lz4Block(src, size) {
  const out = Buffer.alloc(size)
  let i = 0
  let o = 0
  const length = (n) => {
    if (n !== 15) return n
    let b
    do n += b = src[i++]
    while (b === 255)
    return n
  }
  while (i < src.length) {
    const token = src[i++]
    const lit = length(token >> 4)
    src.copy(out, o, i, i + lit)
    i += lit
    o += lit
    if (i >= src.length) break
    const offset = src[i] | (src[i + 1] << 8)
    i += 2
    const len = length(token & 15) + 4
    for (let k = 0; k < len; k++, o++) out[o] = out[o - offset]
  }
  if (o !== size) throw new Error(`LZ4 block: ${o} bytes, its header says ${size}`)
  return out
}

/** The entries of `xrange` output: { stored: bytes of the value in Redis, messages: the JSON of each }. */
function spoolEntries(xrangeOutput) {
  const quoted = [...xrangeOutput.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1])
  const out = []
  for (let k = 0; k + 1 < quoted.length; k++) {
    if (quoted[k] !== "z" && quoted[k] !== "m") continue
    const value = unquote(quoted[k + 1])
    const records = quoted[k] === "z" ? lz4Block(value.subarray(4), value.readUInt32LE(0)) : value
    const messages = []
    for (let at = 0; at < records.length; ) {
      const len = records.readUInt32LE(at)
      messages.push(records.subarray(at + 4 + 25, at + 4 + len).toString("utf8"))
      at += 4 + len
    }
    out.push({ stored: value.length, messages })
    k++
  }
  return out
}

/** The JSON of every message in the entries of `xrange` output. */
const spoolMessages = (xrangeOutput) => spoolEntries(xrangeOutput).flatMap((e) => e.messages)

module.exports = { spoolEntries, spoolMessages }
