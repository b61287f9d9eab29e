// BLAKE3 (the hash every object's checksum is), for uploads from the browser: the page hashes
// the bytes as it sends them, as the CLI does. Hashing mode only, 32-byte output.

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;
const CHUNK_LEN = 1024;
const BLOCK_LEN = 64;

// The message word each of the 7 rounds reads in each position (the permutation applied ahead).
const SCHEDULE = (() => {
  const permutation = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
  const rounds = [];
  let order = [...Array(16).keys()];
  for (let r = 0; r < 7; r++) {
    rounds.push(order);
    order = permutation.map((p) => order[p]);
  }
  return new Uint8Array(rounds.flat());
})();

const state = new Uint32Array(16);

// The compression function: `out` (8 or 16 words) gets the chaining value (or the output block).
function compress(cv, m, counter, blockLen, flags, out) {
  const s = state;
  s.set(cv, 0);
  s[8] = IV[0]; s[9] = IV[1]; s[10] = IV[2]; s[11] = IV[3];
  s[12] = counter >>> 0;
  s[13] = Math.floor(counter / 0x100000000) >>> 0;
  s[14] = blockLen;
  s[15] = flags;
  let s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], s4 = s[4], s5 = s[5], s6 = s[6], s7 = s[7];
  let s8 = s[8], s9 = s[9], s10 = s[10], s11 = s[11], s12 = s[12], s13 = s[13], s14 = s[14], s15 = s[15];
  for (let r = 0; r < 7; r++) {
    const o = r * 16;
    const S = SCHEDULE;
    // columns
    s0 = (s0 + s4 + m[S[o]]) | 0; s12 ^= s0; s12 = (s12 >>> 16) | (s12 << 16);
    s8 = (s8 + s12) | 0; s4 ^= s8; s4 = (s4 >>> 12) | (s4 << 20);
    s0 = (s0 + s4 + m[S[o + 1]]) | 0; s12 ^= s0; s12 = (s12 >>> 8) | (s12 << 24);
    s8 = (s8 + s12) | 0; s4 ^= s8; s4 = (s4 >>> 7) | (s4 << 25);

    s1 = (s1 + s5 + m[S[o + 2]]) | 0; s13 ^= s1; s13 = (s13 >>> 16) | (s13 << 16);
    s9 = (s9 + s13) | 0; s5 ^= s9; s5 = (s5 >>> 12) | (s5 << 20);
    s1 = (s1 + s5 + m[S[o + 3]]) | 0; s13 ^= s1; s13 = (s13 >>> 8) | (s13 << 24);
    s9 = (s9 + s13) | 0; s5 ^= s9; s5 = (s5 >>> 7) | (s5 << 25);

    s2 = (s2 + s6 + m[S[o + 4]]) | 0; s14 ^= s2; s14 = (s14 >>> 16) | (s14 << 16);
    s10 = (s10 + s14) | 0; s6 ^= s10; s6 = (s6 >>> 12) | (s6 << 20);
    s2 = (s2 + s6 + m[S[o + 5]]) | 0; s14 ^= s2; s14 = (s14 >>> 8) | (s14 << 24);
    s10 = (s10 + s14) | 0; s6 ^= s10; s6 = (s6 >>> 7) | (s6 << 25);

    s3 = (s3 + s7 + m[S[o + 6]]) | 0; s15 ^= s3; s15 = (s15 >>> 16) | (s15 << 16);
    s11 = (s11 + s15) | 0; s7 ^= s11; s7 = (s7 >>> 12) | (s7 << 20);
    s3 = (s3 + s7 + m[S[o + 7]]) | 0; s15 ^= s3; s15 = (s15 >>> 8) | (s15 << 24);
    s11 = (s11 + s15) | 0; s7 ^= s11; s7 = (s7 >>> 7) | (s7 << 25);
    // diagonals
    s0 = (s0 + s5 + m[S[o + 8]]) | 0; s15 ^= s0; s15 = (s15 >>> 16) | (s15 << 16);
    s10 = (s10 + s15) | 0; s5 ^= s10; s5 = (s5 >>> 12) | (s5 << 20);
    s0 = (s0 + s5 + m[S[o + 9]]) | 0; s15 ^= s0; s15 = (s15 >>> 8) | (s15 << 24);
    s10 = (s10 + s15) | 0; s5 ^= s10; s5 = (s5 >>> 7) | (s5 << 25);

    s1 = (s1 + s6 + m[S[o + 10]]) | 0; s12 ^= s1; s12 = (s12 >>> 16) | (s12 << 16);
    s11 = (s11 + s12) | 0; s6 ^= s11; s6 = (s6 >>> 12) | (s6 << 20);
    s1 = (s1 + s6 + m[S[o + 11]]) | 0; s12 ^= s1; s12 = (s12 >>> 8) | (s12 << 24);
    s11 = (s11 + s12) | 0; s6 ^= s11; s6 = (s6 >>> 7) | (s6 << 25);

    s2 = (s2 + s7 + m[S[o + 12]]) | 0; s13 ^= s2; s13 = (s13 >>> 16) | (s13 << 16);
    s8 = (s8 + s13) | 0; s7 ^= s8; s7 = (s7 >>> 12) | (s7 << 20);
    s2 = (s2 + s7 + m[S[o + 13]]) | 0; s13 ^= s2; s13 = (s13 >>> 8) | (s13 << 24);
    s8 = (s8 + s13) | 0; s7 ^= s8; s7 = (s7 >>> 7) | (s7 << 25);

    s3 = (s3 + s4 + m[S[o + 14]]) | 0; s14 ^= s3; s14 = (s14 >>> 16) | (s14 << 16);
    s9 = (s9 + s14) | 0; s4 ^= s9; s4 = (s4 >>> 12) | (s4 << 20);
    s3 = (s3 + s4 + m[S[o + 15]]) | 0; s14 ^= s3; s14 = (s14 >>> 8) | (s14 << 24);
    s9 = (s9 + s14) | 0; s4 ^= s9; s4 = (s4 >>> 7) | (s4 << 25);
  }
  out[0] = s0 ^ s8; out[1] = s1 ^ s9; out[2] = s2 ^ s10; out[3] = s3 ^ s11;
  out[4] = s4 ^ s12; out[5] = s5 ^ s13; out[6] = s6 ^ s14; out[7] = s7 ^ s15;
  if (out.length === 16) {
    out[8] = s8 ^ cv[0]; out[9] = s9 ^ cv[1]; out[10] = s10 ^ cv[2]; out[11] = s11 ^ cv[3];
    out[12] = s12 ^ cv[4]; out[13] = s13 ^ cv[5]; out[14] = s14 ^ cv[6]; out[15] = s15 ^ cv[7];
  }
}

