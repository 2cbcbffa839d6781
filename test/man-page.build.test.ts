// The man page says what the command takes: its synopsis and options are held against the
// command's own usage text (its flag and command tables), both ways.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ROOT } from "./helpers/hook.js";

const COMMAND = "ganeti-qemu-blockdev";
const help = spawnSync(join(ROOT, "bin", COMMAND), ["--help"], { encoding: "utf8" }).stdout;
const man = readFileSync(join(ROOT, "packaging/man", `${COMMAND}.8`), "utf8");

/** The text after `from` up to `to` (empty when `from` is missing: the checks below then fail). */
const after = (text: string, from: string, to: string) => text.split(from)[1]?.split(to)[0] ?? "";
/** Option names as the usage text lists them, and as the man page writes them (\-\- escaped). */
const helpOptions = new Set([...after(help, "Options:", "\n\n\n").matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]));
const manOptions = new Set([...man.replaceAll("\\-", "-").matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]));
const helpCommands = [...after(help, "Commands:", "\n\n").matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1]);
const synopsis = after(man, ".SH SYNOPSIS", ".SH ");

t.test("every option of the command is in the man page, and the man page names no other", async (t) => {
  t.ok(helpOptions.size >= 5, `the usage text lists its options: ${[...helpOptions].join(", ")}`);
  for (const o of helpOptions) t.ok(manOptions.has(o), `--${o} is in the man page`);
  for (const o of manOptions) t.ok(helpOptions.has(o), `the man page's --${o} is an option of the command`);
});

t.test("every command is in the man page's synopsis, with its own section", async (t) => {
  t.ok(helpCommands.length >= 4, `the usage text lists its commands: ${helpCommands.join(", ")}`);
  for (const c of helpCommands) {
    t.match(synopsis, new RegExp(`^\\.B ${COMMAND} ${c}$`, "m"), `${c} in the synopsis`);
    t.match(man, new RegExp(`^\\.BI? ${c}\\b`, "m"), `${c} described`);
  }
});
