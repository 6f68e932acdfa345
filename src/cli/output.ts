// Results on stdout: `--json` prints the whole result once as JSON, with each long audio-code
// string written only at its first place (later copies point back to it); otherwise a short
// human summary.
const CODES = /^(<\|audio_code_\d+\|>){8,}/;

/** A copy of `value` where a repeated audio-code string becomes `"(same as <path>)"`. */
export function dedupeAudioCodes(value: unknown): unknown {
  const seen = new Map<string, string>();
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string' && CODES.test(v)) {
      const first = seen.get(v);
      if (first) return `(same as ${first})`;
      seen.set(v, path);
      return v;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    if (v && typeof v === 'object' && !ArrayBuffer.isView(v))
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, path ? `${path}.${k}` : k)]));
    return v;
  };
  return walk(value, '');
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(dedupeAudioCodes(value), null, 2)}\n`;
}

/** `key: value` lines for the non-empty fields of a result, long text indented below its key. */
export function summaryLines(fields: Record<string, unknown>): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === null || v === undefined || v === '') continue;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    out.push(s.includes('\n') ? `${k}:\n  ${s.split('\n').join('\n  ')}` : `${k}: ${s}`);
  }
  return `${out.join('\n')}\n`;
}