function readWords(bytes, offset, words) {
  for (let i = 0; i < 16; i++) {
    const p = offset + i * 4;
    words[i] = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24);
  }
}

export class Blake3 {
  constructor() {
    this.cv = new Uint32Array(IV);
    this.chunkCounter = 0;
    this.block = new Uint8Array(BLOCK_LEN);
    this.blockLen = 0;
    this.blocksCompressed = 0;
    this.words = new Uint32Array(16);
    this.stack = [];
  }

  chunkLen() {
    return this.blocksCompressed * BLOCK_LEN + this.blockLen;
  }

  startFlag() {
    return this.blocksCompressed === 0 ? CHUNK_START : 0;
  }

  // Adds the bytes of `input` (a Uint8Array).
  update(input) {
    let i = 0;
    const n = input.length;
    while (i < n) {
      if (this.chunkLen() === CHUNK_LEN) {
        this.finishChunk();
      }
      // A whole block straight from the input when nothing is buffered and more follows.
      if (this.blockLen === 0 && n - i > BLOCK_LEN && this.chunkLen() + BLOCK_LEN < CHUNK_LEN) {
        readWords(input, i, this.words);
        compress(this.cv, this.words, this.chunkCounter, BLOCK_LEN, this.startFlag(), this.cv);
        this.blocksCompressed++;
        i += BLOCK_LEN;
        continue;
      }
      if (this.blockLen === BLOCK_LEN) {
        readWords(this.block, 0, this.words);
        compress(this.cv, this.words, this.chunkCounter, BLOCK_LEN, this.startFlag(), this.cv);
        this.blocksCompressed++;
        this.blockLen = 0;
        this.block.fill(0);
      }
      const take = Math.min(BLOCK_LEN - this.blockLen, n - i);
      this.block.set(input.subarray(i, i + take), this.blockLen);
      this.blockLen += take;
      i += take;
    }
    return this;
  }

  // The chunk's last block, compressed into its chaining value, and a fresh chunk begun.
  finishChunk() {
    readWords(this.block, 0, this.words);
    const out = new Uint32Array(8);
    compress(this.cv, this.words, this.chunkCounter, this.blockLen, this.startFlag() | CHUNK_END, out);
    let cv = out;
    let total = this.chunkCounter + 1;
    while ((total & 1) === 0) {
      cv = parentCv(this.stack.pop(), cv);
      total = Math.floor(total / 2);
    }
    this.stack.push(cv);
    this.chunkCounter++;
    this.cv = new Uint32Array(IV);
    this.block.fill(0);
    this.blockLen = 0;
    this.blocksCompressed = 0;
  }

  // The hash as 64 lowercase hex digits.
  hex() {
    readWords(this.block, 0, this.words);
    let cv = new Uint32Array(this.cv);
    let words = new Uint32Array(this.words);
    let counter = this.chunkCounter;
    let blockLen = this.blockLen;
    let flags = this.startFlag() | CHUNK_END;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const right = new Uint32Array(8);
      compress(cv, words, counter, blockLen, flags, right);
      words = new Uint32Array(16);
      words.set(this.stack[i], 0);
      words.set(right, 8);
      cv = new Uint32Array(IV);
      counter = 0;
      blockLen = BLOCK_LEN;
      flags = PARENT;
    }
    const out = new Uint32Array(8);
    compress(cv, words, counter, blockLen, flags | ROOT, out);
    let text = '';
    for (const word of out) {
      for (let b = 0; b < 4; b++) {
        text += ((word >>> (8 * b)) & 0xff).toString(16).padStart(2, '0');
      }
    }
    return text;
  }
}

function parentCv(left, right) {
  const words = new Uint32Array(16);
  words.set(left, 0);
  words.set(right, 8);
  const out = new Uint32Array(8);
  compress(IV, words, 0, BLOCK_LEN, PARENT, out);
  return out;
}

export function blake3Hex(bytes) {
  return new Blake3().update(bytes).hex();
}
