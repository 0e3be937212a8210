#!/usr/bin/env node
// Times mjml JS (the MJML reference toolchain) compiling one MJML document, in-process, in
// one long-lived node process: the first (cold) compile, then `warmup` untimed compiles, then
// `iterations` timed ones. Prints JSON on stdout; the caller computes the statistics.
//
//   node mjml_compile.js FILE|- [iterations=200] [warmup=50]
"use strict";

const fs = require("fs");

async function main() {
  const [input, iterationsArg, warmupArg] = process.argv.slice(2);
  if (!input) {
    console.error("usage: node mjml_compile.js FILE|- [iterations] [warmup]");
    process.exit(2);
  }
  const iterations = Number.parseInt(iterationsArg ?? "200", 10);
  const warmup = Number.parseInt(warmupArg ?? "50", 10);
  const source = fs.readFileSync(input === "-" ? 0 : input, "utf8");

  const loadStart = process.hrtime.bigint();
  const mjmlModule = require("mjml");
  const loadNs = process.hrtime.bigint() - loadStart;
  const mjml2html = mjmlModule.default ?? mjmlModule;
  const options = { validationLevel: "soft" };

  // mjml2html is async from mjml 5 on (a plain function before); await works for both.
  const coldStart = process.hrtime.bigint();
  const first = await mjml2html(source, options);
  const coldNs = process.hrtime.bigint() - coldStart;

  for (let i = 0; i < warmup; i += 1) {
    await mjml2html(source, options);
  }
  const times = new Array(iterations);
  for (let i = 0; i < iterations; i += 1) {
    const start = process.hrtime.bigint();
    await mjml2html(source, options);
    times[i] = Number(process.hrtime.bigint() - start);
  }

  process.stdout.write(JSON.stringify({
    node_version: process.version,
    mjml_version: require("mjml/package.json").version,
    require_ns: Number(loadNs),
    cold_ns: Number(coldNs),
    warmup,
    times_ns: times,
    html_bytes: Buffer.byteLength(first.html, "utf8"),
    errors: first.errors.map((e) => e.formattedMessage ?? e.message),
  }) + "\n");
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
