import { blockModuleOf } from "../blockdev/protocols.js";
import { PluginError } from "../errors.js";
import { builtin } from "./builtin.js";

/**
 * Checks for HTTP(S) CD-ROMs that QEMU would otherwise report only at start, and cryptically:
 * its curl block module must be installed, and the server must honour Range requests.
 */

/** Where Linux distributions put QEMU's loadable modules (CONFIG_QEMU_MODDIR). */
const MODULE_DIRS = ["/usr/lib/x86_64-linux-gnu/qemu", "/usr/lib64/qemu", "/usr/lib/qemu"];

/**
 * Where QEMU loads its modules from: QEMU_MODULE_DIR first, as QEMU itself does (the launcher's
 * environment is the one QEMU gets), then the distribution's places; `given` (a flag) wins.
 */
function moduleDirs(given: string | undefined, env: Readonly<Record<string, string | undefined>>): string[] {
  if (given) return [given];
  const fromEnv = env["QEMU_MODULE_DIR"];
  return fromEnv ? [fromEnv, ...MODULE_DIRS] : MODULE_DIRS;
}

/**
 * The block modules among `modules` (`curl`, `gluster`, ...) that the QEMU of this node lacks, and
 * where it looked: the first module directory there is. A directory without any module, or no
 * directory at all, is a QEMU built without modules: it has its drivers built in, or not at all,
 * and QEMU says which at start.
 */
export function missingBlockModules(
  modules: readonly string[],
  moduleDir?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): { dir: string; missing: string[] } | undefined {
  if (modules.length === 0) return undefined;
  const { existsSync, readdirSync } = builtin<typeof import("node:fs")>("node:fs");
  for (const dir of moduleDirs(moduleDir, env)) {
    if (!existsSync(dir)) continue;
    const present = readdirSync(dir).filter((f) => f.endsWith(".so"));
    if (present.length === 0) return undefined;
    const missing = [...new Set(modules)].filter((m) => !present.includes(`block-${m}.so`));
    return missing.length ? { dir, missing } : undefined;
  }
  return undefined;
}

export function checkCurlModule(moduleDir?: string): void {
  const gap = missingBlockModules(["curl"], moduleDir);
  if (!gap) return;
  throw new PluginError(
    "QEMU_MODULE_MISSING",
    `HTTP(S) CD-ROMs need QEMU's curl block module, and ${gap.dir} has no block-curl.so: install it (Debian: apt-get install qemu-block-extra)`,
  );
}

/** How long an HTTP(S) medium's server may take to answer the check, at start and at a change: in all. */
export const URL_CHECK_TIMEOUT_MS = 5000;

/**
 * Asks for the first byte: QEMU's curl driver refuses servers that answer anything but 206. The
 * deadline is for the whole answer, not between bytes: a server that trickles a byte every few
 * seconds must not hold the hook (Ganeti puts no timeout on hooks).
 */
export async function checkRangeSupport(url: string, timeoutMs = URL_CHECK_TIMEOUT_MS): Promise<void> {
  const lib = builtin<typeof import("node:http")>(url.toLowerCase().startsWith("https:") ? "node:https" : "node:http");
  let timer: NodeJS.Timeout | undefined;
  const status = await new Promise<number>((resolve, reject) => {
    const req = lib.get(url, { headers: { Range: "bytes=0-0" } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy(); // the status is the answer: the body is not waited for
    });
    timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    req.on("error", reject);
  })
    .catch((e: Error) => {
      throw new PluginError("URL_UNREACHABLE", `CD-ROM image ${url} is not accessible: ${e.message}`);
    })
    .finally(() => clearTimeout(timer));
  if (status === 206) return;
  if (status === 200) {
    throw new PluginError(
      "RANGE_UNSUPPORTED",
      `the server of ${url} ignores Range requests (it answered 200 to bytes=0-0), and QEMU's curl driver needs them: serve the image from a server that supports Range (nginx, Apache, lighttpd)`,
    );
  }
  throw new PluginError("URL_UNREACHABLE", `CD-ROM image ${url} is not accessible: the server answered HTTP ${status}`);
}

/** What the refusal tells the operator to do, by module. */
const REMEDY: Readonly<Record<string, string>> = {
  gluster:
    "a QEMU without it (Debian's 11.1 has none) reaches GlusterFS disks only through their FUSE mount: set access=kernelspace for them (gnt-cluster modify -D gluster:access=kernelspace)",
};

/**
 * Refuses, before QEMU does less clearly, a start whose block nodes need a driver module this
 * node's QEMU lacks: one line naming the instance, the node, the driver and what to do.
 */
export function checkBlockModules(
  instance: string,
  trees: readonly { name: string; drivers: readonly string[] }[],
  moduleDir?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  const needs = trees.flatMap((t) =>
    t.drivers.flatMap((driver) => {
      const module = blockModuleOf(driver);
      return module ? [{ name: t.name, driver, module }] : [];
    }),
  );
  const gap = missingBlockModules(
    needs.map((n) => n.module),
    moduleDir,
    env,
  );
  const first = gap && needs.find((n) => gap.missing.includes(n.module));
  if (!gap || !first) return;
  const remedy = REMEDY[first.module] ?? "install it (Debian: apt-get install qemu-block-extra)";
  throw new PluginError(
    "QEMU_MODULE_MISSING",
    `instance ${instance}: ${first.name} needs QEMU's ${first.driver} driver, and this node's QEMU has no block-${first.module}.so in ${gap.dir}: ${remedy}`,
  );
}
