import { InputError } from "../errors.js";
import { readHookEnv } from "../ganeti/env.js";
import { blockdevTrees } from "../ganeti/kvm-argv.js";
import { validateStartInput } from "../generated/validators.js";
import { checkBlockModules } from "../host/media-checks.js";
import { checkMediaUrls, type StartInput, startStorage } from "../start/storage.js";
import { COMMON_FLAGS, nodePaths, PATH_FLAGS, readJsonInput, str } from "./args.js";
import { runHook, say, writeFd } from "./program.js";

const SUMMARY = `Usage: $0 [options] [< input.json]

Prints the QEMU storage arguments (-blockdev + -device, never -drive) of a Ganeti instance and the
runtime disk entries Ganeti stores, from Ganeti's hook environment (GANETI_INSTANCE_*; the
GANETI_POST_INSTANCE_* view wins when present) and, optionally, a JSON document:
  - Ganeti's KVM runtime document [kvm_cmd, nics, up_hvp, disks], or
  - {"disks": [[Disk.ToDict(), link, uri], ...], "hvparams": {...}, "qemu": {"version": "7.2.22"}}
What the JSON carries wins over the environment. Disks that carry hvinfo keep their slots and ids.
Without JSON, disk n is <disk-dir>/<instance>:n, as Ganeti links it.

Output (stdout): {"argv": [...], "disks": [[Disk.ToDict() with hvinfo, link, uri], ...],
"warnings": [...]} -- or, with --format shell, the argv shell-quoted on one line.
Warnings and errors go to stderr, one line each.

Block drivers QEMU loads as modules (curl for HTTP(S) CD-ROMs, gluster, rbd, iscsi, ...) must be
installed where QEMU loads them, and the server of each HTTP(S) CD-ROM must answer a Range request
(unless --no-url-check); otherwise QEMU would fail at start, less clearly.

Exit status: 0 success; 2 invalid input (the message names the variable or JSON path and what
is allowed); 1 any other failure (QEMU's version unreadable, a CD-ROM URL that QEMU could not use).`;

const FLAGS = [
  ...COMMON_FLAGS,
  { name: "format", value: "json|shell", help: "output format (default json)" },
  {
    name: "qemu-version",
    value: "X.Y.Z",
    help: "QEMU's version; default: the JSON's qemu.version, else <kvm_path> --version (cached)",
  },
  { name: "no-url-check", help: "skip checking HTTP(S) CD-ROMs (curl module installed, server answers Range requests)" },
  { name: "qemu-module-dir", value: "DIR", help: "where QEMU's block modules are (default: the distribution's usual places)" },
  ...PATH_FLAGS,
];

const shellQuote = (s: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

void runHook("instance-start", SUMMARY, FLAGS, async (args) => {
  const format = str(args, "format") ?? "json";
  if (format !== "json" && format !== "shell")
    throw new InputError("BAD_FLAG", `--format: must be json or shell (got ${JSON.stringify(format)})`);
  const env = readHookEnv(process.env);
  const input = readJsonInput<StartInput>(args, validateStartInput);
  const opts: Parameters<typeof startStorage>[2] = { paths: nodePaths(args) };
  const version = str(args, "qemu-version");
  if (version !== undefined) opts.qemuVersion = version;
  const { output: out, mediaUrls } = startStorage(env, input, opts);
  checkBlockModules((env.post ?? env.pre).name, blockdevTrees(out.argv), str(args, "qemu-module-dir"));
  if (!args.has("no-url-check")) await checkMediaUrls(mediaUrls, str(args, "qemu-module-dir"));
  for (const w of out.warnings) say("instance-start", "warning", w);
  writeFd(1, format === "shell" ? `${out.argv.map(shellQuote).join(" ")}\n` : `${JSON.stringify(out)}\n`);
  return 0;
});
