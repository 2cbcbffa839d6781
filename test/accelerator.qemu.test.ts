// The accelerator QEMU picks through the launcher is the one stock Ganeti's QEMU would pick, in every
// install mode (QEMU chooses KVM or TCG by the name it runs under when the command line chooses
// none). Each case runs where QEMU finds no /dev/kvm: a QEMU that tries KVM says so on stderr
// ("failed to initialize kvm", "falling back to tcg"), one that does not says nothing, so the stock
// QEMU's stderr is compared with the launcher's, byte for byte. Where the host has a /dev/kvm, each
// case also runs where QEMU finds it, and QEMU is asked over QMP which accelerator it chose (it says
// nothing on stderr there). Both check that the stock QEMU tried KVM where its name ends in "kvm": a
// launcher that ran QEMU under another name would differ. test/helpers/accel.ts finds both places.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import t, { type Test } from "tap";
import { accelerator, askAccelerator, kvmPlaces, TRIED_KVM, triedKvm } from "./helpers/accel.js";
import { ROOT } from "./helpers/hook.js";
import {
  daemon,
  INSTANCE,
  images,
  LAUNCHER,
  launcherEnv,
  linkDisks,
  node,
  onNode,
  REAL_QEMU,
  recordedArgv,
  run,
} from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

const COMMAND = join(ROOT, "bin/ganeti-qemu-blockdev");

/**
 * A start that ends right after QEMU chose its accelerator (the kernel file does not exist), with
 * Ganeti's accelerator options for each kvm_flag: none (the default), and accel=kvm in -machine
 * (enabled). 3.0 writes -disable-kvm only for a QEMU without -machine; QEMU 7.2 refuses it, and so
 * must the launcher's QEMU, with the same words.
 */
const STARTS: [string, string[]][] = [
  ["kvm_flag unset", ["-machine", "pc"]],
  ["kvm_flag=enabled", ["-machine", "pc,accel=kvm"]],
  ["-enable-kvm", ["-enable-kvm", "-machine", "pc"]],
  ["-disable-kvm", ["-disable-kvm", "-machine", "pc"]],
];
const startArgv = (opts: string[]) => [
  "-name",
  "accel-test",
  "-nodefaults",
  "-display",
  "none",
  ...opts,
  "-kernel",
  "/nonexistent/vmlinuz",
];
/** Probes: an unknown option's error names the program as QEMU was run (argv[0]). */
const PROBES = [["-no-such-option"], ["--version"]];

/** A directory of QEMU paths for one case, the launcher's config and cache, and a dpkg database of its own. */
function caseDir(t: Test): { dir: string; env: Record<string, string> } {
  const dir = tempDir(t);
  mkdirSync(join(dir, "dpkg"));
  writeFileSync(join(dir, "dpkg/diversions"), "");
  const env = {
    ...launcherEnv(dir, null),
    GANETI_QEMU_BLOCKDEV_CACHE_DIR: join(dir, "cache"),
    DPKG_ADMINDIR: join(dir, "dpkg"),
  };
  return { dir, env };
}

/** The launcher put in front of `path` (hooks linked beside it); undone in teardown whatever the test did. */
function divertLater(t: Test, path: string, env: Record<string, string>) {
  const hooksDir = join(dirname(path), "hooks");
  t.teardown(async () => {
    await run(COMMAND, ["disable", "--path", path, "--hooks-dir", hooksDir], env);
  });
  return async () => {
    const r = await run(COMMAND, ["enable", "--path", path, "--hooks-dir", hooksDir], env);
    t.equal(r.code, 0, `enable --path ${path}: ${r.stderr}`);
  };
}

const PLACES = kvmPlaces();
t.comment(
  `places: without /dev/kvm ${PLACES.without.join(" ") || "(here)"}; with it ${PLACES.with?.join(" ") || PLACES.why || "(here)"}`,
);

/** What a QEMU run where it finds no /dev/kvm shows of its accelerator choice: exit status and stderr. */
const shown = async (cmd: string, argv: string[], env: Record<string, string> = {}) => {
  const [exe, ...pre] = [...PLACES.without, cmd];
  const r = await run(exe ?? cmd, [...pre, ...argv], env);
  return { code: r.code, stderr: r.stderr.toString() };
};

