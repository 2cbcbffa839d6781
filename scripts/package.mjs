// @ts-check
// npm run package: dist/ganeti-qemu-blockdev_<version>_all.deb, from this checkout alone (run after
// `npm run build`; dpkg-deb, no network). The same commit gives the same bytes: every file's time
// is the commit's (SOURCE_DATE_EPOCH), dpkg-deb sorts the entries and owns them as root.
//
// What it installs runs on Debian's own Node (nodejs 18.20 on Debian 12, 20.19 on Debian 13): the
// executables name /usr/bin/node, and the V8 code caches are made on the node, by postinst, for
// the Node installed there. Installing changes nothing on the node: `ganeti-qemu-blockdev enable`
// links the hooks and puts the launcher in front of QEMU (a diversion owned by the package).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { fillIn, pluginFiles } from "./lib/plugin-files.mjs";

const plugin = await pluginFiles();
const { PACKAGE, PACKAGE_ROOT, DEFAULT_CONFIG_PATH, DEFAULT_CACHE_DIR, LAYOUT, PROGRAMS } = plugin;
const MAINTAINER = `${PACKAGE} maintainers <maintainers@${PACKAGE}.invalid>`;
const root = join(dirname(new URL(import.meta.url).pathname), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
/** PACKAGE_VERSION overrides the version: the upgrade test builds a newer copy of the same tree. */
const version = process.env["PACKAGE_VERSION"] || pkg.version;
const epoch = Number(
  process.env["SOURCE_DATE_EPOCH"] || execFileSync("git", ["-C", root, "log", "-1", "--format=%ct"], { encoding: "utf8" }).trim(),
);
const stage = join(root, "dist/package", PACKAGE);
const lib = join(stage, PACKAGE_ROOT);
rmSync(join(root, "dist/package"), { recursive: true, force: true });

/** @param {string} to @param {string | Buffer} text @param {number} [mode] */
function put(to, text, mode = 0o644) {
  mkdirSync(dirname(to), { recursive: true });
  writeFileSync(to, text);
  chmodSync(to, mode);
}
/** @param {string} from @param {string} to @param {number} [mode] */
const copy = (from, to, mode = 0o644) => put(to, readFileSync(from), mode);
/** gzip -9n: no name, no time in the header. @param {string | Buffer} data */
const gz = (data) => gzipSync(data, { level: 9 });

// The bundles (no caches: postinst makes them for the Node installed), the executables naming
// Debian's /usr/bin/node, and what postinst needs to make the caches.
for (const { name } of PROGRAMS) copy(join(root, LAYOUT.bundles, `${name}.cjs`), join(lib, LAYOUT.bundles, `${name}.cjs`));
copy(join(root, LAYOUT.bundles, "validators-verbose.cjs"), join(lib, LAYOUT.bundles, "validators-verbose.cjs"));
execFileSync(process.execPath, [join(root, "scripts/gen-hooks.mjs"), "/usr/bin/node", lib], { stdio: "inherit" });
for (const d of new Set([LAYOUT.hook, LAYOUT.command])) copy(join(root, d, "package.json"), join(lib, d, "package.json"));
copy(join(root, "scripts/code-cache.mjs"), join(lib, "scripts/code-cache.mjs"));
for (const m of ["ganeti-runtime", "qemu-args"]) copy(join(root, `scripts/lib/${m}.mjs`), join(lib, `scripts/lib/${m}.mjs`));
copy(join(root, "examples/instance.env"), join(lib, "examples/instance.env"));
mkdirSync(join(stage, "usr/sbin"), { recursive: true });
symlinkSync(relative("/usr/sbin", `${PACKAGE_ROOT}/${LAYOUT.command}/${PACKAGE}`), join(stage, "usr/sbin", PACKAGE));

// The cache directory, root's and 0755 as the launcher trusts it (src/host/cache-dir.ts): made by
// dpkg, never left to a umask at first use.
mkdirSync(join(stage, DEFAULT_CACHE_DIR), { recursive: true });
chmodSync(join(stage, DEFAULT_CACHE_DIR), 0o755);

// The conffile: every setting has its default; `enable` names the diverted QEMU in it.
put(join(stage, DEFAULT_CONFIG_PATH), "{}\n");
const doc = join(stage, "usr/share/doc", PACKAGE);
copy(join(root, "packaging/debian/copyright"), join(doc, "copyright"));
const date = new Date(epoch * 1000).toUTCString().replace("GMT", "+0000");
const changelog = `${PACKAGE} (${version}) unstable; urgency=medium\n\n  * Built from commit ${execFileSync("git", ["-C", root, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()}; see the project's history.\n\n -- ${MAINTAINER}  ${date.replace(/^(\w+), 0?/, "$1, ")}\n`;
put(join(doc, "changelog.gz"), gz(changelog));
/** @type {[string, string][]} */
const MAN_PAGES = [
  [`${PACKAGE}.8`, "8"],
  [`${PACKAGE}.json.5`, "5"],
];
for (const [page, section] of MAN_PAGES)
  put(join(stage, `usr/share/man/man${section}`, `${page}.gz`), gz(readFileSync(join(root, "packaging/man", page))));

// Control files.
const control = join(stage, "DEBIAN");
/** The words the maintainer scripts and control.in are written with, from the one table. */
const words = {
  ...plugin,
  CONFIG_DIR: dirname(DEFAULT_CONFIG_PATH),
  BUNDLES_DIR: `${PACKAGE_ROOT}/${LAYOUT.bundles}`,
  WORDS: "@WORDS@",
  MAINTAINER,
  VERSION: version,
};
/** @param {string} template @param {Record<string, unknown>} [more] */
const filled = (template, more = {}) => fillIn(readFileSync(join(root, template), "utf8"), { ...words, ...more }, template);
for (const script of ["postinst", "prerm", "postrm"]) put(join(control, script), filled(`packaging/debian/${script}`), 0o755);
put(join(control, "conffiles"), `${DEFAULT_CONFIG_PATH}\n`);
/** @param {string} dir @returns {string[]} */
const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
  );
const payload = files(stage).filter((f) => !f.startsWith(control) && !f.includes(`/etc/`));
put(
  join(control, "md5sums"),
  payload
    .sort()
    .map((f) => `${createHash("md5").update(readFileSync(f)).digest("hex")}  ${relative(stage, f)}\n`)
    .join(""),
);
const kib = Math.ceil(files(stage).reduce((n, f) => n + statSync(f).size, 0) / 1024);
put(join(control, "control"), filled("packaging/debian/control.in", { INSTALLED_SIZE: String(kib) }));

// Reproducible: every directory and file at the commit's time, as dpkg-deb then records them.
/** @param {string} dir */
function stamp(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) stamp(p);
    if (!e.isSymbolicLink()) utimesSync(p, epoch, epoch);
  }
  chmodSync(dir, 0o755);
  utimesSync(dir, epoch, epoch);
}
stamp(stage);
const deb = join(root, "dist", `${PACKAGE}_${version}_all.deb`);
execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", stage, deb], {
  stdio: ["ignore", "ignore", "inherit"],
  env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
});
console.log(deb);
