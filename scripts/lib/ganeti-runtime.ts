// For the demo, the benchmark and the tests, which play Ganeti's part: the KVM runtime file Ganeti
// would write for an instance started from a hook environment.

/** Hvparams as the runtime's up_hvp holds them: typed values, not the environment's strings. */
export function upHvp(env: Readonly<Record<string, string | undefined>>): Record<string, string | number | boolean> {
  const hv: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith("GANETI_INSTANCE_HV_") || v === undefined) continue;
    hv[k.slice("GANETI_INSTANCE_HV_".length)] = /^[0-9]+$/.test(v) ? Number(v) : v === "True" ? true : v === "False" ? false : v;
  }
  return hv;
}

/** [kvm_cmd, nics, up_hvp, disks] for instance-start's disk entries. */
export function runtimeDocument(kvmPath: string, env: Readonly<Record<string, string | undefined>>, disks: unknown): string {
  return JSON.stringify([[kvmPath, "-name", env["GANETI_INSTANCE_NAME"] ?? ""], [], upHvp(env), disks]);
}
