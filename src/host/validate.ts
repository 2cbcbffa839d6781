import type { ErrorObject } from "ajv";
import { InputError } from "../errors.js";
import type { GeneratedValidator } from "../generated/validators.js";
import { builtin } from "./builtin.js";

/**
 * The same validators with verbose errors (scripts/gen-validators.mjs), for explaining a failure
 * only. In a hook bundle they are dist/validators-verbose.cjs next to it (__filename is the bundle);
 * run from the sources, the generated file itself.
 */
function verboseValidator(validate: GeneratedValidator): GeneratedValidator | undefined {
  const name = validate.exportName;
  if (name === undefined) return undefined;
  const inBundle = typeof __filename === "string";
  // node:module is loaded here, not at start-up: requiring it costs every hook run ~0.3 ms.
  const { createRequire } = builtin<typeof import("node:module")>("node:module");
  const load = createRequire(inBundle ? __filename : import.meta.url);
  const verbose = load(inBundle ? "./validators-verbose.cjs" : "../generated/validators-verbose.cjs") as Record<
    string,
    GeneratedValidator | undefined
  >;
  return verbose[name];
}

/** Short, single-line rendering of an offending value (control characters come out escaped). */
export function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `/3/0/0/uuid` → `$[3][0][0].uuid` */
export function jsonPath(pointer: string): string {
  const parts = pointer
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  return `$${parts.map((p) => (/^[0-9]+$/.test(p) ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_-]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`)).join("")}`;
}

/**
 * One line that names the field and what it allows. The error about the deepest field is the most
 * precise; among errors about one field, ajv lists an anyOf's branch errors before the anyOf
 * itself, so the last one describes the whole field.
 */
function describe(err: ErrorObject, name: (pointer: string) => string): string {
  const where = name(err.instancePath);
  const params = err.params as Record<string, unknown>;
  if (err.keyword === "required")
    return `${name(`${err.instancePath}/${String(params["missingProperty"])}`)}: required but missing`;
  if (err.keyword === "additionalProperties") return `${where}: unknown field ${preview(params["additionalProperty"])}`;
  if (err.keyword === "additionalItems" || err.keyword === "maxItems") return `${where}: ${err.message ?? "too many items"}`;
  const described = (err.parentSchema as { description?: unknown } | undefined)?.description;
  const allowed = typeof described === "string" ? `must be ${described}` : (err.message ?? "invalid");
  return `${where}: ${allowed} (got ${preview(err.data)})`;
}

/** Runs a generated validator; on failure throws an InputError whose message names the field. */
export function check<T>(validate: GeneratedValidator, data: unknown, code: string, name: (pointer: string) => string): T {
  if (validate(data)) return data as T;
  const explain = verboseValidator(validate) ?? validate;
  explain(data);
  // "if" errors only say that a "then"/"else" branch failed; that branch's own error says why.
  const errors = (explain.errors ?? []).filter((e) => e.keyword !== "if");
  const depth = (e: ErrorObject) => e.instancePath.split("/").length;
  const deepest = Math.max(...errors.map(depth));
  const best = errors.filter((e) => depth(e) === deepest).at(-1);
  throw new InputError(code, best ? describe(best, name) : "invalid input");
}
