import { ArgvError } from "../errors.js";
import type { ArgvOption } from "../ganeti/kvm-argv.js";

/**
 * Options Ganeti 3.0 writes (and 3.1 falls back to, where it misreads QEMU >= 10.2's -run-with help)
 * that newer QEMUs removed, each rewritten into its replacement, with the same effect: chrooted,
 * as the user, ACPI off. Only where the QEMU behind the launcher lacks the old option (asked of its
 * `-help`), so that on a QEMU that still has it the argv is Ganeti's as written. Pure.
 *
 *   -chroot DIR   removed in QEMU 9.0    -run-with chroot=DIR
 *   -runas USER   removed in QEMU 10.0   -run-with user=USER
 *   -no-acpi      removed in QEMU 9.0    acpi=off in -machine
 *   -soundhw CARD removed in QEMU 7.1    -audio driver=none|spice,model=CARD,id=soundhw (as Ganeti 3.1
 *                                        writes it), pcspk as -audiodev + pcspk-audiodev in -machine
 */
export const BRIDGED = ["chroot", "runas", "no-acpi", "soundhw"] as const;

/** The sound cards -audio's model takes (QEMU 7.1+, `-audio model=help`); pcspk is the board's own. */
const AUDIO_MODELS: ReadonlySet<string> = new Set(["ac97", "adlib", "cs4231a", "es1370", "gus", "hda", "sb16", "virtio"]);

/** Whether an argv holds an option the bridge may have to rewrite (the launcher asks QEMU only then). */
export const mayNeedBridge = (opts: readonly ArgvOption[]): boolean =>
  opts.some((o) => (BRIDGED as readonly string[]).includes(o.name));

/** The options with each removed one rewritten, and one line per rewrite for the log. */
export function bridgeRemoved(opts: readonly ArgvOption[], has: ReadonlySet<string>): { opts: ArgvOption[]; lines: string[] } {
  const lacks = (name: string) => !has.has(name) && opts.some((o) => o.name === name);
  const sound = lacks("soundhw") ? soundArgs(opts) : undefined;
  const runWith: string[] = [];
  const lines: string[] = [];
  const drop = new Set<ArgvOption>();
  for (const o of opts) {
    if (o.name === "chroot" && lacks("chroot") && o.value !== undefined) {
      runWith.push(`chroot=${o.value}`);
      lines.push(`-chroot ${o.value} (removed from this QEMU) as -run-with chroot=${o.value}`);
      drop.add(o);
    } else if (o.name === "runas" && lacks("runas") && o.value !== undefined) {
      runWith.push(`user=${o.value}`);
      lines.push(`-runas ${o.value} (removed from this QEMU) as -run-with user=${o.value}`);
      drop.add(o);
    }
  }
  const noAcpi = lacks("no-acpi");
  if (noAcpi) lines.push("-no-acpi (removed from this QEMU) as acpi=off in -machine");
  if (sound) lines.push(sound.line);
  const machineAdds = [...(noAcpi ? ["acpi=off"] : []), ...(sound?.machine ? [sound.machine] : [])];
  const out: ArgvOption[] = [];
  const added = (name: string, value: string): ArgvOption => ({ name, word: `-${name}`, value, at: -1 });
  let machineDone = false;
  for (const o of opts) {
    if (drop.has(o) || (noAcpi && o.name === "no-acpi")) continue;
    if (sound && o.name === "soundhw") {
      out.push(...sound.opts);
      continue;
    }
    if (machineAdds.length && !machineDone && (o.name === "machine" || o.name === "M") && o.value !== undefined) {
      out.push({ ...o, value: [o.value, ...machineAdds].join(",") });
      machineDone = true;
      continue;
    }
    out.push(o);
  }
  if (machineAdds.length && !machineDone) out.push(added("machine", machineAdds.join(",")));
  // One -run-with: QEMU takes its keys together (a value holding a comma would need doubling;
  // Ganeti's chroot directories and user names hold none).
  if (runWith.length) out.push(added("run-with", runWith.join(",")));
  return { opts: out, lines };
}

/**
 * Ganeti's `-soundhw CARD` for a QEMU without it: one card, as `-audio` (which takes one), with
 * no sound on the host unless the instance has SPICE, as Ganeti 3.1 does on such a QEMU; the PC
 * speaker through the board's pcspk-audiodev. Several cards or `all`: refused in one line, rather
 * than a VM with fewer cards than asked.
 */
function soundArgs(opts: readonly ArgvOption[]): { opts: ArgvOption[]; machine?: string; line: string } {
  const card = opts.findLast((o) => o.name === "soundhw")?.value ?? "";
  const driver = opts.some((o) => o.name === "spice") ? "spice" : "none";
  const at = -1;
  if (card === "pcspk") {
    return {
      opts: [{ name: "audiodev", word: "-audiodev", value: `${driver},id=soundhw`, at }],
      machine: "pcspk-audiodev=soundhw",
      line: `-soundhw pcspk (removed from this QEMU) as -audiodev ${driver},id=soundhw and pcspk-audiodev=soundhw in -machine`,
    };
  }
  if (!AUDIO_MODELS.has(card)) {
    throw new ArgvError(
      `argument -soundhw ${card}: this QEMU has no -soundhw and takes one sound card (soundhw=${[...AUDIO_MODELS, "pcspk"].join("|")}); set the instance's soundhw to one of them`,
    );
  }
  const value = `driver=${driver},model=${card},id=soundhw`;
  return {
    opts: [{ name: "audio", word: "-audio", value, at }],
    line: `-soundhw ${card} (removed from this QEMU) as -audio ${value}`,
  };
}

/** -chardev's boolean keys (QEMU's qemu_chardev_opts): a bare `key` means key=on, `nokey` key=off. */
const CHARDEV_BOOLEANS: ReadonlySet<string> = new Set([
  "server",
  "wait",
  "telnet",
  "tn3270",
  "websocket",
  "delay",
  "mux",
  "signal",
  "append",
  "logappend",
]);

/**
 * `-chardev socket,...,server,nowait` (Ganeti's guest agent socket) in long form: QEMU >= 6.0 warns
 * on every short-form boolean of a -chardev (`server=on`, `wait=off` it takes from every version
 * Ganeti runs), and those warnings end up in Ganeti's job output. Only -chardev: the legacy
 * `unix:PATH,server,nowait` of -monitor, -serial and -qmp is parsed without a warning (asked of QEMU
 * 7.2 and 11.1). A comma doubled in a value stays as it is.
 */
export function longFormBooleans(opts: readonly ArgvOption[]): { opts: ArgvOption[]; lines: string[] } {
  const lines: string[] = [];
  const out = opts.map((o): ArgvOption => {
    if (o.name !== "chardev" || o.value === undefined) return o;
    const items = o.value.split(/(?<!,),(?!,)/);
    const long = items.map((item, i) => {
      if (i === 0 || item.includes("=")) return item;
      if (CHARDEV_BOOLEANS.has(item)) return `${item}=on`;
      return item.startsWith("no") && CHARDEV_BOOLEANS.has(item.slice(2)) ? `${item.slice(2)}=off` : item;
    });
    if (long.every((w, i) => w === items[i])) return o;
    lines.push(`-chardev ${o.value} (short-form booleans, deprecated since QEMU 6.0) as ${long.join(",")}`);
    return { ...o, value: long.join(",") };
  });
  return { opts: out, lines };
}
