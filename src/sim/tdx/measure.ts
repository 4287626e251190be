/**
 * The TD measurement register MRTD. The real TDX module keeps a SHA-384 over TDH.MEM.PAGE.ADD and
 * TDH.MR.EXTEND records; this simulator folds the same records into a 64-bit FNV-1a digest: the same
 * inputs in the same order give the same value, a changed byte gives another — which is what a
 * lesson about measurement needs — but it is not SHA-384 and the UI says so.
 */
export class Measurement {
  private h = 0xcbf29ce484222325n;
  private static readonly PRIME = 0x100000001b3n;
  private static readonly MASK = 0xffffffffffffffffn;
  extends = 0;

  private byte(b: number): void {
    this.h = ((this.h ^ BigInt(b & 0xff)) * Measurement.PRIME) & Measurement.MASK;
  }

  /** A record: its tag, the GPA, and (for MR.EXTEND) 256 bytes of content. */
  record(tag: string, gpa: number, content?: Uint8Array): void {
    for (let i = 0; i < tag.length; i++) this.byte(tag.charCodeAt(i));
    let g = gpa;
    for (let i = 0; i < 8; i++) {
      this.byte(g % 256);
      g = Math.floor(g / 256);
    }
    if (content) {
      // Folding every byte through BigInt is slow; fold 32-bit words into a number hash first.
      let x = 0x811c9dc5;
      for (let i = 0; i < content.length; i++) x = Math.imul(x ^ content[i], 0x01000193);
      for (let i = 0; i < 4; i++) this.byte(x >>> (i * 8));
    }
    this.extends++;
  }

  get value(): string {
    return this.h.toString(16).padStart(16, '0');
  }
}