/** The same start where QEMU finds the host's /dev/kvm: exit status and whether it tried KVM, from QMP. */
const asked = async (cmd: string, argv: string[], env: Record<string, string> = {}) => {
  const r = await askAccelerator(PLACES.with ?? [], cmd, argv, env);
  return { code: r.code, triedKvm: triedKvm(r.accel, r.stderr) };
};
/** The starts without their kernel, so that QEMU stays up (paused) to be asked. */
const askable = (opts: string[]) => startArgv(opts).slice(0, -2);

/** Runs every start and probe through `stock` now and returns a check that runs them through the plugin. */
async function recordStock(t: Test, stock: string, triesKvm: boolean) {
  const seen = new Map<string, { code: number | null; stderr: string }>();
  for (const [what, opts] of STARTS) seen.set(what, await shown(stock, startArgv(opts)));
  for (const probe of PROBES) seen.set(probe.join(" "), await shown(stock, probe));
  const unset = seen.get("kvm_flag unset");
  t.equal(TRIED_KVM.test(unset?.stderr ?? ""), triesKvm, `stock ${stock} ${triesKvm ? "tries" : "does not try"} KVM first`);
  const withKvm = new Map<string, { code: number | null; triedKvm: boolean }>();
  if (PLACES.with) {
    for (const [what, opts] of STARTS) withKvm.set(what, await asked(stock, askable(opts)));
    t.equal(withKvm.get("kvm_flag unset")?.triedKvm, triesKvm, `with /dev/kvm (QMP): stock ${stock} tries KVM: ${triesKvm}`);
  }
  return async (via: string, env: Record<string, string>) => {
    for (const [what, opts] of STARTS)
      t.same(await shown(via, startArgv(opts), env), seen.get(what), `${what}: the same accelerator attempt and words as stock`);
    for (const probe of PROBES)
      for (const call of ["first", "again (sh front only)"])
        t.same(await shown(via, probe, env), seen.get(probe.join(" ")), `probe ${probe.join(" ")}, ${call}: as stock`);
    if (!PLACES.with) {
      t.pass("with /dev/kvm (QMP): skipped", { skip: PLACES.why });
      return;
    }
    for (const [what, opts] of STARTS)
      t.same(
        await asked(via, askable(opts), env),
        withKvm.get(what),
        `with /dev/kvm (QMP), ${what}: the same accelerator as stock`,
      );
  };
}

t.test("diversion of a binary named kvm (as /usr/bin/kvm): QEMU tries KVM as stock does", async (t) => {
  const { dir, env } = caseDir(t);
  const kvm = join(dir, "kvm");
  symlinkSync(REAL_QEMU, kvm); // Debian's /usr/bin/kvm is a link to qemu-system-x86_64
  const install = divertLater(t, kvm, env);
  const viaPlugin = await recordStock(t, kvm, true);
  await install();
  await viaPlugin(kvm, env);
  const links = join(env["GANETI_QEMU_BLOCKDEV_CACHE_DIR"] as string, "qemu");
  t.ok(readdirSync(links).length > 0, "QEMU ran through a link named kvm in the cache");
  t.equal((await run(COMMAND, ["disable", "--path", kvm, "--hooks-dir", join(dir, "hooks")], env)).code, 0);
  t.same(readdirSync(links), [], "uninstall removes it");
});

t.test("diversion of qemu-system-x86_64: Ganeti's kvm (a link to it) still tries KVM, its own name does not", async (t) => {
  const { dir, env } = caseDir(t);
  const qemu = join(dir, "qemu-system-x86_64");
  const kvm = join(dir, "kvm");
  symlinkSync(REAL_QEMU, qemu);
  symlinkSync("qemu-system-x86_64", kvm);
  const install = divertLater(t, qemu, env);
  const viaKvm = await recordStock(t, kvm, true);
  const viaQemu = await recordStock(t, qemu, false);
  await install();
  await viaKvm(kvm, env);
  await viaQemu(qemu, env);
});

t.test("kvm_path: the launcher itself runs QEMU as the config names it", async (t) => {
  for (const [config, stock, triesKvm] of [
    [null, "/usr/bin/kvm", true],
    [{ qemu: "/usr/bin/kvm" }, "/usr/bin/kvm", true],
    [{ qemu: REAL_QEMU }, REAL_QEMU, false],
  ] as const) {
    const dir = tempDir(t);
    const env = launcherEnv(dir, config);
    const viaPlugin = await recordStock(t, stock, triesKvm);
    await viaPlugin(LAUNCHER, env);
  }
});

