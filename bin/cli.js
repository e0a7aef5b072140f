#!/usr/bin/env node
"use strict";
// npx medusa-plugin-segment-rs debugger [--port N] [--host H] [--write-key KEY] [--quiet]

const path = require("path");

const USAGE = `Usage: medusa-plugin-segment-rs debugger [options]

Runs a local Segment-compatible collector with a live page, until Ctrl-C.

Options:
  --port N          port to listen on (default 0: a free one)
  --host H          interface to listen on (default 127.0.0.1)
  --write-key KEY   refuse requests carrying another write key
  --quiet           do not print each event
  -h, --help        show this help
`;

function fail(msg) {
  process.stderr.write(`${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parse(argv) {
  const opts = { port: 0, host: "127.0.0.1", print: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = () => {
      const v = inline !== undefined ? inline : argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--port": {
        const v = value();
        const port = Number(v);
        if (!/^\d+$/.test(v) || port > 65535) fail(`invalid port: ${v}`);
        opts.port = port;
        break;
      }
      case "--host":
        opts.host = value();
        break;
      case "--write-key":
        opts.writeKey = value();
        break;
      case "--quiet":
        opts.print = false;
        break;
      case "-h":
      case "--help":
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        fail(`unknown option: ${arg}`);
    }
  }
  return opts;
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(USAGE);
    return;
  }
  if (command !== "debugger") fail(command ? `unknown command: ${command}` : "missing command");
  const opts = parse(rest);

  const { startDebugger } = require(path.join(__dirname, "..", "debugger.js"));
  let dbg;
  try {
    dbg = await startDebugger(opts);
  } catch (e) {
    process.stderr.write(`medusa-plugin-segment-rs debugger: ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write(
    [
      `Segment debugger listening on ${dbg.url}`,
      ``,
      `  Live page:  ${dbg.url}/`,
      `  Point the plugin at it in medusa-config.js:`,
      `    {`,
      `      resolve: "medusa-plugin-segment-rs",`,
      `      options: { write_key: process.env.SEGMENT_WRITE_KEY, host: "${dbg.url}" },`,
      `    }`,
      `  (any well-formed write key is accepted${opts.writeKey ? "; only the one given with --write-key here" : ""})`,
      ``,
      `Waiting for events. Press Ctrl-C to stop.`,
      ``,
    ].join("\n") + "\n"
  );

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const entries = dbg.entries();
    const rejected = entries.filter((e) => e.kind === "error").length;
    const { dropped } = dbg.stats();
    await dbg.close();
    const older = dropped ? ` (and ${dropped} older entries no longer kept, past the storage limits)` : "";
    process.stdout.write(`\nStopped: ${entries.length - rejected} events received, ${rejected} requests rejected${older}.\n`);
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main();
