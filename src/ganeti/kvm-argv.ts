import type { Props } from "../blockdev/model.js";
import { treeDrivers } from "../blockdev/protocols.js";

/**
 * Ganeti 3.0's QEMU command line (hv_kvm _GenerateKVMRuntime / _ExecuteKVMRuntime), read as QEMU
 * reads it: options and their values, and QEMU's `key=value,...` option strings. Pure.
 */

/** QEMU 7.2 options that take no value (qemu-options.def without HAS_ARG), plus older ones Ganeti may pass. */
const NO_VALUE: ReadonlySet<string> = new Set([
  "S",
  "daemonize",
  "enable-kvm",
  "disable-kvm",
  "no-kvm",
  "enable-sync-profile",
  "full-screen",
  "mem-prealloc",
  "no-acpi",
  "no-fd-bootchk",
  "no-hpet",
  "no-reboot",
  "no-shutdown",
  "no-user-config",
  "nodefaults",
  "nographic",
  "only-migratable",
  "portrait",
  "preconfig",
  "s",
  "singlestep",
  "snapshot",
  "usb",
  "version",
  "win2k-hack",
  "xen-attach",
  "xen-domid-restrict",
  "localtime",
  "h",
  "help",
]);

/** One option of the command line as QEMU sees it: `-name value` or a lone flag. */
export interface ArgvOption {
  /** Without its leading dashes (QEMU takes `-x` and `--x` alike). */
  name: string;
  /** The word as written, kept so that what is passed on is exactly what Ganeti wrote. */
  word: string;
  value?: string;
  /** Index of the option's word in the argv. */
  at: number;
}

/**
 * Splits an argv into options. A word that does not start with `-` where an option is expected
 * is QEMU's legacy disk image argument (`qemu disk.img`): reported as an option named "".
 */
export function splitOptions(argv: readonly string[]): ArgvOption[] {
  const out: ArgvOption[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (!word.startsWith("-") || word === "-") {
      out.push({ name: "", word, at: i });
      continue;
    }
    const name = word.replace(/^--?/, "");
    if (NO_VALUE.has(name) || i + 1 >= argv.length) out.push({ name, word, at: i });
    else out.push({ name, word, value: argv[++i] as string, at: i - 1 });
  }
  return out;
}

/**
 * QEMU's `key=value,key=value` syntax: `,,` is a literal comma. A leading word without `=` is the
 * implied key's value (`-device virtio-blk-pci,...` → driver=virtio-blk-pci). Keys keep their order.
 */
export function parseOptString(text: string, impliedKey?: string): [string, string][] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === ",") {
      if (text[i + 1] === ",") {
        cur += ",";
        i++;
        continue;
      }
      parts.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  return parts.map((p, i): [string, string] => {
    const eq = p.indexOf("=");
    if (eq >= 0) return [p.slice(0, eq), p.slice(eq + 1)];
    return i === 0 && impliedKey ? [impliedKey, p] : [p, ""];
  });
}

/** Ganeti's machine type: `-machine pc-i440fx-7.2,accel=kvm` or `type=q35`; absent means QEMU's pc. */
export function machineOf(opts: readonly ArgvOption[]): string {
  const m = opts.findLast((o) => o.name === "machine" || o.name === "M");
  if (!m?.value) return "pc";
  return parseOptString(m.value, "type").find(([k]) => k === "type")?.[1] ?? "pc";
}

/** A QEMU command line read once: its options, and the facts every step of the launcher asks of it. */
export interface KvmArgv {
  opts: readonly ArgvOption[];
  /** `-name`'s value: Ganeti passes it on every instance start, and on none of its probes. */
  instance: string | undefined;
  machine: string;
}

export function readKvmArgv(argv: readonly string[]): KvmArgv {
  const opts = splitOptions(argv);
  return { opts, instance: opts.find((o) => o.name === "name")?.value, machine: machineOf(opts) };
}

/** The options as argv words again, each as written. */
export const wordsOf = (opts: readonly ArgvOption[]): string[] =>
  opts.flatMap((o) => (o.value === undefined ? [o.word] : [o.word, o.value]));

/**
 * The -blockdev trees of a command line, each by its node name with the drivers it uses: JSON (the
 * plugin's) or key=value (Ganeti 3.1's, where a child's driver is `file.driver=`).
 */
export function blockdevTrees(words: readonly string[]): { name: string; drivers: string[] }[] {
  const out: { name: string; drivers: string[] }[] = [];
  for (let i = 0; i + 1 < words.length; i++) {
    if (words[i] !== "-blockdev" && words[i] !== "--blockdev") continue;
    const value = words[++i] as string;
    if (value.startsWith("{")) {
      try {
        const props = JSON.parse(value) as Props;
        out.push({ name: String(props["node-name"] ?? ""), drivers: treeDrivers(props) });
      } catch {
        // not JSON after all: QEMU says so
      }
      continue;
    }
    const kv = parseOptString(value);
    const name = kv.find(([k]) => k === "node-name")?.[1] ?? "";
    out.push({ name, drivers: kv.flatMap(([k, v]) => (k === "driver" || k.endsWith(".driver") ? [v] : [])) });
  }
  return out;
}
