// How a storage argv is wired: each -device's drive= names a -blockdev node, and each -blockdev
// node is used, by a device or by an extra argument (a floppy's `-global isa-fdc.driveA=`).
// A builder that dropped a node, or named one wrongly, fails it.

/** A -device argument's properties: JSON (QEMU >= 7.0) or key=value with doubled commas. */
function deviceProps(arg: string): Record<string, unknown> {
  if (arg.startsWith("{")) return JSON.parse(arg) as Record<string, unknown>;
  const props: Record<string, unknown> = {};
  for (const part of arg.split(/(?<!,),(?!,)/).slice(1)) {
    const eq = part.indexOf("=");
    props[part.slice(0, eq)] = part.slice(eq + 1).replaceAll(",,", ",");
  }
  return props;
}

export function wiring(argv: readonly string[]): { dangling: string[]; unused: string[] } {
  const nodes: string[] = [];
  const drives: string[] = [];
  const extras: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [opt, arg] = [argv[i], argv[i + 1] ?? ""];
    if (opt === "-blockdev") nodes.push(String((JSON.parse(arg) as Record<string, unknown>)["node-name"]));
    else if (opt === "-device") {
      const drive = deviceProps(arg)["drive"];
      if (typeof drive === "string") drives.push(drive);
    } else if (opt?.startsWith("-") && opt !== "-drive") extras.push(arg);
    if (opt?.startsWith("-")) i++;
  }
  return {
    dangling: drives.filter((d) => !nodes.includes(d)),
    unused: nodes.filter((n) => !drives.includes(n) && !extras.some((e) => e.endsWith(`=${n}`))),
  };
}
