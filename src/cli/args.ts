/**
 * The command line of every program: its flags, their values, and the optional JSON input, each
 * checked, with a one-line error naming what is wrong. Nothing here prints or exits (program.ts).
 */
import { fstatSync, readFileSync } from "node:fs";
import { InputError } from "../errors.js";
import { DEFAULT_PATHS, type NodePaths } from "../ganeti/paths.js";
import type { GeneratedValidator } from "../generated/validators.js";
import { check, jsonPath } from "../host/validate.js";
import { cacheDir } from "../launcher/pass-through.js";

export interface Flag {
  name: string;
  value?: string;
  help: string;
}

export const PATH_FLAGS: Flag[] = [
  { name: "disk-dir", value: "DIR", help: `instance disk symlinks <DIR>/<instance>:<n> (default ${DEFAULT_PATHS.diskDir})` },
  { name: "qmp-dir", value: "DIR", help: `QMP sockets <DIR>/<instance>.qmp (default ${DEFAULT_PATHS.qmpDir})` },
  { name: "runtime-dir", value: "DIR", help: `KVM runtime files <DIR>/<instance>.runtime (default ${DEFAULT_PATHS.runtimeDir})` },
  { name: "cache-dir", value: "DIR", help: `the plugin's cache (default ${DEFAULT_PATHS.cacheDir})` },
];

export const COMMON_FLAGS: Flag[] = [
  { name: "help", help: "show this text and exit" },
  { name: "input", value: "FILE", help: "read the JSON input from FILE ('-' for stdin); default: stdin when it is not empty" },
  { name: "debug", help: "print stack traces of internal errors" },
];

export type Args = Map<string, string | true>;

export function parseArgs(argv: readonly string[], flags: readonly Flag[]): Args {
  const known = new Map(flags.map((f) => [f.name, f]));
  const args: Args = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    // --name or --name=value; flag names are known words, so no pattern is needed to split them.
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") ? known.get(eq < 0 ? arg.slice(2) : arg.slice(2, eq)) : undefined;
    if (!flag) throw new InputError("BAD_FLAG", `unknown argument ${JSON.stringify(arg)} (see --help)`);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (!flag.value) {
      if (inline !== undefined) throw new InputError("BAD_FLAG", `--${flag.name} takes no value`);
      args.set(flag.name, true);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new InputError("BAD_FLAG", `--${flag.name} needs a value (${flag.value})`);
    args.set(flag.name, value);
  }
  return args;
}

export const str = (args: Args, name: string): string | undefined => {
  const v = args.get(name);
  return typeof v === "string" ? v : undefined;
};

export function seconds(args: Args, name: string, fallback: number): number {
  const v = str(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600)
    throw new InputError("BAD_FLAG", `--${name}: must be a number of seconds from 0 to 3600 (got ${JSON.stringify(v)})`);
  return n;
}

export function nodePaths(args: Args): NodePaths {
  return {
    diskDir: str(args, "disk-dir") ?? DEFAULT_PATHS.diskDir,
    qmpDir: str(args, "qmp-dir") ?? DEFAULT_PATHS.qmpDir,
    runtimeDir: str(args, "runtime-dir") ?? DEFAULT_PATHS.runtimeDir,
    // The flag, else the variable the launcher reads (it takes no flags of its own), else the default.
    cacheDir: str(args, "cache-dir") ?? cacheDir(process.env),
  };
}

/**
 * The optional JSON input. Ganeti runs hooks with stdin on /dev/null, which reads as empty; a
 * terminal is never read, so an operator typing the command does not hang it.
 */
export function readJsonInput<T>(args: Args, validate: GeneratedValidator): T | undefined {
  const file = str(args, "input");
  let text: string;
  let source: string;
  if (file !== undefined && file !== "-") {
    source = file;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new InputError("BAD_INPUT_FILE", `--input ${file}: ${(e as Error).message}`);
    }
  } else {
    source = "stdin";
    // Ganeti's stdin is /dev/null and an operator's is a terminal: both character devices, and
    // neither is read. (Asking process.stdin would load Node's stream stack: ~4 ms of start-up.)
    if (file === undefined && fstatSync(0).isCharacterDevice()) return undefined;
    text = readFileSync(0, "utf8");
  }
  if (text.trim() === "") {
    if (file !== undefined) throw new InputError("INVALID_JSON", `${source}: empty, expected a JSON document`);
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError("INVALID_JSON", `${source}: not JSON (${(e as Error).message})`);
  }
  return check<T>(validate, doc, "INVALID_JSON", (p) => `${source} at ${jsonPath(p)}`);
}

export function usage(name: string, summary: string, flags: readonly Flag[]): string {
  const lines = flags.map((f) => `${`  --${f.name}${f.value ? ` ${f.value}` : ""}`.padEnd(25)} ${f.help}`);
  return `${summary.replaceAll("$0", name)}\n\nOptions:\n${lines.join("\n")}\n`;
}