t.test(
  "a host with /dev/kvm where QEMU would not try it: a warning on stderr and in the plugin's log, not a refusal",
  async (t) => {
    const dir = tempDir(t);
    const log = join(dir, "qemu-blockdev.log");
    const argv = (opts: string[]) => startArgv(opts);
    const withKvm = (config: object) => ({
      ...launcherEnv(dir, config),
      GANETI_QEMU_BLOCKDEV_KVM_DEVICE: join(dir, "kvm-device"),
      GANETI_QEMU_BLOCKDEV_LOG: log,
    });
    writeFileSync(join(dir, "kvm-device"), "");
    const tcg = await shown(LAUNCHER, argv(["-machine", "pc"]), withKvm({ qemu: REAL_QEMU }));
    t.match(
      tcg.stderr,
      /^qemu-launcher: warning: this host has \/dev\/kvm, but QEMU runs as \/usr\/bin\/qemu-system-x86_64, a name that does not end in "kvm"/,
    );
    t.match(tcg.stderr, /could not (open|load) kernel/i, "and QEMU still ran");
    t.match(
      readFileSync(log, "utf8"),
      /qemu-launcher\[\d+\]: accel-test: warning: this host has \/dev\/kvm/,
      "in the plugin's log too",
    );
    t.match(
      readFileSync(log, "utf8"),
      /qemu-launcher\[\d+\]: accel-test start: (no -drive, passed on as written|\d+ -drive rewritten to -blockdev) \(\d+ ms\)/,
      "with the start itself, one line",
    );
    for (const [what, config, opts] of [
      ["a QEMU named kvm", { qemu: "/usr/bin/kvm" }, ["-machine", "pc"]],
      ["kvm_flag=enabled", { qemu: REAL_QEMU }, ["-machine", "pc,accel=kvm"]],
      ["-accel tcg, chosen on purpose", { qemu: REAL_QEMU }, ["-accel", "tcg", "-machine", "pc"]],
    ] as const) {
      rmSync(log, { force: true });
      const r = await shown(LAUNCHER, argv([...opts]), withKvm(config));
      t.notMatch(r.stderr, /qemu-launcher: warning/, `${what}: no warning`);
      t.notMatch(existsSync(log) ? readFileSync(log, "utf8") : "", /warning/, `${what}: no warning logged`);
    }
    rmSync(join(dir, "kvm-device"));
    const noKvm = await shown(LAUNCHER, argv(["-machine", "pc"]), withKvm({ qemu: REAL_QEMU }));
    t.notMatch(noKvm.stderr, /qemu-launcher: warning/, "no /dev/kvm: no warning");
  },
);

t.test("a migration target (-incoming) through a diverted kvm: same accelerator, argv[0] and comm as stock", async (t) => {
  const { dir, env } = caseDir(t);
  const kvm = join(dir, "kvm");
  symlinkSync(REAL_QEMU, kvm);
  const install = divertLater(t, kvm, env);
  const files = images(dir, 2);
  const nodes = [node(join(dir, "stock")), node(join(dir, "plugin"))] as const;
  for (const n of nodes) linkDisks(n, files.disks);
  const argv = [...recordedArgv("instance-start", nodes[0], files), "-incoming", "defer"];
  const target = async (n: (typeof nodes)[number], env: Record<string, string> = {}) => {
    const r = await shown(kvm, onNode(argv, nodes[0], n), env);
    t.equal(r.code, 0, `started: ${r.stderr}`);
    const vm = await daemon(t, n);
    const proc = (f: string) => readFileSync(`/proc/${vm.pid}/${f}`, "utf8");
    // Daemonized with -D, QEMU writes what it says after its start to that log (Ganeti's
    // /var/log/ganeti/kvm/<instance>.log): the accelerator attempt lands there.
    return {
      stderr: r.stderr,
      log: readFileSync(join(n.dir, "log", `${INSTANCE}.log`), "utf8"),
      argv0: proc("cmdline").split("\0")[0],
      comm: proc("comm").trim(),
      exe: execFileSync("readlink", ["-f", `/proc/${vm.pid}/exe`], { encoding: "utf8" }).trim(),
      accel: await accelerator(vm.qmp),
      status: ((await vm.qmp.execute("query-status")) as { status: string }).status,
    };
  };
  const stock = await target(nodes[0]);
  t.ok(triedKvm(stock.accel, stock.log), "stock tried KVM (its log or QMP says so)");
  t.equal(stock.status, "inmigrate", "a migration target");
  await install();
  mkdirSync(join(dir, "cache"), { recursive: true });
  const plugin = await target(nodes[1], env);
  t.same(plugin, stock, "the launcher's target: same stderr, argv[0], comm, binary, query-kvm and state");
});
