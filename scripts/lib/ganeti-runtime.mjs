// @ts-check
// For the demo, the benchmark, the tests and the code caches, which play Ganeti's part: the KVM
// runtime file Ganeti would write for an instance started from a hook environment. Plain JS: the
// package's postinst runs code-cache.mjs, which uses it, on Debian's Node.

/**
 * Hvparams as the runtime's up_hvp holds them: typed values, not the environment's strings.
 * @param {Readonly<Record<string, string | undefined>>} env
 * @returns {Record<string, string | number | boolean>}
 */
export function upHvp(env) {
  /** @type {Record<string, string | number | boolean>} */
  const hv = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith("GANETI_INSTANCE_HV_") || v === undefined) continue;
    hv[k.slice("GANETI_INSTANCE_HV_".length)] = /^[0-9]+$/.test(v) ? Number(v) : v === "True" ? true : v === "False" ? false : v;
  }
  return hv;
}

/**
 * [kvm_cmd, nics, up_hvp, disks] for instance-start's disk entries.
 * @param {string} kvmPath
 * @param {Readonly<Record<string, string | undefined>>} env
 * @param {unknown} disks
 * @returns {string}
 */
export function runtimeDocument(kvmPath, env, disks) {
  return JSON.stringify([[kvmPath, "-name", env["GANETI_INSTANCE_NAME"] ?? ""], [], upHvp(env), disks]);
}
