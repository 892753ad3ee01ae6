// Fast non-cryptographic string hashing for scheduling: cyrb53 (public domain, by bryc) over a range of a string,
// seeded with a previous 53-bit hash so that block hashes chain. Returns a safe integer (53 bits), usable as a Map
// key without allocation. Hashes are local to one router process; they never leave it.

const TWO_32 = 4294967296;

/** Hash of `text[start, end)`, chained on `seed` (a previous result, or 0). */
export function hash53(text: string, start = 0, end = text.length, seed = 0): number {
  const seedLo = seed % TWO_32;
  const seedHi = Math.floor(seed / TWO_32);
  let h1 = 0xdeadbeef ^ seedLo;
  let h2 = 0x41c6ce57 ^ seedHi;
  for (let i = start; i < end; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return TWO_32 * (2097151 & h2) + (h1 >>> 0);
}

/** 32-bit hash (for hash rings). */
export function hash32(text: string): number {
  return hash53(text) % TWO_32;
}
