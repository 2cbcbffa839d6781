import { storageArgv } from "../blockdev/argv.js";
import { instanceStorage } from "../blockdev/instance.js";
import type { DiskSpec } from "../blockdev/model.js";
import { isHttpUrl } from "../blockdev/protocols.js";
import { storageSettings } from "../blockdev/settings.js";
import { specFromEntry, specFromEnv } from "../ganeti/disk-specs.js";
import type { HookEnvironment } from "../ganeti/env.js";
import { diskLink, type NodePaths } from "../ganeti/paths.js";
import { withNormalEntries } from "../ganeti/uuid.js";
import type { HvParams, RuntimeDiskEntry, RuntimeDocument } from "../generated/common.js";
import type { StartRequest } from "../generated/start-input.js";
import { DEFAULT_QEMU } from "../host/config.js";
import { checkCurlModule, checkRangeSupport } from "../host/media-checks.js";
import { pathKind } from "../host/path-kind.js";
import { qemuCaps } from "../host/qemu-caps.js";

/** schemas/start-input.schema.json: a runtime document (array) or a request object (its if/then/else). */
export type StartInput = RuntimeDocument | StartRequest;

import type { StartOutput } from "../generated/start-output.js";

export interface StartOptions {
  paths: NodePaths;
  /** --qemu-version: skips asking the binary. */
  qemuVersion?: string;
}

/** Normalises both JSON shapes (runtime document or request object) to disks + hvparams + version. */
function fromJson(input: StartInput | undefined): { disks?: RuntimeDiskEntry[]; hv?: HvParams; version?: string } {
  if (input === undefined) return {};
  if (Array.isArray(input)) return { disks: withNormalEntries(input[3]), hv: input[2] };
  const out: { disks?: RuntimeDiskEntry[]; hv?: HvParams; version?: string } = {};
  if (input.disks) out.disks = withNormalEntries(input.disks);
  if (input.hvparams) out.hv = input.hvparams;
  if (input.qemu?.version) out.version = input.qemu.version;
  return out;
}

/**
 * instance-start: the storage arguments and runtime disk entries of one instance. The JSON input,
 * when given, wins over the environment for what it carries.
 */
export function startStorage(
  env: HookEnvironment,
  input: StartInput | undefined,
  opts: StartOptions,
): { output: StartOutput; mediaUrls: string[] } {
  const instance = env.post ?? env.pre;
  const json = fromJson(input);
  const hv: HvParams = { ...instance.hv, ...json.hv };
  const warnings: string[] = [];
  const settings = storageSettings(hv, (m) => warnings.push(m));
  const disks: DiskSpec[] = json.disks
    ? json.disks.map((e, i) => specFromEntry(e, i))
    : instance.disks.map((d) => specFromEnv(d, diskLink(opts.paths, instance.name, d.index)));
  const capsOpts: Parameters<typeof qemuCaps>[0] = { kvmPath: hv.kvm_path ?? DEFAULT_QEMU, cacheDir: opts.paths.cacheDir };
  if (opts.qemuVersion !== undefined) capsOpts.flag = opts.qemuVersion;
  if (json.version !== undefined) capsOpts.json = json.version;
  const caps = qemuCaps(capsOpts);
  const storage = instanceStorage(disks, settings, caps, { pathKind });
  return {
    output: { argv: storageArgv(storage, caps), disks: storage.runtimeDisks, warnings: [...warnings, ...storage.warnings] },
    mediaUrls: settings.cdromImages.filter(isHttpUrl),
  };
}

/**
 * HTTP(S) CD-ROMs, checked before QEMU would fail on them less clearly: QEMU's curl module is
 * installed (in `moduleDir`, else the distribution's places), and each server answers a Range request.
 */
export async function checkMediaUrls(urls: readonly string[], moduleDir: string | undefined): Promise<void> {
  if (urls.length === 0) return;
  checkCurlModule(moduleDir);
  for (const url of urls) await checkRangeSupport(url);
}
