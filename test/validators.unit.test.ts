// The hooks validate with lean validators (no error details) and explain a failure with their
// verbose twins (scripts/gen-validators.mjs). Both must accept exactly the same documents: checked
// here on the recorded Ganeti environments and runtime files, the bad-input corpus, and thousands
// of mutations of them (every value replaced by wrong types and hostile strings, every key dropped).
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import t from "tap";
import type { GeneratedValidator } from "../src/generated/validators.js";
import * as leanModule from "../src/generated/validators.js";
import { check } from "../src/host/validate.js";
import { ROOT } from "./helpers/hook.js";

const verbose = createRequire(import.meta.url)("../src/generated/validators-verbose.cjs") as Record<string, GeneratedValidator>;
// A plain record: the test reaches every export by name.
const lean: Record<string, GeneratedValidator> = { ...leanModule };
const names = Object.keys(lean);
const fixtures = join(ROOT, "test/fixtures");

const seeds: unknown[] = [];
const recorded = join(fixtures, "ganeti-3.0.2");
for (const f of readdirSync(recorded).filter((f) => f.endsWith(".env"))) {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(recorded, f), "utf8").split("\n")) {
    const i = line.indexOf("=");
    if (i > 0 && line.startsWith("GANETI_")) env[line.slice(0, i)] = line.slice(i + 1);
  }
  seeds.push(env);
}
for (const f of readdirSync(join(recorded, "extra")).filter((f) => f.endsWith(".json"))) {
  const doc = JSON.parse(readFileSync(join(recorded, "extra", f), "utf8")) as unknown;
  seeds.push(doc);
  // The request form of instance-start's input, built from the same disks and hvparams.
  if (Array.isArray(doc)) seeds.push({ disks: doc[3], hvparams: doc[2], qemu: { version: "7.2.22" } });
}
for (const f of readdirSync(join(fixtures, "bad-input"))) {
  const c = JSON.parse(readFileSync(join(fixtures, "bad-input", f), "utf8")) as { env?: unknown; json?: unknown };
  if (c.env) seeds.push(c.env);
  if (c.json !== undefined) seeds.push(c.json);
}

const WRONG: unknown[] = [null, 0, -1, 1.5, 17, true, "", "x", "a\nb", "/dev/sda", "../etc", "A".repeat(5000), [], {}, [null]];

type Json = unknown;
/** Every document that differs from `doc` in one place: a value replaced, or a key or item dropped. */
function* mutations(doc: Json, depth = 0): Generator<Json> {
  if (depth > 6 || doc === null || typeof doc !== "object") return;
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) {
      for (const w of WRONG) yield doc.map((v, j) => (j === i ? w : v));
      for (const m of mutations(doc[i], depth + 1)) yield doc.map((v, j) => (j === i ? m : v));
      yield doc.filter((_, j) => j !== i);
    }
    return;
  }
  const obj = doc as Record<string, Json>;
  for (const k of Object.keys(obj)) {
    for (const w of WRONG) yield { ...obj, [k]: w };
    for (const m of mutations(obj[k], depth + 1)) yield { ...obj, [k]: m };
    const { [k]: _dropped, ...rest } = obj;
    yield rest;
  }
  yield { ...obj, unexpected_field: "x" };
}

t.test("lean and verbose validators agree", async (t) => {
  t.ok(seeds.length >= 50, `${seeds.length} seed documents`);
  let checked = 0;
  let rejected = 0;
  const disagreements: string[] = [];
  for (const seed of seeds) {
    for (const doc of [seed, ...mutations(seed)]) {
      for (const name of names) {
        const a = (lean[name] as GeneratedValidator)(doc);
        const b = (verbose[name] as GeneratedValidator)(doc);
        checked++;
        if (!a) rejected++;
        if (a !== b && disagreements.length < 5)
          disagreements.push(`${name}: lean ${a}, verbose ${b}: ${JSON.stringify(doc).slice(0, 200)}`);
      }
    }
  }
  t.same(disagreements, [], "no document is judged differently");
  t.ok(checked > 50_000, `${checked} checks`);
  // Both outcomes are exercised for real, so agreement is not agreement on "always true".
  t.ok(rejected > checked / 10 && rejected < checked, `${rejected} rejections`);
});

t.test("every lean validator knows its name (how validate.ts finds the verbose twin)", async (t) => {
  for (const name of names) {
    t.equal(lean[name]?.exportName, name);
    t.type(verbose[name], "function", `verbose ${name}`);
  }
});

t.test("a failure is explained by the verbose twin, run from the sources too", async (t) => {
  const env = { GANETI_INSTANCE_NAME: "inst1.example.com", GANETI_INSTANCE_HV_disk_cache: "bogus" };
  t.throws(() => check(leanModule.validateHookEnv, env, "INVALID_ENV", (p) => p.slice(1)), {
    code: "INVALID_ENV",
    message:
      'GANETI_INSTANCE_HV_disk_cache: must be one of default, none, writeback, writethrough, directsync, unsafe (got "bogus")',
  });
  t.throws(() => check(leanModule.validateHookEnv, {}, "INVALID_ENV", (p) => p.slice(1)), {
    message: "GANETI_INSTANCE_NAME: required but missing",
  });
});
