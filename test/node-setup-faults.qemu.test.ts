// The node's setup under faults: every step of `enable` and `disable` fails, or the command is
// killed (SIGKILL) right after it, or an undo fails; and the real faults a node meets: dpkg-divert
// failing, a full /etc, a read-only /etc, a translated locale. After each: Ganeti's QEMU path still
// runs QEMU, `status` names what is half made, and running `enable` or `disable` again ends in the
// whole state or the clean one, with exit 0. Writes docs/fault-matrix-setup.md.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { HOOK_LINKS } from "../src/host/plugin-files.js";
import { OPERATION_HOOKS } from "../src/node/node-status.js";
import type { StepName } from "../src/node/setup.js";
import { writeDoc } from "./helpers/docs.js";
import { LAUNCHER, REAL_QEMU, run } from "./helpers/launcher.js";
import { type NodeState, type ScratchNode, scratchNode } from "./helpers/node-setup.js";
import { tempDir } from "./helpers/tmp.js";

const ENABLE: StepName[] = ["copy", "divert", "config", "link", "hooks"];
const DISABLE = [...ENABLE].reverse();
const FAULT = "GANETI_QEMU_BLOCKDEV_SETUP_FAULT";

const clean = (): NodeState => ({ path: `-> ${REAL_QEMU}`, distrib: "none", diversion: "", qemu: "", hooks: [] });
const whole = (n: ScratchNode): NodeState => ({
  path: `-> ${LAUNCHER}`,
  distrib: `-> ${REAL_QEMU}`,
  diversion: `local diversion of ${n.path} to ${n.path}.distrib`,
  qemu: `${n.path}.distrib`,
  hooks: HOOK_LINKS.map((l) => l.link).sort(),
});
/** The node without the cluster-verify hook, which `disable` leaves to report the node disabled. */
const disabled = (_n: ScratchNode): NodeState => ({
  ...clean(),
  hooks: HOOK_LINKS.filter((l) => l.hook === "cluster-verify").map((l) => l.link),
});

/** Rows of the table written to docs/: what each case ended in, and what running again did. */
const rows: string[] = [];

/** Ganeti's QEMU path answers a probe as QEMU does (through the launcher or not): never missing. */
async function qemuAnswers(t: Test, n: ScratchNode, when: string) {
  const r = await run(n.path, ["--version"], n.env);
  t.match(r.stdout.toString(), /^QEMU emulator version/, `${when}: ${n.path} still runs QEMU`);
}

const problems = async (n: ScratchNode): Promise<string[]> =>
  JSON.parse((await n.command(["status", "--json"])).stdout.toString()).problems;

/** `status` in words for the table: the half state it names, "disabled", or nothing. */
async function said(n: ScratchNode): Promise<string> {
  const p = await problems(n);
  const half = p.find((l) => l.includes("half enabled"));
  if (half) return `half: ${/it has ([^:]+)/.exec(half)?.[1] ?? half}`;
  return p.some((l) => l.includes("disabled")) ? "disabled" : "enabled";
}

async function again(t: Test, n: ScratchNode, args: string[], want: NodeState, what: string) {
  const r = await n.command(args);
  t.equal(r.code, 0, `${what}: ${args.join(" ")} again exits 0: ${r.stderr}`);
  t.same(n.state(), want, `${what}: ${args.join(" ")} again: ${want === undefined ? "" : "the whole or the clean state"}`);
}

t.test("enable: a step fails, is killed after, or its undo fails", async (t) => {
  for (const step of ENABLE) {
    const n = scratchNode(t);
    const failed = await n.command(["enable"], { [FAULT]: `fail:${step}` });
    t.equal(failed.code, 1, `fail at ${step}: exit 1`);
    t.match(failed.stderr.toString(), `injected fault (fail:${step})`, "the cause, not an undo's");
    t.same(n.state(), clean(), `fail at ${step}: the node as before`);
    t.same(await problems(n), [`the plugin is disabled: hooks not linked in ${n.hooks}: ${OPERATION_HOOKS.join(", ")}`]);
    rows.push(`| enable | ${step} fails | 1, as before | | |`);

    const killed = await n.command(["enable"], { [FAULT]: `kill:${step}` });
    t.equal(killed.signal, "SIGKILL", `killed after ${step}`);
    await qemuAnswers(t, n, `killed after ${step}`);
    const seen = await said(n);
    if (step !== "hooks" && step !== "link") t.match(seen, /^half: /, `status names the half state after ${step}`);
    await again(t, n, ["enable"], whole(n), `killed after ${step}`);
    await again(t, n, ["disable", "--all"], clean(), "then");
    t.equal((await n.command(["enable"], { [FAULT]: `kill:${step}` })).signal, "SIGKILL");
    await again(t, n, ["disable"], step === "hooks" ? disabled(n) : clean(), `killed after ${step}`);
    rows.push(`| enable | killed after ${step} | SIGKILL, status: ${seen} | whole | clean |`);
  }
  for (const step of ENABLE.slice(0, -1)) {
    const n = scratchNode(t);
    const r = await n.command(["enable"], { [FAULT]: `fail:hooks,undo-fail:${step}` });
    t.equal(r.code, 1);
    t.match(r.stderr.toString(), `injected fault (fail:hooks); could not undo: ${step} (injected fault (undo-fail:${step}))`);
    const later = ENABLE.slice(ENABLE.indexOf(step) + 1, -1);
    t.equal(
      (r.stdout.toString().match(/^undone: /gm) ?? []).length,
      later.length,
      `the undos of ${later.join(", ") || "nothing"} ran, no earlier one`,
    );
    await qemuAnswers(t, n, `undo of ${step} failed`);
    const seen = await said(n);
    await again(t, n, ["disable"], clean(), `undo of ${step} failed`);
    t.equal((await n.command(["enable"], { [FAULT]: `fail:hooks,undo-fail:${step}` })).code, 1);
    await again(t, n, ["enable"], whole(n), `undo of ${step} failed`);
    rows.push(`| enable | hooks fails, the undo of ${step} fails | 1, naming both; status: ${seen} | whole | clean |`);
  }
});

