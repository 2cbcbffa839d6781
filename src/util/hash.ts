/**
 * Two 32-bit FNV-1a hashes (different offset bases) as 16 hex digits: enough to name a cache file
 * or a lock after a path, and far cheaper than loading node:crypto (~2 ms of a hook's start-up).
 */
export function shortHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}
