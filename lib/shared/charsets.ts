// Charset labels as mail clients read them, and RFC 2047 encoded-words decoded the way they do.
// A label is resolved through the WHATWG Encoding Standard's table first (libmime ships it:
// "latin1" and "iso-8859-1" mean windows-1252, "ks_c_5601-1987" means EUC-KR …), then through
// iconv's own aliases (iconv-lite: "437" and "IBM437" mean CP437, "850" CP850 …). libmime's
// own normaliser turns every bare number into "ISO-8859-<n>", so "437" decoded to U+FFFD.
import iconv from "iconv-lite";
import whatwgLabels from "libmime/lib/charsets";
import libmimeCharset from "libmime/lib/charset";

const JAPANESE = /^(jis|iso-?2022-?jp|csiso2022jp)/;
/** WHATWG names that iconv-lite spells otherwise */
const ICONV_SPELLING: Record<string, string> = {
  "x-mac-cyrillic": "maccyrillic",
  "x-mac-ukrainian": "macukraine",
  "x-mac-ce": "maccenteuro",
  "iso-10646-ucs-2": "ucs2",
  "x-unicode20utf8": "utf8",
  "iso-8859-8-i": "iso-8859-8",
};

/** A name iconv-lite (or, for ISO-2022-JP, encoding-japanese) decodes, or null for an unknown label. */
export function resolveCharset(label: string | null | undefined): string | null {
  let l = String(label ?? "").trim().replace(/^["']+|["']+$/g, "").trim().toLowerCase();
  l = l.replace(/\*.*$/, ""); // RFC 2231 language: "utf-8*en"
  if (!l) return null;
  const whatwg = (whatwgLabels as Record<string, string>)[l]?.toLowerCase();
  const candidates = [whatwg, l, l.replace(/^x-/, ""), l.replace(/_/g, "-"), /^\d+$/.test(l) ? `cp${l}` : undefined];
  for (const c of candidates) {
    if (!c) continue;
    if (JAPANESE.test(c)) return "iso-2022-jp";
    const name = ICONV_SPELLING[c] ?? c;
    if (name !== "x-user-defined" && iconv.encodingExists(name)) return name;
  }
  return null;
}

/** Bytes → text in the labelled charset; an unknown label is read as UTF-8 (as mailparser does). */
export function decodeBytes(bytes: Buffer, label: string | null | undefined): string {
  const name = resolveCharset(label) ?? "utf-8";
  if (name === "iso-2022-jp") return libmimeCharset.decode(bytes, name);
  return iconv.decode(bytes, name);
}

/** A decoding stream for a text part's charset (mailparser's body decoder). */
export function decodeStream(label: string | null | undefined): NodeJS.ReadWriteStream {
  return iconv.decodeStream(resolveCharset(label) ?? "utf-8");
}

const WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=/g;

/**
 * Decodes the encoded-words of a header value. Encoded-words separated only by white space are
 * one run (RFC 2047 §6.2: that space is not shown); within a run, adjacent words of the same
 * charset are joined as bytes before decoding — whatever their B/Q encoding — so a multi-byte
 * character split across two words comes out whole.
 */
export function decodeEncodedWords(value: string): string {
  let out = "";
  let last = 0;
  let run: { charset: string; bytes: Buffer[] } | null = null;
  const flush = () => {
    if (run) out += decodeBytes(Buffer.concat(run.bytes), run.charset);
    run = null;
  };
  for (const m of value.matchAll(WORD)) {
    const between = value.slice(last, m.index);
    if (!(run && /^\s*$/.test(between))) {
      flush();
      out += between;
    }
    const charset = m[1]!.replace(/\*.*$/, "");
    const bytes = m[2]!.toUpperCase() === "B" ? Buffer.from(m[3]!, "base64") : qBytes(m[3]!);
    const r = run as { charset: string; bytes: Buffer[] } | null;
    if (r && (resolveCharset(r.charset) ?? r.charset) === (resolveCharset(charset) ?? charset)) r.bytes.push(bytes);
    else {
      flush();
      run = { charset, bytes: [bytes] };
    }
    last = m.index! + m[0].length;
  }
  flush();
  return out + value.slice(last);
}

/** The Q encoding: "_" is a space, "=XX" a byte. */
function qBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const hex = c === "=" ? text.slice(i + 1, i + 3) : "";
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(c === "_" ? 0x20 : c.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}