t.test("disable: a step fails, or is killed after", async (t) => {
  for (const step of DISABLE) {
    const n = scratchNode(t);
    t.equal((await n.command(["enable"])).code, 0);
    const failed = await n.command(["disable"], { [FAULT]: `fail:${step}` });
    t.equal(failed.code, 1, `fail at ${step}: exit 1`);
    await qemuAnswers(t, n, `disable failed at ${step}`);
    const seen = await said(n);
    await again(t, n, ["disable"], disabled(n), `disable failed at ${step}`);
    t.equal((await n.command(["enable"])).code, 0);
    const killed = await n.command(["disable"], { [FAULT]: `kill:${step}` });
    t.equal(killed.signal, "SIGKILL", `killed after ${step}`);
    await qemuAnswers(t, n, `disable killed after ${step}`);
    const seenKilled = await said(n);
    await again(t, n, ["enable"], whole(n), `disable killed after ${step}`);
    t.equal((await n.command(["disable"], { [FAULT]: `kill:${step}` })).signal, "SIGKILL");
    await again(t, n, ["disable", "--all"], clean(), `disable killed after ${step}`);
    rows.push(`| disable | ${step} fails | 1, status: ${seen} | | clean |`);
    rows.push(`| disable | killed after ${step} | SIGKILL, status: ${seenKilled} | whole | clean |`);
  }
});

t.test("an interrupted disable of an older version (link removed, diversion left): disable --all finds it", async (t) => {
  const n = scratchNode(t);
  t.equal((await n.command(["enable"])).code, 0);
  // What the code before this change did first, and where a kill left a node: no QEMU at the path.
  execFileSync("rm", [n.path]);
  t.match(await said(n), /^half: /, "status names it");
  await again(t, n, ["disable", "--all"], clean(), "disable --all");
  await qemuAnswers(t, n, "after");
  rows.push(
    "| disable (older version) | killed after removing the link | no QEMU at the path; status: half | | clean, QEMU back |",
  );
});

t.test("real faults: dpkg-divert fails, /etc is full, /etc is read-only", async (t) => {
  const n = scratchNode(t);
  const bin = join(n.dir, "bin");
  mkdirSync(bin);
  writeFileSync(
    join(bin, "dpkg-divert"),
    '#!/bin/sh\ncase " $* " in *" --add "*) echo "dpkg-divert: error: disk on fire" >&2; exit 2;; esac\nexec /usr/bin/dpkg-divert "$@"\n',
  );
  chmodSync(join(bin, "dpkg-divert"), 0o755);
  const r = await n.command(["enable"], { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin` });
  t.equal(r.code, 1);
  t.match(r.stderr.toString(), /DPKG_DIVERT_FAILED.*disk on fire/);
  t.same(n.state(), clean(), "dpkg-divert fails: the node as before");
  rows.push("| enable | dpkg-divert fails | 1, as before | | |");

  const etc = tempDir(t, "gqb-etc-");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16k", "gqb-etc", etc]);
  t.teardown(() => execFileSync("umount", [etc]));
  const config = join(etc, "config.json");
  for (const [what, prepare] of [
    ["full", () => execFileSync("sh", ["-c", `dd if=/dev/zero of=${etc}/fill bs=4k 2>/dev/null; true`])],
    ["read-only", () => execFileSync("mount", ["-o", "remount,ro", etc])],
  ] as const) {
    prepare();
    const r = await n.command(["enable"], { GANETI_QEMU_BLOCKDEV_CONFIG: config });
    t.equal(r.code, 1, `/etc ${what}: exit 1`);
    t.match(r.stderr.toString(), what === "full" ? /ENOSPC/ : /EROFS/);
    t.match(r.stderr.toString(), /the steps done before were undone/);
    t.same(n.state(), clean(), `/etc ${what}: the node as before`);
    await qemuAnswers(t, n, `/etc ${what}`);
    rows.push(`| enable | /etc ${what} (at config) | 1, as before | | |`);
  }
});

t.teardown(() => {
  const intro = `# The node's setup under faults

Written by \`test/node-setup-faults.qemu.test.ts\`, run by \`npm run docs:tables\`: edit the test, not this file.

\`enable\` takes the steps ${ENABLE.join(" → ")} (src/node/setup.ts); \`disable\` removes them in
reverse. Each case runs on a scratch node (its own QEMU path, hooks directory, config and dpkg
database). "as before": the node exactly as it was; "whole": enabled, every step there; "clean":
nothing of the plugin but, after \`disable\`, the cluster-verify hook (\`disable --all\` takes it
too). In every case Ganeti's QEMU path still answers a probe as QEMU. status: what \`ganeti-qemu-blockdev
status\` said in between ("half: …" names the steps the node has).

| command | fault | exit, state | \`enable\` again | \`disable\` again |
|---|---|---|---|---|
`;
  writeDoc("fault-matrix-setup.md", `${intro}${rows.join("\n")}\n`);
});
