// @ts-check
/**
 * How every QEMU of the demo, the benchmark, the tests and the code caches starts: TCG (the test's
 * choice, never the host's accident), nothing implicit.
 */
export const QEMU_TCG = ["-accel", "tcg", "-nodefaults", "-display", "none"];
