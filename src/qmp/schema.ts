import type { QmpClient } from "./client.js";

interface SchemaEntry {
  name: string;
  "meta-type": string;
  values?: string[];
  members?: { name: string }[];
}

/** What QEMU's introspection says about the features that change our decisions. */
export interface SchemaFacts {
  /** The aio enum has io_uring: QEMU was built with it (whether the kernel allows it is another matter). */
  ioUring: boolean;
}

/**
 * Reads query-qmp-schema (~150 KB, so only when a decision needs it). Type names are numbered in
 * the introspection, so the aio enum is found by its values, not its name.
 */
export async function schemaFacts(qmp: QmpClient): Promise<SchemaFacts> {
  const schema = await qmp.execute<SchemaEntry[]>("query-qmp-schema");
  const enumMembers = (e: SchemaEntry) => e.values ?? e.members?.map((m) => m.name) ?? [];
  return {
    ioUring: schema.some(
      (e) => e["meta-type"] === "enum" && ["threads", "native", "io_uring"].every((v) => enumMembers(e).includes(v)),
    ),
  };
}
